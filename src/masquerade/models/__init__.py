"""Autoencoder architectures by name, and loading a trained model for convert.

Adding an architecture is one new file and one line in `ARCHITECTURES`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .base import ArchConfig, FaceAutoencoder, model_cost
from .hd import HD, HDConfig
from .lite import Lite, LiteConfig
from .original import Original, OriginalConfig

ARCHITECTURES: dict[str, type[FaceAutoencoder]] = {
    "original": Original,
    "hd": HD,
    "lite": Lite,
}


def architecture(name: str) -> type[FaceAutoencoder]:
    """The class registered under `name`; a ValueError listing the choices otherwise."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def make_config(name: str, values: dict[str, Any] | None = None) -> ArchConfig:
    """An architecture's config from saved or user values; unknown keys are an error, not silently dropped."""
    cls = architecture(name).config_class
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"model {name!r} has no setting(s) {', '.join(unknown)}; it has {', '.join(sorted(known))}")
    return cls(**values)


def build_model(name: str, config: ArchConfig | dict[str, Any] | None = None) -> FaceAutoencoder:
    """A freshly initialised network of architecture `name`."""
    cfg = config if isinstance(config, ArchConfig) else make_config(name, config)
    return architecture(name)(cfg)


from .store import ModelInfo, SwapModel, load_model, resolve_device  # noqa: E402  (store needs the registry)

__all__ = [
    "ARCHITECTURES", "ArchConfig", "FaceAutoencoder", "HD", "HDConfig", "Lite", "LiteConfig", "ModelInfo",
    "Original", "OriginalConfig", "SwapModel", "architecture", "build_model", "load_model", "make_config",
    "model_cost", "resolve_device",
]
