"""A small second network saved beside a swap model (an identity upscaler, the occlusion mask net).

One layout for all of them, in a subfolder of the model folder: `<stem>-<sha12>.safetensors` (the weights)
and `<stem>.json` (schema_version, kind, config, the weights' file name and sha256, the training record).
The weights are written first and the JSON last: the JSON is the commit point, so a reader never pairs a
new JSON with old weights; older weights of the same stem (ours) are removed afterwards.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_bytes, write_json
from ..errors import ModelError


def save_sidecar(folder: Path, name: str, net: torch.nn.Module, header: dict[str, Any], info: dict[str, Any]) -> Path:
    """Write `net`'s weights, then `name`.json with `header` (schema_version, kind, ...), its config and `info`."""
    from .store import sha256_hex, weights_bytes

    data = weights_bytes(net)
    digest = sha256_hex(data)
    weights = f"{name}-{digest[:12]}.safetensors"
    write_bytes(folder / weights, data, durable=True)
    manifest = {**header, "config": dataclasses.asdict(net.config), "weights": weights, "weights_sha256": digest, **info}
    path = write_json(folder / f"{name}.json", manifest, sort_keys=True, durable=True)
    for old in folder.glob(f"{name}-*.safetensors"):
        if old.name != weights:
            old.unlink(missing_ok=True)
    return path


def read_sidecar(path: Path, config_class: type, schema: int, kind: str, what: str, redo: str
                 ) -> tuple[dict[str, Any], bytes]:
    """(manifest, weights bytes) of the JSON at `path`, checked: readable, its config valid for `config_class`,
    this `schema` and `kind`, weights present and matching their hash. Errors name `what` ("an upscaler")
    and say `redo` ("retrain the upscaler")."""
    from .store import sha256_hex

    try:
        manifest = json.loads(path.read_text())
        config_class(**manifest["config"])
        data = (path.parent / manifest["weights"]).read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path} names weights that are missing; {redo}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path} is unreadable ({e}); {redo}") from None
    if manifest.get("schema_version") != schema or manifest.get("kind") != kind:
        raise ModelError(f"{path} is not {what} this Masquerade reads (schema {manifest.get('schema_version')!r})")
    if sha256_hex(data) != manifest.get("weights_sha256"):
        raise ModelError(f"{path.parent / manifest['weights']} does not match its hash; {redo}")
    return manifest, data
