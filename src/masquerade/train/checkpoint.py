"""Training state as bytes: everything besides the weights that resuming exactly needs.

`pack_state` turns the live optimiser(s), discriminator and augmentation RNG into safetensors bytes plus a
JSON-able record (step, optimiser scalars and param groups, the learning-rate scale the divergence guard
has applied); `unpack_state` puts them back in place. Where those bytes live on disk (one snapshot folder
per save) is `snapshots.py`'s business. No pickle: tensors in safetensors, the rest in JSON.
"""

from __future__ import annotations

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
