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
                                help="Train for this many minutes (neither this nor --steps: until Ctrl-C).",
                                title="Minutes", tip="Train the face sharpener for this many minutes.")
    steps: int | None = opt(None, low=1, help="Train for this many steps (with --minutes: whichever ends first).",
                            title="Steps", tip="Or stop after this many steps, whichever comes first.")
    batch_size: int = opt(12, low=1, high=4096, cli=False, help="Faces per step.",
                          title="Faces per step", tip="How many faces one training step looks at.", group="Learning")
    patch: int = opt(96, low=0, high=1024, cli=False,
                     help="Side of the random target patches, px of the 256 px crop (0 = whole faces).",
                     title="Piece size (px)", tip="Learn from square pieces of the faces this size; 0 uses whole faces.", group="Learning")
    lr: float = opt(1e-3, above=0.0, cli=False, help="Peak learning rate (cosine decay when --steps is set).",
                    title="Learning rate", tip="How big each learning step is.", group="Learning")
    warmup_steps: int = opt(50, low=0, cli=False, help="Steps of linear learning-rate warm-up.",
                            title="Warm-up steps", tip="Raise the learning rate slowly over this many first steps.", group="Learning")
    l1_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the L1 loss.",
                           title="Colour weight", tip="How much matching each pixel's colour counts.", group="What counts most")
    ssim_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the SSIM loss.",
                             title="Shape weight", tip="How much matching shapes and edges counts.", group="What counts most")
    hf_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the L1 on the high-pass (edges and texture).",
                           title="Detail weight", tip="How much fine edges and skin texture count.", group="What counts most")
    background_weight: float = opt(0.25, low=0.0, cli=False, help="Loss weight outside the face mask.",
                                   title="Background weight", tip="How much the area around the face counts.", group="What counts most")
    flip: bool = opt(True, cli=False, help="Random horizontal flips.",
                     title="Mirror faces", tip="Also train on mirror images of the faces.", group="Learning")
    holdout: float = opt(DEFAULT_SHARE, low=0.0, high=0.5, cli=False,
                         help="Share of the face set held out and scored against bicubic at the end.",
                         title="Faces kept aside", tip="Share of the faces never trained on, used to score the sharpener at the end.", group="Learning")
    decoder_share: float = opt(0.0, low=0.0, high=1.0, cli=False,
                               help="Share of each batch whose inputs are the swap model's own renders.",
                               title="Share of the model's own faces", tip="Share of each step's faces drawn by the swap model itself, so the sharpener learns to fix its look.", group="Learning")
    degradation: Degradation = field(default_factory=Degradation)
    arch: dict[str, Any] = field(default_factory=dict)  # UpscalerConfig fields (channels, blocks, up_channels)
    out_size: int = 256
    device: str = opt("auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps.",
                      title="Device", tip="Where the work runs: auto picks a graphics card when there is one.")
    threads: int | None = opt(None, low=1, cli=False, help="torch CPU threads (default: torch's).",
                              title="Processor threads", tip="How many processor threads to use. Leave empty for all.", group="Learning")
    seed: int = opt(0, low=0, cli=False, help="Seed of the weights, the sampling and the degradation.",
                    title="Random seed", tip="Change it to get a different run from the same settings.", group="Learning")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
