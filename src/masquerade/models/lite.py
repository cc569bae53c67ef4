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

5.3 M parameters, 0.32 GFLOP forward, 0.95 GFLOP per sample for a training step (`model_cost`; 5.5 M and
0.97 GFLOP with the default 16 expression channels, see below);
~168 samples/s on the 2-core CPU with bf16 math (vs ~19 for `original`; `bench/train.py`, 2026-11-30). On the
2-core Xeon with AMX, `--precision bf16` (weights and activations in bf16) runs its step in 0.62 of bf16 math's
CPU time and 0.59 of fp32's (one thread, interleaved, 2026-12-06); `auto` picks it there by timing.

`variant="liae"`: one decoder shared by both identities, fed [private code, shared code]. B (the face put
in by an a2b swap) is rendered from [inter_ab, inter_ab], A from [inter_a, inter_ab], so a swap A→B is
A's face through the shared bottleneck alone, in B's pattern. Why: a destination clip rarely shows every
expression (man_d19 closes his eyes in 1 face of 250); a per-identity decoder can only render what its own
identity showed, while the shared decoder has learnt closed eyes and wide mouths from either side.
8.4 M parameters, 1.13 GFLOP per training sample. Not the default: measured against df at the same 600
steps (bench/quality_real.py, woman_d3 → man_d19, 2026-12-01, a loaded 2-core box) it moved eye_corr
0.01 → 0.35 and expression error 0.063 → 0.054 but mouth_corr 0.46 → -0.22, identity about equal; at that
budget both swaps are still blurred, so the question stays open until a longer A/B.

`expression=N`: the decoder also reads an N-channel 8×8 map made from numbers measured on the source
face's landmarks (`models/expression_input.py`; with `expression_code` 2 or 3, eleven:
mouth, eyes, smile, head turn, nod, corner lift, lip press, pucker, jaw sideways, brow, squint, each a
deviation from that person's neutral face; 3, the default for new models since 2026-12-07, also carries a
swap's mouth and brow measures into the target's own spread; models saved before keep what they were made
with, the oldest the five of `expression_code=1`).
A decoder that must render B from A's code learns B's average face first; told explicitly that the source's
mouth is open, it can draw B's open mouth. Costs 1.5% more per sample (16 channels). The default
since 2026-12-01: at 1,500 steps on woman_d3 → man_d19 (bench/quality_real.py) it moved the swap's mouth
correlation with the source from 0.44 to 0.75 at an equal or better identity distance (0.574 vs 0.584). Models
saved before keep `expression=0` (`legacy`, read by `models.saved_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .base import ArchConfig, SharedEncoderNet, setting
from .layers import DenseBottleneck, Down, FaceHead, ResBlock, Up


@dataclass
class LiteConfig(ArchConfig):
    size: int = setting(64, low=32, high=512, multiple=16, help="Side of the face crops, px.",
                    title="Face size (px)", tip="Side of the faces the model learns and draws. Bigger is sharper but much slower.")
    e_dims: int = setting(32, low=4, high=1024, help="Encoder width (its first layer's channels; x2 per layer).",
                      title="Reader width", tip="How much the face-reading part can hold. Bigger learns more but is slower.")
    ae_dims: int = setting(256, low=8, high=4096, help="Bottleneck width: the code every face passes through.",
                       title="Memory width", tip="Size of the summary every face passes through.")
    d_dims: int = setting(32, low=4, high=1024, help="Decoder width.",
                      title="Drawer width", tip="How much the face-drawing part can hold. Smaller is much faster.")
    variant: str = setting("df", choices=("df", "liae"),
                          help="df: a decoder per identity; liae: one shared decoder fed a private and a shared code.",
                       title="Layout", tip="df keeps the identity best; liae follows the lighting and pose of the scene better.")
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
    gpu_batch_size: ClassVar[int | None] = 64  # at 8 (1 GFLOP a face) a GPU step is mostly kernel launches
    default_lr: ClassVar[float] = 5e-4
    default_schedule: ClassVar[str] = "cosine"
    default_warmup_steps: ClassVar[int] = 200
    legacy: ClassVar[dict] = {"expression": 0, "expression_code": 1}  # models saved before each setting existed


class Lite(SharedEncoderNet):
    config_class = LiteConfig

    def __init__(self, config: LiteConfig):
        super().__init__(config)
        e, res, ae, d = config.e_dims, config.size // 16, config.ae_dims, config.d_dims
        self.encoder = nn.Sequential(Down(3, e), Down(e, 2 * e), Down(2 * e, 4 * e), Down(4 * e, 8 * e))
        inter = lambda: nn.Sequential(DenseBottleneck(8 * e * res * res, ae, res, ae), Up(ae, 4 * d))  # noqa: E731
        x = config.expression  # extra decoder input channels (models/expression_input.py)
        if config.variant == "df":
            self.inter = inter()
            self.decoders = nn.ModuleDict({k: _decoder(d, 4 * d + x) for k in ("a", "b")})
        else:
            self.inter_ab, self.inter_a = inter(), inter()
            self.decoder = _decoder(d, 8 * d + x)
        self.add_expression(x, 2 * res, per_identity=config.variant == "df",
                            version=config.expression_code)  # after the rest: same seeded init

    def latent(self, feat: torch.Tensor, identity: str) -> torch.Tensor:
        if self.config.variant == "df":
            return self.inter(feat)
        shared = self.inter_ab(feat)
        return torch.cat([self.inter_a(feat) if identity == "a" else shared, shared], dim=1)

    def decode(self, z: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.variant == "df":
            return super().decode(z, identity)
        body, head = self.decoder
        return head(body(z))

    def reconstruct(self, xa: torch.Tensor, xb: torch.Tensor, ea: torch.Tensor | None = None,
                    eb: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        if self.config.variant == "df":
            return super().reconstruct(xa, xb, ea, eb)
        n = xa.shape[0]
        feat = self.encoder(torch.cat([xa, xb]))
        shared = self.inter_ab(feat)
        z = torch.cat([torch.cat([self.inter_a(feat[:n]), shared[n:]]), shared], dim=1)
        if self.config.expression:
            z = torch.cat([self.with_expression(z[:n], "a", ea, "a"), self.with_expression(z[n:], "b", eb, "b")])
        face, mask = self.decode(z, "a")  # one decoder pass over both identities' codes
        return face[:n], mask[:n], face[n:], mask[n:]


def _decoder(d: int, cin: int | None = None) -> nn.ModuleList:
    body = nn.Sequential(
        Up(cin or 4 * d, 2 * d), ResBlock(2 * d), Up(2 * d, d), ResBlock(d), Up(d, d // 2)
    )
    return nn.ModuleList([body, FaceHead(d // 2, kernel=3)])
