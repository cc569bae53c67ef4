"""Training checkpoints: everything needed to resume exactly, as safetensors + JSON, each file atomic.

Files in the model folder, written in this order so a crash at any point is detected on resume:
  state.safetensors  optimiser moments, discriminator(s), augmentation RNG state
  state.json         step, optimiser scalars/param groups, sha256 of state.safetensors
  model.safetensors  network weights (what convert loads)
  model.json         architecture, data it was trained on, step, sha256 of model.safetensors (written last)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import ModelError
from ..models.store import (
    MODEL_JSON, SCHEMA_VERSION, WEIGHTS, atomic_write_bytes, atomic_write_json, load_weights, read_manifest,
    save_weights, sha256_hex,
)

STATE = "state.safetensors"
STATE_JSON = "state.json"


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Move the optimiser's tensors into `tensors` under `prefix`; return the JSON-able rest."""
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}.{idx}.{key}"] = val.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return {"param_groups": sd["param_groups"], "scalars": scalars, "indices": [int(i) for i in sd["state"]]}


def _restore_optimizer(prefix: str, opt: torch.optim.Optimizer, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for idx in meta["indices"]:
        entry = dict(meta["scalars"].get(str(idx), {}))
        pre = f"{prefix}.{idx}."
        entry.update({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)})
        state[idx] = entry
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


@dataclass
class TrainingState:
    """The live objects a checkpoint saves and restores."""

    net: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    disc: torch.nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None


def save_checkpoint(model_dir: Path, state: TrainingState, step: int, manifest: dict[str, Any]) -> str:
    """Write the full checkpoint (see module doc); returns the weights' sha256."""
    tensors: dict[str, torch.Tensor] = {"rng.augment": state.gen.get_state()}
    meta: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "step": step}
    meta["opt"] = _flatten_optimizer("opt", state.opt, tensors)
    if state.disc is not None and state.opt_d is not None:
        tensors.update({f"disc.{k}": v.detach().cpu().float().contiguous() for k, v in state.disc.state_dict().items()})
        meta["opt_d"] = _flatten_optimizer("opt_d", state.opt_d, tensors)
    data = st_save(tensors)
    atomic_write_bytes(model_dir / STATE, data)
    meta["state_sha256"] = sha256_hex(data)
    atomic_write_json(model_dir / STATE_JSON, meta)
    digest = save_weights(state.net, model_dir / WEIGHTS)
    atomic_write_json(model_dir / MODEL_JSON, {**manifest, "schema_version": SCHEMA_VERSION, "step": step, "weights_sha256": digest})
    return digest


def load_checkpoint(model_dir: Path, state: TrainingState) -> int:
    """Restore weights, optimiser(s), discriminator and RNG in place; return the step to continue from."""
    manifest = read_manifest(model_dir)
    try:
        meta = json.loads((model_dir / STATE_JSON).read_text())
        data = (model_dir / STATE).read_bytes()
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{model_dir} has no usable training state ({e}); it can be converted with but not resumed") from None
    if meta.get("step") != manifest.get("step") or meta.get("state_sha256") != sha256_hex(data):
        raise ModelError(
            f"{model_dir}: the training state and the weights are from different steps (a save was interrupted); "
            "restore the folder from a backup or train into a new folder"
        )
    digest = load_weights(state.net, model_dir / WEIGHTS)
    if digest != manifest.get("weights_sha256"):
        raise ModelError(f"{model_dir / WEIGHTS} does not match {MODEL_JSON}; a save was interrupted or the file was replaced")
    tensors = st_load(data)
    _restore_optimizer("opt", state.opt, meta["opt"], tensors)
    state.gen.set_state(tensors["rng.augment"])
    if state.disc is not None and state.opt_d is not None and "opt_d" in meta:
        state.disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
        _restore_optimizer("opt_d", state.opt_d, meta["opt_d"], tensors)
    return int(meta["step"])
