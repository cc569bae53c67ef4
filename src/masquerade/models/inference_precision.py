"""bf16 at inference where the hardware has it and it pays: a one-time timing on the first real batch.

Why: on a CPU with AMX the identity upscaler (32-channel convolutions at 64×64) ran 2.3× faster in bf16
(weights and activations, channels-last) than in fp32 for one face (11.0 → 4.8 ms, idle 2-core development
VM; 3.9× for four faces under load), and its faces differed from fp32's by 56.9 dB PSNR (at most 2 of 255
levels): indistinguishable, for the part of convert that costs most per face. The swap model's small
`lite` net ran 0.88× as fast in bf16 on the same machine, so nothing is assumed: `InferencePrecision` runs the first batch both ways, keeps bf16
only where it was clearly faster, and answers every later batch the chosen way. Convert runs both the upscaler
and the swap model through it (on a GPU, where bf16 is the fast path, the swap model's batches too). A machine without native
bf16 (emulated bf16 is hundreds of times slower) is never timed: fp32.
"""

from __future__ import annotations

import copy
import time
from typing import Callable

import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16")
MIN_GAIN = 1.15  # bf16 is kept only when at least this much faster (timing noise must not flip the choice)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware (AVX512-BF16 or AMX on a CPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def _wall(fn: Callable[[], object], device: torch.device, repeats: int = 2) -> float:
    """Best wall time of `repeats` calls after one warm-up (allocations, kernel choice)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


class InferencePrecision:
    """Runs `net` in fp32 or in bf16 (a channels-last bf16 copy; inputs cast in, outputs back to fp32).

    `precision`: "fp32", "bf16" (where native; fp32 otherwise), or "auto" (timed on the first call).
    `call(net, x, *extra)` is how the owner runs its net on a batch: the upscaler's plain forward by default,
    the swap model's `render` (extra: identity, measures, source; a (face, mask) pair back)."""

    def __init__(self, net: nn.Module, device: torch.device, precision: str = "auto",
                 call: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]] = lambda net, x: net(x)):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.net, self.device, self.call = net, device, call
        self.choice: str | None = "fp32" if precision == "fp32" or not native_bf16(device) else None
        self._bf16_net: nn.Module | None = None
        if precision == "bf16" and self.choice is None:
            self.choice = "bf16"
        self.seconds: dict[str, float] = {}  # what the timing measured (per batch), when it ran

    def _bf16(self) -> nn.Module:
        if self._bf16_net is None:
            self._bf16_net = copy.deepcopy(self.net).to(memory_format=torch.channels_last).bfloat16().eval()
        return self._bf16_net

    def _run(self, choice: str, x: torch.Tensor, *extra):
        if choice == "fp32":
            return self.call(self.net, x.float(), *extra)
        out = self.call(self._bf16(), x.to(memory_format=torch.channels_last, dtype=torch.bfloat16), *extra)
        return out.float() if isinstance(out, torch.Tensor) else tuple(o.float() for o in out)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, *extra):
        if self.choice is None:  # "auto": the first batch decides, timed both ways
            self.seconds = {c: _wall(lambda c=c: self._run(c, x, *extra), self.device) for c in ("fp32", "bf16")}
            self.choice = "bf16" if self.seconds["fp32"] >= MIN_GAIN * self.seconds["bf16"] else "fp32"
            if self.choice == "fp32":
                self._bf16_net = None  # not needed: free it
        return self._run(self.choice, x, *extra)
