"""One optimisation step: forward both identities, losses, backward, Adam; optional PatchGAN refinement.

Kept apart from the loop so the benchmark can time exactly what training runs.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch
from torch import nn

from ..models.base import FaceAutoencoder
from ..models.discriminator import PatchDiscriminator
from ..scope import onednn_bf16
from .augment import Batch
from .config import Precision, TrainConfig
from .distributed import Ranks, average_gradients, data_parallel, mean_tensors_over_ranks
from .lazy_stats import LazyStats
from .losses import LossWeights, composite, d_loss, g_loss, reconstruction_loss


LR_DROPOUT_KEEP = 0.7  # with learning-rate dropout, each weight's update is applied with this probability


def compiled_losses(losses: Callable, device: torch.device) -> tuple[Callable, bool]:
    """`--compile`: the forward and the losses as one inductor graph, whose backward AOTAutograd compiles as
    a second one; Adam is already one fused kernel over all the weights, so with these two the whole step
    is compiled. On CUDA the two graphs are also replayed as CUDA graphs ("reduce-overhead": a step's
    thousands of small kernels launched as one), which holds because a run's shapes never change (the same
    batch size every step; `dynamic=False` recompiles rather than guess if they ever did). Returns the
    function and whether CUDA graphs are on (the caller then marks each step's start)."""
    graphs = device.type == "cuda"
    return torch.compile(losses, mode="reduce-overhead" if graphs else None, dynamic=False), graphs


class StepRunner:
    """Owns the optimiser(s) and runs training steps on the device, in the configured precision."""

    def __init__(self, net: FaceAutoencoder, config: TrainConfig, device: torch.device,
                 precision: Precision, channels_last: bool, ranks: Ranks = Ranks()):
        self.net, self.device, self.channels_last = net, device, channels_last
        self.precision = precision
        self.ranks = ranks
        self.model = data_parallel(net, ranks, device)  # what the step calls: DDP-wrapped under torchrun
        self.weights = LossWeights(
            config.ssim_weight, config.l1_weight, config.mask_weight, config.eye_mouth_weight, config.background_weight
        )
        self.gan_weight = config.gan_weight
        # beta1 = 0.5 as in faceswap and DeepFaceLab: steadier for autoencoders trained on small batches.
        # Fused Adam: one pass over the 82 M weights of `original` instead of several foreach sweeps.
        fused = device.type in ("cpu", "cuda")
        self.opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.5, 0.999), fused=fused)
        self.disc: nn.ModuleDict | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        if config.gan_weight > 0:
            self.disc = nn.ModuleDict({k: PatchDiscriminator() for k in ("a", "b")}).to(device)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=1e-4, betas=(0.5, 0.999), fused=fused)
        self._forward: Callable = self._losses
        self.cuda_graphs = False
        if config.compile and not precision.cpu_bf16_math:  # its two-phase backward is not one graph
            self._forward, self.cuda_graphs = compiled_losses(self._losses, device)
        self._network_outputs = None

    def _ctx(self):
        if self.precision.autocast is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision.autocast)

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision.cpu_bf16:
            return x.to(torch.bfloat16, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _run(self, *inputs):
        """The network's pass. In "bf16" the fp32 master weights are cast to bf16 for this pass only (autograd
        casts their gradients back to fp32), so the optimiser, the snapshots and the guard see fp32 weights."""
        if not self.precision.cpu_bf16:
            return self.model(*inputs)
        weights = {name: p.to(torch.bfloat16) for name, p in self.model.named_parameters()}
        out = torch.func.functional_call(self.model, weights, inputs, strict=False)
        return tuple(o.float() for o in out)  # the loss runs in fp32

    def _losses(self, ia, ta, ma, pa, ib, tb, mb, pb, ea=None, eb=None, va=None, vb=None):
        fa, mpa, fb, mpb = self._network(ia, ib, ea, eb)
        la = reconstruction_loss(fa, mpa, ta, ma, pa, self.weights, va)  # va, vb: visible face (occluders out)
        lb = reconstruction_loss(fb, mpb, tb, mb, pb, self.weights, vb)
        return la, lb, fa, fb

    def step(self, a: Batch, b: Batch, lr: float, gan_on: bool, dropout_seed: int | None = None) -> LazyStats:
        """One step at learning rate `lr`; `gan_on` adds the adversarial term (after its warm-up);
        `dropout_seed` turns on learning-rate dropout for this step (see `_dropout_update`).

        Its losses stay on the device (`LazyStats`): nothing here waits for the device to finish the step."""
        if self.cuda_graphs:  # a new replay may reuse the last one's output memory (`_step` copies the stats)
            torch.compiler.cudagraph_mark_step_begin()
        return LazyStats(mean_tensors_over_ranks(self._step(a, b, lr, gan_on, dropout_seed), self.ranks))

    def _network(self, ia, ib, ea, eb):
        """The network's outputs (face and mask per side) that the losses read.

        In "bf16 math" the network runs in bf16 math and the losses in fp32: SSIM's blur is two matrix products
        (`losses._blur`), and its variances are differences of nearly equal means (E[x²] − E[x]²); with bf16
        operands (8 mantissa bits) they are noise, and SSIM's gradient was measured 11× its own size away from
        fp32's, so bf16-math training never left the mean face. The losses then read detached copies of the
        outputs, and the backward runs in two phases (`_backward`)."""
        if not self.precision.cpu_bf16_math:
            with self._ctx():
                return self._run(self._prep(ia), self._prep(ib), ea, eb)
        with onednn_bf16(True):
            outputs = self._run(self._prep(ia), self._prep(ib), ea, eb)
        leaves = tuple(o.detach().requires_grad_() for o in outputs)
        self._network_outputs = (outputs, leaves)
        return leaves

    def _backward(self, loss: torch.Tensor) -> None:
        """Backward; in "bf16 math", the losses' ops in fp32 down to the network's outputs, then the network's
        ops in bf16 math from there."""
        loss.backward()
        if self.precision.cpu_bf16_math:  # phase two: from the outputs' gradients through the network
            outputs, leaves = self._network_outputs
            self._network_outputs = None
            pairs = [(o, leaf.grad) for o, leaf in zip(outputs, leaves) if leaf.grad is not None]
            with onednn_bf16(True):
                torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])

    @torch.no_grad()
    def _dropout_update(self, seed: int) -> None:
        """Adam's step, then each weight keeps its update with probability LR_DROPOUT_KEEP (DeepFaceLab's
        "learning-rate dropout": a noisier walk that settles in finer minima late in training). The masks
        come from a generator seeded by the step, identical on every rank and after a resume."""
        params = [p for p in self.net.parameters() if p.grad is not None]
        before = [p.detach().clone() for p in params]
        self.opt.step()
        gen = torch.Generator(device=self.device).manual_seed(seed)
        for p, old in zip(params, before):
            keep = torch.rand(p.shape, generator=gen, device=p.device) < LR_DROPOUT_KEEP
            p.copy_(torch.where(keep, p, old))

    def _step(self, a: Batch, b: Batch, lr: float, gan_on: bool,
              dropout_seed: int | None = None) -> dict[str, torch.Tensor]:
        for opt in (self.opt, self.opt_d):
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = lr
        la, lb, fa, fb = self._forward(a.inputs, a.targets, a.masks, a.priority, b.inputs, b.targets, b.masks,
                                       b.priority, a.measures, b.measures, a.visible, b.visible)
        loss = la + lb
        stats = {"loss_a": la.detach(), "loss_b": lb.detach()}
        if self.cuda_graphs:  # kept past the next step, whose replay reuses the outputs' memory
            stats = {k: v.clone() for k, v in stats.items()}
        use_gan = gan_on and self.disc is not None
        if use_gan:
            fake = {"a": composite(fa.float(), a.masks, a.targets), "b": composite(fb.float(), b.masks, b.targets)}
            with self._ctx():
                adv = g_loss(self.disc["a"](fake["a"])) + g_loss(self.disc["b"](fake["b"]))
            loss = loss + self.gan_weight * adv
            stats["loss_g"] = adv.detach()
        self.opt.zero_grad(set_to_none=True)
        self._backward(loss)
        if dropout_seed is None:
            self.opt.step()
        else:
            self._dropout_update(dropout_seed)
        if use_gan:
            self.opt_d.zero_grad(set_to_none=True)
            with self._ctx():
                dl = sum(d_loss(self.disc[k](real), self.disc[k](fake[k].detach()))
                         for k, real in (("a", a.targets), ("b", b.targets)))
            dl.backward()
            average_gradients(self.disc.parameters(), self.ranks)
            self.opt_d.step()
            stats["loss_d"] = dl.detach()
        return stats
