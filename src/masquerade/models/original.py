"""`original`: the classic deepfake network (faceswap's Original, with a learned mask), 64×64 crops.

| part        | layers                                                           | params  |
|-------------|------------------------------------------------------------------|---------|
| encoder     | 5×5 stride-2 convs 3→128→256→512→1024 (64→4 px)                  | 17.4 M  |
| bottleneck  | dense 16384→1024 → dense 1024→4·4·1024 → upscale to 8×8×512      | 52.5 M  |
| decoder ×2  | upscale 512→256→128→64 (pixel shuffle) → 5×5 conv RGB + mask     |  6.2 M  |

About 82 M parameters, 3.8 GFLOP forward and 11.4 GFLOP per sample for a training step (`model_cost`).
A learning rate of 2e-4 made it collapse briefly around step 150; 1e-4 (the default) did not.

On the 2-core CPU a step of batch 16 per side takes ~1.7 s in fp32 (18.6-19.7 samples/s; 17.1 with bf16 math,
12.6 with bf16 autocast): convolution time, not data, bounds it (`bench/train.py`, 2026-11-30). The encoder's
last conv, the bottleneck's upscale and the decoders' first run as matrix products (`layers.Conv2d`): on the
2-core AVX2 VM that took the step from 0.66 to 0.74 of the machine's 2048² matmul speed (2026-12-02). On the
2-core Xeon with AMX, `--precision bf16` (weights and activations in bf16) trains it 2.2× faster than fp32 and
1.8× faster than bf16 math (one thread, interleaved CPU time, 2026-12-06): still only ~0.2 of AMX's bf16 matmul.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from .base import ArchConfig, SharedEncoderNet, setting
from .layers import DenseBottleneck, Down, FaceHead, Up


@dataclass
class OriginalConfig(ArchConfig):
    size: int = setting(64, low=32, high=512, multiple=16, help="Side of the face crops, px.",
                    title="Face size (px)", tip="Side of the faces the model learns and draws. Bigger is sharper but much slower.")
    encoder_dims: int = setting(128, low=8, high=2048, multiple=8, help="Encoder width (its first layer's channels; x2 per layer).",
                            title="Reader width", tip="How much the face-reading part can hold. Bigger learns more but is slower.")
    bottleneck: int = setting(1024, low=8, high=8192, help="Bottleneck width: the code every face passes through.",
                          title="Memory width", tip="Size of the summary every face passes through.")
    default_batch_size: ClassVar[int] = 16
    gpu_batch_size: ClassVar[int | None] = 32  # 12x lite's arithmetic a face: each kernel already has 6x lite's work at 64
    default_lr: ClassVar[float] = 1e-4


class Original(SharedEncoderNet):
    config_class = OriginalConfig

    def __init__(self, config: OriginalConfig):
        super().__init__(config)
        e, res = config.encoder_dims, config.size // 16
        self.encoder = nn.Sequential(Down(3, e), Down(e, 2 * e), Down(2 * e, 4 * e), Down(4 * e, 8 * e))
        self.inter = nn.Sequential(DenseBottleneck(8 * e * res * res, config.bottleneck, res, 8 * e), Up(8 * e, 4 * e))
        self.decoders = nn.ModuleDict({k: _decoder(4 * e) for k in ("a", "b")})


def _decoder(ch: int) -> nn.ModuleList:
    return nn.ModuleList([nn.Sequential(Up(ch, ch // 2), Up(ch // 2, ch // 4), Up(ch // 4, ch // 8)), FaceHead(ch // 8)])
