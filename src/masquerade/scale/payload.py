"""Ship a model to Ray workers once: its weights go into the object store, each worker rebuilds it once.

Why bytes, not the module: a model folder's safetensors bytes plus its `model.json` are what `load_model`
reads, so a worker rebuilds exactly the network the driver would, with no pickled code. Tasks receive the
object reference wrapped in a list (Ray does not resolve it), so a worker that already holds the model
never even copies the bytes again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models.manifest import ModelManifest

_CACHE: dict[str, Any] = {}  # per worker process: the last model built, by key


@dataclass(frozen=True)
class ModelBytes:
    """A model folder in memory: its manifest and its weights file."""

    manifest: ModelManifest
    weights: bytes
    hash: str

    def build(self, device: str) -> Any:
        from safetensors.torch import load as st_load

        from ..models import SwapModel, resolve_device
        from ..models.store import build_net

        net = build_net(self.manifest)
        net.load_state_dict(st_load(self.weights))
        return SwapModel(net, self.manifest, self.hash, resolve_device(device))


@dataclass(frozen=True)
class ModelHandle:
    """What tasks receive: a cache key, the model's hash (for provenance) and `[ObjectRef]`."""

    key: str
    hash: str
    ref: list


def put_model(ray: Any, model: Any) -> ModelHandle:
    """Put a model folder's bytes (checked like `load_model` would) or a loaded model object in the store."""
    from ..convert import open_model

    if isinstance(model, (str, Path)):
        from ..errors import ModelError
        from ..models.store import find_snapshot, sha256_hex

        snap = find_snapshot(Path(model))  # the newest complete snapshot, as `load_model` would take
        _check_template(snap.manifest.template)
        try:
            weights = snap.weights.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"{snap.weights} is missing; the model folder is incomplete") from None
        digest = sha256_hex(weights)
        if snap.manifest.weights_sha256 not in (None, digest):
            raise ModelError(f"{snap.weights} changed while it was being read; run the command again")
        return ModelHandle(f"bytes:{digest}", digest, [ray.put(ModelBytes(snap.manifest, weights, digest))])
    model = open_model(model, "cpu")
    return ModelHandle(f"object:{uuid.uuid4().hex}", model.hash, [ray.put(model)])


def check_model(model: Any) -> None:
    """Refuse a missing or mismatched model folder before any cluster starts (cheap: reads model.json)."""
    if isinstance(model, (str, Path)):
        from ..models.store import read_manifest

        _check_template(read_manifest(Path(model)).template)


def _check_template(template: str | None) -> None:
    """The check `convert` makes when it loads a model, made on the driver before any task starts."""
    from ..faces.align import get_template

    if template is not None:
        get_template(template)  # ModelMismatchError for one this Masquerade cannot align with


def get_model(handle: ModelHandle, device: str) -> Any:
    """In a worker: the model for `handle`, built at most once per worker process."""
    import ray

    key = f"{handle.key}@{device}"
    if key not in _CACHE:
        _CACHE.clear()  # one model per worker: a new job's model replaces the last one
        value = ray.get(handle.ref[0])
        _CACHE[key] = value.build(device) if isinstance(value, ModelBytes) else value
    return _CACHE[key]
