"""Training state as bytes: everything besides the weights that resuming exactly needs.

`pack_state` turns the live optimiser(s), discriminator and augmentation RNG into safetensors bytes plus a
JSON-able record (step, optimiser scalars and param groups, the learning-rate scale the divergence guard
has applied); `unpack_state` puts them back in place. Where those bytes live on disk (one snapshot folder
per save) is `snapshots.py`'s business. No pickle: tensors in safetensors, the rest in JSON.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..models.store import SCHEMA_VERSION


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
    _match_layouts(opt)


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give each restored state tensor its parameter's memory layout. Snapshots store them contiguous, but a
    channels-last run (bf16 on a CPU, any GPU run) holds channels-last weights, and the fused Adam step pairs
    a weight with its moments element for element in memory: restored contiguous, a 4-D weight's moments
    were read in the wrong order after a resume, and the run drifted from the uninterrupted one."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


@dataclass
class TrainingState:
    """The live objects a snapshot saves and restores (besides the weights of `net`, saved on their own)."""

    net: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    disc: torch.nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None

    def modules(self) -> list[torch.nn.Module]:
        return [m for m in (self.net, self.disc) if m is not None]


def clone_tree(obj: Any) -> Any:
    """A copy of a (nested) state dict with every tensor cloned where it lies (on the training device): it
    shares no memory with the live tensors, so the run can go on updating them while the copy is kept (the
    guard's last good state) or written in the background (a snapshot)."""
    if torch.is_tensor(obj):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: clone_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clone_tree(v) for v in obj)
    return copy.deepcopy(obj)


class _Held:
    """A cloned state dict that answers `state_dict()` like the module or optimiser it was taken from."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state


class _HeldGenerator:
    """A random generator's state, answering `get_state()` like the generator (a copy: it cannot draw)."""

    def __init__(self, state: torch.Tensor):
        self._state = state

    def get_state(self) -> torch.Tensor:
        return self._state


def held_copy(obj: torch.nn.Module | torch.optim.Optimizer) -> Any:
    """A module's or optimiser's state as it is now, cloned on its device, answering `state_dict()` like the
    live object (so `weights_bytes` and `pack_state` read either)."""
    return _Held(clone_tree(obj.state_dict()))


def copy_state(state: TrainingState) -> TrainingState:
    """The training state as it is now, cloned on its device, in the shape `pack_state` and `weights_bytes`
    read (`state_dict()` / `get_state()`): what a snapshot written later, in the background, must hold
    however far training has moved on by then. Taken on the training thread, between two steps."""
    def held(obj: Any) -> Any:
        return None if obj is None else held_copy(obj)

    return TrainingState(held(state.net), held(state.opt), _HeldGenerator(state.gen.get_state()),  # type: ignore[arg-type]
                         held(state.disc), held(state.opt_d))


def pack_state(state: TrainingState, step: int, extra: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """(safetensors bytes, JSON record) of the optimiser(s), discriminator and RNG at `step`."""
    tensors: dict[str, torch.Tensor] = {"rng.augment": state.gen.get_state()}
    meta: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "step": step, **(extra or {})}
    meta["opt"] = _flatten_optimizer("opt", state.opt, tensors)
    if state.disc is not None and state.opt_d is not None:
        tensors.update({f"disc.{k}": v.detach().cpu().float().contiguous() for k, v in state.disc.state_dict().items()})
        meta["opt_d"] = _flatten_optimizer("opt_d", state.opt_d, tensors)
    return st_save(tensors), meta


def unpack_state(state: TrainingState, meta: dict[str, Any], data: bytes) -> None:
    """Restore what `pack_state` saved, in place (the weights are loaded separately)."""
    tensors = st_load(data)
    _restore_optimizer("opt", state.opt, meta["opt"], tensors)
    state.gen.set_state(tensors["rng.augment"])
    if state.disc is not None and state.opt_d is not None and "opt_d" in meta:
        state.disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
        _restore_optimizer("opt_d", state.opt_d, meta["opt_d"], tensors)
