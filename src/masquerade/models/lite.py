"""`lite`: a small, fast network for a short CPU budget (the 10-minute demo), 64×64 crops.

The classic network spends 11.4 GFLOP per sample; in ten minutes on two cores it sees too few samples and
stops at a blurry mean face. `lite` costs 12× less per sample and takes half-size batches, so the same budget
buys ~25× more steps; residual blocks in the decoder recover detail, and warm-up (200 steps) + cosine decay
lets it use a 5× higher LR (5e-4) than the classic net tolerates.

| part        | layers                                                                  |
|-------------|-------------------------------------------------------------------------|
| encoder     | 5×5 stride-2 convs 3→32→64→128→256 (64→4 px)                            |
| bottleneck  | dense 4096→256 → dense 256→4·4·256 → upscale to 8×8×128                 |
| decoder ×2  | upscale+resblock 64 (16 px), upscale+resblock 32 (32 px), upscale 16    |
|             | (64 px) → 3×3 conv RGB + mask                                           |

5.3 M parameters, 0.32 GFLOP forward, 0.95 GFLOP per sample for a training step (`model_cost`);
~168 samples/s on the 2-core CPU with bf16 math (vs ~19 for `original`; `bench/train.py`, 2026-11-30).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from .base import ArchConfig, SharedEncoderNet
from .layers import DenseBottleneck, Down, FaceHead, ResBlock, Up


@dataclass
class LiteConfig(ArchConfig):
    size: int = 64
    e_dims: int = 32
    ae_dims: int = 256
    d_dims: int = 32
    default_batch_size: ClassVar[int] = 8
    default_lr: ClassVar[float] = 5e-4
    default_schedule: ClassVar[str] = "cosine"
    default_warmup_steps: ClassVar[int] = 200


class Lite(SharedEncoderNet):
    config_class = LiteConfig

    def __init__(self, config: LiteConfig):
        super().__init__(config)
        e, res, ae, d = config.e_dims, config.size // 16, config.ae_dims, config.d_dims
        self.encoder = nn.Sequential(Down(3, e), Down(e, 2 * e), Down(2 * e, 4 * e), Down(4 * e, 8 * e))
        self.inter = nn.Sequential(DenseBottleneck(8 * e * res * res, ae, res, ae), Up(ae, 4 * d))
        self.decoders = nn.ModuleDict({k: _decoder(d) for k in ("a", "b")})


def _decoder(d: int) -> nn.ModuleList:
    body = nn.Sequential(
        Up(4 * d, 2 * d), ResBlock(2 * d), Up(2 * d, d), ResBlock(d), Up(d, d // 2)
    )
    return nn.ModuleList([body, FaceHead(d // 2, kernel=3)])
