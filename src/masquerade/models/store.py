"""A model folder on disk: weights (safetensors), `model.json` (architecture + hyper-parameters + data), and
`SwapModel`, the eval-mode face renderer convert uses.

Layout: `model.json` names the architecture and its config, the alignment template, coverage and crop size
the model was trained on, the face sets it has seen and the sha256 of `model.safetensors`. Convert rebuilds
the network from the folder alone. No pickle anywhere: safetensors for tensors, JSON for the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..atomic import write_bytes, write_json
from ..errors import ModelError, ModelMismatchError
from .base import FaceAutoencoder

SCHEMA_VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS = "model.safetensors"
DIRECTIONS = {"a2b": "b", "b2a": "a", "a2a": "a", "b2b": "b"}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is not there is a ModelError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("--device mps was asked for but MPS is not available; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ModelError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Checkpoint writes: atomic and fsynced, so a crash or power cut never leaves half a model."""
    write_bytes(path, data, durable=True)


def atomic_write_json(path: Path, obj: Any) -> None:
    write_json(path, obj, sort_keys=True, durable=True)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weights_bytes(module: torch.nn.Module) -> bytes:
    """The module's weights as safetensors bytes (fp32, contiguous, on CPU): what the weights file holds."""
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in module.state_dict().items()}
    return st_save(state, metadata={"format": "pt"})


def save_weights(module: torch.nn.Module, path: Path) -> str:
    """Write the weights atomically; return their sha256 (the model hash provenance records)."""
    data = weights_bytes(module)
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def load_weights(module: torch.nn.Module, path: Path) -> str:
    """Load safetensors weights into `module` (strict); return the file's sha256."""
    try:
        data = Path(path).read_bytes()
        state = st_load(data)
    except FileNotFoundError:
        raise ModelError(f"{path} is missing; the model folder is incomplete (train it again or restore the file)") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"{path} is not a readable safetensors file ({e}); restore it or retrain") from None
    missing, unexpected = set(module.state_dict()) - set(state), set(state) - set(module.state_dict())
    if missing or unexpected:
        raise ModelMismatchError(
            f"{path} does not fit the architecture in {MODEL_JSON} "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors); the folder was mixed up"
        )
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise ModelMismatchError(f"{path} has tensors of the wrong shape for its {MODEL_JSON}: {e}") from None
    return sha256_hex(data)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / MODEL_JSON
    if not path.is_file():
        raise ModelError(f"{model_dir} is not a model folder (no {MODEL_JSON}); train one with `masquerade train`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path} is unreadable ({e}); restore it or retrain") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ModelError(f"{path} has schema_version {manifest.get('schema_version')!r}; this masquerade reads {SCHEMA_VERSION}")
    return manifest


@dataclass(frozen=True)
class ModelInfo:
    """What convert needs to know about a model: which crops it takes and how to rebuild it."""

    architecture: str
    size: int
    template: str
    coverage: str


class SwapModel:
    """A trained model in eval mode: renders aligned faces as either identity. No gradients, no training state."""

    def __init__(self, net: FaceAutoencoder, config: ModelInfo, hash: str, device: torch.device):
        self.net, self.config, self.hash, self.device = net.eval().to(device), config, hash, device

    @torch.no_grad()
    def swap(self, faces: torch.Tensor, direction: str = "a2b", chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """faces: float N×3×S×S in [0, 1] → (face N×3×S×S, mask N×1×S×S), float32 on the input's device."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        s = self.config.size
        if faces.ndim != 4 or faces.shape[1] != 3 or faces.shape[2:] != (s, s):
            raise ModelMismatchError(f"this model takes N×3×{s}×{s} faces, got {tuple(faces.shape)}; align crops at {s} px")
        out_f, out_m = [], []
        for part in faces.split(chunk):
            f, m = self.net.render(part.to(self.device, torch.float32), DIRECTIONS[direction])
            out_f.append(f.float().to(faces.device))
            out_m.append(m.float().to(faces.device))
        return torch.cat(out_f), torch.cat(out_m)


def load_model(model_dir: str | os.PathLike, device: str = "auto") -> SwapModel:
    """Rebuild a trained model from its folder alone (no flags) and put it in eval mode on `device`."""
    from . import build_model

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    try:
        net = build_model(manifest["architecture"], manifest["arch_config"])
        info = ModelInfo(manifest["architecture"], int(manifest["size"]), manifest["template"], manifest["coverage"])
    except (KeyError, ValueError, TypeError) as e:
        raise ModelError(f"{model_dir / MODEL_JSON} does not describe a known model ({e}); retrain it") from None
    digest = load_weights(net, model_dir / WEIGHTS)
    if manifest.get("weights_sha256") not in (None, digest):
        raise ModelError(f"{model_dir / WEIGHTS} does not match the hash in {MODEL_JSON}; the folder was changed by hand")
    return SwapModel(net, info, digest, resolve_device(device))
