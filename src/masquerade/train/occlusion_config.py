"""Settings of the occlusion-mask training (`masquerade train-mask`, and the part of `masquerade train` that
trains the mask net first), each declared once: the flags, `--config FILE.toml`'s [train-mask] table and
Python callers all read them from here.

Torch-free on purpose (like train/config.py): `train-mask --help` builds its flags from these declarations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..options import opt
from .config import DEFAULT_SHARE

DEFAULT_MINUTES = 2.0  # what `masquerade train` gives the mask net when no --minutes budget says otherwise
BUDGET_SHARE = 0.1  # with `train --minutes M`: the mask net gets this share of M (at most DEFAULT_MINUTES)


@dataclass
class MaskTrainConfig:
    minutes: float | None = opt(None, above=0.0,
                                help=f"Train for this many minutes (neither this nor --steps: {DEFAULT_MINUTES:g} minutes).")
    steps: int | None = opt(None, low=1, help="Train for this many steps (with --minutes: whichever ends first).")
    size: int = opt(128, low=32, high=512, multiple=8, cli=False, help="Side the mask net sees crops at.")
    batch_size: int = opt(16, low=1, high=4096, cli=False, help="Faces per step.")
    lr: float = opt(2e-3, above=0.0, cli=False, help="Peak learning rate (cosine decay when --steps is set).")
    clean_share: float = opt(0.2, low=0.0, high=1.0, cli=False,
                             help="Share of training faces left without an occluder (so the net does not eat faces).")
    max_occluders: int = opt(2, low=1, high=8, cli=False, help="Most occluders pasted on one face.")
    holdout: float = opt(DEFAULT_SHARE, low=0.0, high=0.5, cli=False,
                         help="Share of each face set held out and scored (IoU) at the end.")
    arch: dict[str, Any] = field(default_factory=dict)  # MaskNetConfig fields (channels)
    device: str = opt("auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps.")
    threads: int | None = opt(None, low=1, cli=False, help="torch CPU threads (default: torch's).")
    seed: int = opt(0, low=0, cli=False, help="Seed of the weights and of the occluders.")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
