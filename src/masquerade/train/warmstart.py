"""`--init-from MODEL_DIR`: a new model starts from a trained one's shared encoder and bottleneck.

Why: the encoder and bottleneck learn what faces are in general (pose, light, expression), which any pair
shares; only the decoders are one person's. DeepFaceLab users keep a "pretrained" model for this reason and
reach a usable swap in a fraction of the steps. The decoders are copied too only when asked: a decoder
renders its old identity, and unlearning it can cost more than learning the new one from scratch.

The source is read only through `models.store` (`find_snapshot`, `load_model`), so a damaged newest snapshot
falls back as everywhere else. It must be the same architecture with the same settings (a shape mismatch
would otherwise fail deep inside torch); a resumed folder keeps its own weights and ignores the flag.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelMismatchError

# Copied only with --init-decoders: the per-identity decoders (SharedEncoderNet), LIAE's single decoder, and
# LIAE's private bottlenecks (`inter_a` in lite, `inter_b` in hd), which encode one old identity too, and the
# decoders' expression maps. (The expression baselines are the new pair's own: training fits them afresh.)
DECODER_PREFIXES = ("decoders.", "decoder.", "inter_a.", "inter_b.", "expression_maps.", "shared_expression_map.")


@dataclass(frozen=True)
class WarmStart:
    source: Path
    weights: dict[str, torch.Tensor]  # the source's parameters and buffers (CPU)
    hash: str  # sha256 of the source snapshot's weights, recorded in the new model's manifest
    decoders: bool
    note: str | None = None  # the source fell back to an older snapshot

    def record(self) -> dict[str, Any]:
        return {"model": str(self.source), "weights_sha256": self.hash, "decoders": self.decoders}


def source_settings(source: str | Path) -> tuple[str, dict[str, Any]]:
    """Architecture name and settings of the model to start from (a new folder without --model takes them)."""
    from ..models.store import find_snapshot

    from ..models import saved_config

    manifest = find_snapshot(source).manifest
    return manifest.architecture, dataclasses.asdict(saved_config(manifest.architecture, manifest.arch_config))


def load_warm_start(source: str | Path, name: str, arch: Any, decoders: bool) -> WarmStart:
    """Load the source model and check it fits: same architecture, same settings (size included)."""
    from ..models.store import load_model

    model = load_model(source, device="cpu")
    mine, theirs = dataclasses.asdict(arch), dataclasses.asdict(model.net.config)
    if model.config.architecture != name:
        raise ModelMismatchError(f"--init-from {source} holds a {model.config.architecture!r} model but this run "
                                 f"trains {name!r}; pass --model {model.config.architecture} or start from a {name!r} model")
    diff = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    if diff:
        what = ", ".join(f"{k} {theirs.get(k)!r} vs {mine.get(k)!r}" for k in diff)
        raise ModelMismatchError(f"--init-from {source} has different {name} settings ({what}); "
                                 "leave out --model options to take the source's, or start from a matching model")
    weights = {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()}
    return WarmStart(Path(source), weights, model.hash, decoders, model.note)


def apply_warm_start(net: torch.nn.Module, warm: WarmStart) -> list[str]:
    """Copy the shared parts (and the decoders when asked) into `net` in place; returns the keys copied."""
    keys = [k for k in warm.weights if warm.decoders or not k.startswith(DECODER_PREFIXES)]
    net.load_state_dict({k: warm.weights[k] for k in keys}, strict=False)
    return keys
