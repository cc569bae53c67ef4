"""Autoencoder architectures by name, and loading a trained model for convert.

Adding an architecture is one new file and one line in `CATALOGUE`. A line names the class and says, without
importing torch, what `masquerade train --help` shows about it (tests/test_options.py checks the figures
against the built network); the class and everything else here load on first use.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..lazy import exports
from ..options import check

if TYPE_CHECKING:
    from .base import ArchConfig, FaceAutoencoder


@dataclass(frozen=True)
class Arch:
    """One registry line: where the class is, and its one-line description for `train --help`."""

    where: str  # "module:Class" under masquerade.models
    about: str  # what it is for
    params_m: float  # parameters, millions (default settings)
    gflop_train: float  # GFLOP per sample of a training step (forward + backward), default settings

    def load(self) -> type[FaceAutoencoder]:
        module, cls = self.where.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)

    def line(self, name: str) -> str:
        return f"{name}: {self.about} ({self.params_m:.1f} M parameters, {self.gflop_train:.3g} GFLOP per training sample)"


CATALOGUE: dict[str, Arch] = {
    "original": Arch("original:Original", "64 px, the classic deepfake network", 82.1, 11.4),
    "hd": Arch("hd:HD", "128 px, residual decoders, df/liae variants, follows the source's expression; a GPU "
                        "model", 58.9, 167),
    "lite": Arch("lite:Lite", "64 px, small and fast, for short CPU budgets (the demo); follows the source's "
                              "expression (its decoders read mouth, eyes and head turn)", 5.5, 0.967),
}


class _Classes(Mapping):
    """name -> architecture class, imported when first looked up (membership and names need no torch)."""

    def __getitem__(self, name: str) -> type[FaceAutoencoder]:
        return CATALOGUE[name].load()

    def __iter__(self) -> Iterator[str]:
        return iter(CATALOGUE)

    def __len__(self) -> int:
        return len(CATALOGUE)

    def __contains__(self, name: object) -> bool:
        return name in CATALOGUE


ARCHITECTURES: Mapping[str, type[FaceAutoencoder]] = _Classes()


def architecture(name: str) -> type[FaceAutoencoder]:
    """The class registered under `name`; a ValueError listing the choices otherwise."""
    if name not in CATALOGUE:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(CATALOGUE)}")
    return ARCHITECTURES[name]


def make_config(name: str, values: dict[str, Any] | None = None) -> ArchConfig:
    """An architecture's config from saved or user values; unknown keys are an error, not silently dropped."""
    cls = architecture(name).config_class
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"model {name!r} has no setting(s) {', '.join(unknown)}; it has {', '.join(sorted(known))}")
    for f in dataclasses.fields(cls):  # values from --arch-option, a TOML file or the UI: the default's type
        want, value = type(f.default), values.get(f.name, f.default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            values[f.name] = float(value)
        elif want in _KIND_WORDS and type(value) is not want:
            raise ValueError(f"model {name!r} setting {f.name} must be {_KIND_WORDS[want]}, not {value!r}")
    config = cls(**values)
    check(config, ValueError)  # ranges and choices, where the config declares them with masquerade.options.opt
    return config


_KIND_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def saved_config(name: str, values: dict[str, Any]) -> ArchConfig:
    """An architecture's config as a model folder saved it. A setting added after that model was saved takes
    the value that rebuilds the network it saved (the config class's `legacy`), not today's default, so every
    model ever trained keeps loading, resuming and warm-starting."""
    cls = architecture(name).config_class
    return make_config(name, {**getattr(cls, "legacy", {}), **dict(values)})


def build_model(name: str, config: ArchConfig | dict[str, Any] | None = None) -> FaceAutoencoder:
    """A freshly initialised network of architecture `name`."""
    from .base import ArchConfig

    cfg = config if isinstance(config, ArchConfig) else make_config(name, config)
    return architecture(name)(cfg)


_LAZY = {"ArchConfig": "base", "FaceAutoencoder": "base", "model_cost": "base", "HD": "hd", "HDConfig": "hd",
         "Lite": "lite", "LiteConfig": "lite", "Original": "original", "OriginalConfig": "original",
         "ModelManifest": "manifest", "UpscalerManifest": "manifest",
         "ModelInfo": "store", "SwapModel": "store", "load_model": "store", "resolve_device": "store"}


__getattr__ = exports(__name__, _LAZY)  # the torch-backed names load on first use: `import masquerade.models` stays cheap


__all__ = [
    "ARCHITECTURES", "CATALOGUE", "Arch", "ArchConfig", "FaceAutoencoder", "HD", "HDConfig", "Lite", "LiteConfig",
    "ModelInfo", "ModelManifest", "Original", "OriginalConfig", "SwapModel", "UpscalerManifest", "architecture",
    "build_model", "load_model", "make_config", "model_cost", "resolve_device", "saved_config",
]
