"""Settings of `masquerade train-upscaler`, each declared once: its flags, `--config FILE.toml`'s
[train-upscaler] table and Python callers all read them from here.

Torch-free on purpose (like train/config.py): `train-upscaler --help` builds its flags from these declarations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..options import opt
from .config import DEFAULT_SHARE


@dataclass(frozen=True)
class Degradation:
    """How a sharp 256 px crop is made to look like a swap model's decoded face (the upscaler's input)."""

    blur_sigma: tuple[float, float] = (0.3, 1.4)  # Gaussian blur at the input size, px
    noise: float = 0.02  # max std of added Gaussian noise (on half the faces)
    jpeg_quality: tuple[int, int] = (40, 92)  # JPEG quality range (on half the faces)
    color_gain: float = 0.04  # ± per-channel gain, input and target alike
    color_offset: float = 0.02  # ± per-channel offset, input and target alike


@dataclass
class UpscalerTrainConfig:
    minutes: float | None = opt(None, above=0.0,
                                help="Train for this many minutes (neither this nor --steps: until Ctrl-C).")
    steps: int | None = opt(None, low=1, help="Train for this many steps (with --minutes: whichever ends first).")
    batch_size: int = opt(12, low=1, high=4096, cli=False, help="Faces per step.")
    patch: int = opt(96, low=0, high=1024, cli=False,
                     help="Side of the random target patches, px of the 256 px crop (0 = whole faces).")
    lr: float = opt(1e-3, above=0.0, cli=False, help="Peak learning rate (cosine decay when --steps is set).")
    warmup_steps: int = opt(50, low=0, cli=False, help="Steps of linear learning-rate warm-up.")
    l1_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the L1 loss.")
    ssim_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the SSIM loss.")
    hf_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the L1 on the high-pass (edges and texture).")
    background_weight: float = opt(0.25, low=0.0, cli=False, help="Loss weight outside the face mask.")
    flip: bool = opt(True, cli=False, help="Random horizontal flips.")
    holdout: float = opt(DEFAULT_SHARE, low=0.0, high=0.5, cli=False,
                         help="Share of the face set held out and scored against bicubic at the end.")
    decoder_share: float = opt(0.0, low=0.0, high=1.0, cli=False,
                               help="Share of each batch whose inputs are the swap model's own renders.")
    degradation: Degradation = field(default_factory=Degradation)
    arch: dict[str, Any] = field(default_factory=dict)  # UpscalerConfig fields (channels, blocks, up_channels)
    out_size: int = 256
    device: str = opt("auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps.")
    threads: int | None = opt(None, low=1, cli=False, help="torch CPU threads (default: torch's).")
    seed: int = opt(0, low=0, cli=False, help="Seed of the weights, the sampling and the degradation.")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
