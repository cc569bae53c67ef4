"""`hd`: 128 px (or 256) in the spirit of DeepFaceLab's SAEHD, with "df" and "liae" variants.

df   — shared encoder + shared dense bottleneck, one decoder per identity (best identity transfer).
liae — shared encoder, bottlenecks `inter_ab` (both identities) and `inter_b` (B only), one shared decoder;
       a face is rendered as A from [inter_ab, inter_ab] and as B from [inter_b, inter_ab] (better lighting
       and pose match with the destination, weaker identity).
Decoders upscale with residual blocks and have a lighter parallel mask branch (`d_mask_dims`).

The decoders read the same expression channels as `lite`'s (`expression=16`; `models/expression_input.py`): a
16-channel map at size/8 made from the source face's measured mouth, eyes, smile and head pose,
which made `lite`'s swaps follow the source's mouth (10 CPU minutes: mouth_corr 0.24 → 0.87). Models saved
before the setting load without them (`legacy`).

Default sizes (e_dims 64, ae_dims 256, d_dims 64, d_mask_dims 22, expression 16), counted by `model_cost`:

| variant | size | params  | GFLOP fwd/sample | GFLOP train/sample |
|---------|------|---------|------------------|--------------------|
| df      | 128  | 58.9 M  |  55.8            | 167.4              |
| liae    | 128  | 60.4 M  |  59.2            | 177.6              |
| df      | 256  | 98.3 M  | 223.2            | 669.5              |

The decoder's full-width residual blocks dominate (as in SAEHD): this is a GPU model. On a 2-core CPU use
`lite`, or narrow it (`d_dims=32` cuts the cost about 4×).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .base import ArchConfig, FaceAutoencoder, setting
from .layers import DenseBottleneck, Down, FaceHead, ResBlock, Up


@dataclass
class HDConfig(ArchConfig):
    size: int = setting(128, low=64, high=512, multiple=32, help="Side of the face crops, px (128 or 256).",
                    title="Face size (px)", tip="Side of the faces the model learns and draws. Bigger is sharper but much slower.")
    variant: str = setting("df", choices=("df", "liae"),
                       help="df: a decoder per identity (identity); liae: one shared decoder (lighting and pose).",
                       title="Layout", tip="df keeps the identity best; liae follows the lighting and pose of the scene better.")
    e_dims: int = setting(64, low=4, high=1024, help="Encoder width (its first layer's channels; x2 per layer).",
                      title="Reader width", tip="How much the face-reading part can hold. Bigger learns more but is slower.")
    ae_dims: int = setting(256, low=8, high=4096, help="Bottleneck width.",
                       title="Memory width", tip="Size of the summary every face passes through.")
    d_dims: int = setting(64, low=4, high=1024, help="Decoder width (32 costs about 4x less than 64).",
                      title="Drawer width", tip="How much the face-drawing part can hold. Smaller is much faster.")
    d_mask_dims: int = setting(22, low=2, high=1024, help="Width of the decoder's mask branch.",
                           title="Outline width", tip="How much the part that draws the face's outline can hold.")
    expression: int = setting(16, low=0, high=256,
                              help="Channels of an expression map (mouth, eyes, smile, head turn and nod measured "
                                   "from the source face's landmarks) fed to the decoder, so a swap follows the "
                                   "source's expression; 0 = none.",
                          title="Expression detail", tip="How closely the swap follows the mouth, eyes and head movements. 0 turns it off.")
    expression_code: int = setting(3, choices=(1, 2, 3),
                                   help="How the expression map reads the source face: 2 = eleven measures, each "
                                        "a deviation from that person's neutral face in their own range; 3 = 2, "
                                        "and a swap moves mouth and brows into the target's own spread; 1 = five.",
                                   title="Expression reading", tip="3 reads eleven details of the face against each person's calm face and translates them into the other person's range; 2 does not translate; 1 is older.")
    default_batch_size: ClassVar[int] = 8
    gpu_batch_size: ClassVar[int | None] = 16  # twice the CPU batch, as original
    default_lr: ClassVar[float] = 5e-5
    default_schedule: ClassVar[str] = "constant"
    legacy: ClassVar[dict] = {"expression": 0, "expression_code": 1}  # models saved before each setting existed


class HD(FaceAutoencoder):
    config_class = HDConfig

    def __init__(self, config: HDConfig):
        super().__init__(config)
        e, res = config.e_dims, config.size // 16
        self.encoder = nn.Sequential(Down(3, e), Down(e, 2 * e), Down(2 * e, 4 * e), Down(4 * e, 8 * e))
        flat = 8 * e * res * res
        code_res, ae, x = res, config.ae_dims, config.expression  # dense back to size/16, up to size/8 to decode
        if config.variant == "df":
            self.inter = nn.Sequential(DenseBottleneck(flat, ae, code_res, ae), Up(ae, ae))
            self.decoders = nn.ModuleDict({k: HDDecoder(ae + x, config) for k in ("a", "b")})
        else:
            self.inter_ab = nn.Sequential(DenseBottleneck(flat, ae, code_res, ae), Up(ae, ae))
            self.inter_b = nn.Sequential(DenseBottleneck(flat, ae, code_res, ae), Up(ae, ae))
            self.decoder = HDDecoder(2 * ae + x, config)
        self.add_expression(x, 2 * code_res, per_identity=config.variant == "df",
                            version=config.expression_code)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def latent(self, feat: torch.Tensor, identity: str) -> torch.Tensor:
        if self.config.variant == "df":
            return self.inter(feat)
        shared = self.inter_ab(feat)
        return torch.cat([self.inter_b(feat) if identity == "b" else shared, shared], dim=1)

    def decode(self, z: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor]:
        dec = self.decoders[identity] if self.config.variant == "df" else self.decoder
        return dec(z)


class HDDecoder(nn.Module):
    """Three upscales (×8) with a residual block each, from size/8 to full size; parallel light mask branch."""

    def __init__(self, cin: int, config: HDConfig):
        super().__init__()
        d, m = config.d_dims, config.d_mask_dims
        self.face = nn.Sequential(
            Up(cin, 8 * d), ResBlock(8 * d), Up(8 * d, 4 * d), ResBlock(4 * d), Up(4 * d, 2 * d), ResBlock(2 * d)
        )
        self.mask = nn.Sequential(Up(cin, 8 * m), Up(8 * m, 4 * m), Up(4 * m, 2 * m))
        self.head = FaceHead(2 * d, 2 * m, kernel=3)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.face(z), self.mask(z))
