"""The shape every architecture shares: one shared encoder, a per-identity way to render a face.

An architecture splits into `features` (shared encoder), `latent` (the code used to render as identity "a"
or "b") and `decode` (face + mask for that identity). Training reconstructs A as A and B as B; swapping
renders A's code as B. DF-style nets ignore the identity in `latent`; LIAE-style nets use it there and
share the decoder. Keeping that split lets one trainer and one `swap` serve every architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..options import check, opt

IDENTITIES = ("a", "b")


def setting(default: object, **meta: object) -> object:
    """An architecture setting: declared like any option (help, range, choices), but set by name
    (`--arch-option KEY=VALUE`, a TOML file's [train.model_options], the UI's settings box), never as a flag
    of its own, so errors name it by its name."""
    return opt(default, cli=False, **meta)


@dataclass
class ArchConfig:
    """Hyper-parameters of a network; saved as JSON beside its weights. Subclasses add their own fields."""

    size: int = setting(64, low=32, high=512, multiple=16, help="Side of the face crops the network sees and renders, px.")
    # Training defaults that suit this architecture (TrainConfig fields left as None take these).
    default_batch_size: ClassVar[int] = 16
    gpu_batch_size: ClassVar[int | None] = None  # the default batch on a CUDA GPU (None: as on the CPU); see train.config.batch_and_lr
    default_lr: ClassVar[float] = 1e-4
    default_schedule: ClassVar[str] = "constant"
    default_warmup_steps: ClassVar[int] = 0


class FaceAutoencoder(nn.Module):
    """Shared encoder + identity-specific rendering. Subclasses build the layers and override the three parts."""

    config_class: ClassVar[type[ArchConfig]] = ArchConfig

    def __init__(self, config: ArchConfig):
        super().__init__()
        check(config, ValueError)  # the ranges and choices its fields declare (masquerade.options.opt)
        self.config = config

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def latent(self, feat: torch.Tensor, identity: str) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    # -- expression channels (models/expression_input.py); a net without them ignores the measures --------------
    def add_expression(self, channels: int, res: int, per_identity: bool, version: int = 1) -> None:
        """Give the decoders `channels` extra input channels at `res`×`res` made from the source face's expression
        measures (nothing when `channels` is 0): a map per identity for per-identity decoders, one map for a
        shared decoder. The person baselines live in `self.expression`, saved with the weights; `version` is
        the code's (`models.expression_input.ExpressionCode`)."""
        if not channels:
            return
        from .expression_input import ExpressionCode, ExpressionMap

        self.expression = ExpressionCode(version)
        size = self.expression.size
        if per_identity:
            self.expression_maps = nn.ModuleDict({k: ExpressionMap(channels, res, code_size=size) for k in IDENTITIES})
        else:
            self.shared_expression_map = ExpressionMap(channels, res, code_size=size)

    def expression_map(self, identity: str) -> nn.Module | None:
        """The module making `identity`'s decoder's expression feature map; None: the net has no such input."""
        if "expression_maps" in self._modules:
            return self.expression_maps[identity]
        return self._modules.get("shared_expression_map")

    def with_expression(self, z: torch.Tensor, identity: str, measures: torch.Tensor | None,
                        source: str) -> torch.Tensor:
        """`z` with the expression map of faces of `source` (raw measures N×11, or None: at rest) appended as
        channels, for `identity`'s decoder; `z` itself when the net has no expression channels."""
        emap = self.expression_map(identity)
        if emap is None:
            return z
        if measures is None:
            code = z.new_zeros(z.shape[0], self.expression.size)
        else:  # a swap carries the source's code across to the target person (`ExpressionCode.across`)
            code = self.expression.across(self.expression(measures.to(z.device), source), source, identity)
        return torch.cat([z, emap(code.to(z.dtype)).to(z.dtype)], dim=1)  # (bf16 training: its weights are bf16)

    def reconstruct(self, xa: torch.Tensor, xb: torch.Tensor, ea: torch.Tensor | None = None,
                    eb: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """A→A and B→B for a training step; one encoder pass over both batches (bigger GEMMs, same maths).
        `ea`, `eb`: the faces' expression measures (used by nets with expression channels)."""
        n = xa.shape[0]
        feat = self.features(torch.cat([xa, xb]))
        fa, ma = self.decode(self.with_expression(self.latent(feat[:n], "a"), "a", ea, "a"), "a")
        fb, mb = self.decode(self.with_expression(self.latent(feat[n:], "b"), "b", eb, "b"), "b")
        return fa, ma, fb, mb

    def forward(self, xa: torch.Tensor, xb: torch.Tensor, ea: torch.Tensor | None = None,
                eb: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """A training step's pass is the module's forward, so DistributedDataParallel can wrap the net."""
        return self.reconstruct(xa, xb, ea, eb)

    def render(self, x: torch.Tensor, identity: str, measures: torch.Tensor | None = None,
               source: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Render faces `x` (of identity `source`, default `identity`) as `identity`: reconstruction or swap.
        `measures`: their expression measures N×11 (`faces.expression_reference`), for nets with expression channels."""
        if identity not in IDENTITIES or (source or identity) not in IDENTITIES:
            raise ValueError(f"identity must be 'a' or 'b', not {identity!r} (source {source!r})")
        z = self.latent(self.features(x), identity)
        return self.decode(self.with_expression(z, identity, measures, source or identity), identity)


class SharedEncoderNet(FaceAutoencoder):
    """The DF layout: `encoder` → `inter` shared by both identities, then `decoders[identity]` = (body, head).

    Subclasses only build those three modules in `__init__`.
    """

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def latent(self, feat: torch.Tensor, identity: str) -> torch.Tensor:
        return self.inter(feat)

    def decode(self, z: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor]:
        body, head = self.decoders[identity]
        return head(body(z))

    def reconstruct(self, xa: torch.Tensor, xb: torch.Tensor, ea: torch.Tensor | None = None,
                    eb: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """As the base class, but `inter` is shared too, so it also runs once over both batches: its 4×4
        convolution and dense layers are the least efficient on a CPU at batch 16 (measured 7% per step)."""
        n = xa.shape[0]
        z = self.inter(self.encoder(torch.cat([xa, xb])))
        fa, ma = self.decode(self.with_expression(z[:n], "a", ea, "a"), "a")
        fb, mb = self.decode(self.with_expression(z[n:], "b", eb, "b"), "b")
        return fa, ma, fb, mb


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_cost(model: FaceAutoencoder) -> dict[str, float]:
    """Parameters and GFLOP per sample (forward, and a training step = forward + backward), counted by torch.

    Counted on one A and one B face through `reconstruct`, so the figure matches what training pays.
    """
    from torch.utils.flop_counter import FlopCounterMode

    s = model.config.size
    xa, xb = torch.rand(1, 3, s, s), torch.rand(1, 3, s, s)
    counter = FlopCounterMode(display=False)
    with counter:
        out = model.reconstruct(xa, xb)
    fwd = counter.get_total_flops() / 2
    counter = FlopCounterMode(display=False)
    with counter:
        out = model.reconstruct(xa, xb)
        sum(o.float().mean() for o in out).backward()
    model.zero_grad(set_to_none=True)
    return {"params": float(count_params(model)), "gflop_forward": fwd / 1e9, "gflop_train": counter.get_total_flops() / 2 / 1e9}
