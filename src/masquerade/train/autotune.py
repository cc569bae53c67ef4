"""Pick the fastest CPU precision by timing a few steps, as cuDNN's benchmark mode picks kernels.

Which one wins depends on the machine, not only on what the CPU supports: on the 2-core development VM
(AVX512-BF16, 2026-11-30) `original` trained at 19.7 samples/s in fp32, 17.5 with bf16 math and 12.6 with
bf16 autocast, while on the machine the project brief was measured on, bf16 weights and activations ran
1.8× faster than fp32. So `--precision auto` on a CPU with native bf16 times fp32, bf16 (weights and
activations, fp32 master weights) and bf16 math on a throwaway copy of the network (batch of at most 4 per
side, a few seconds for `original`) and keeps the fastest. On a CPU without native bf16 there is nothing
to time: `auto` is fp32 (`config.resolve_precision`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from ..models import build_model
from ..models.manifest import ModelManifest
from . import distributed
from .augment import augment
from .config import Precision, TrainConfig, resolve_precision

CANDIDATES = (Precision(), Precision(cpu_bf16=True), Precision(cpu_bf16_math=True))
# What `auto` may pick on a CPU: precisions that train as well as fp32 and resume bit-exactly. "bf16" (bf16
# weights and activations from fp32 masters) qualifies since 2026-12-07: 400 steps of `lite` on the shared real
# clips gave held-out SSIM 0.692 / 0.725 against fp32's 0.693 / 0.727, and its resume became exact once restored
# Adam moments took their weights' channels-last layout. "bf16 math" learns like fp32 too since its losses run
# in fp32, but gains little over fp32 (the network's memory traffic stays fp32): by name only.
AUTO_CANDIDATES = (Precision(), Precision(cpu_bf16=True))


def seconds_per_step(runner, a, b, timed_steps: int) -> float:
    """Mean wall time of `timed_steps` steps after one untimed step (allocations, kernel selection)."""
    runner.step(a, b, 0.0, gan_on=False)
    t0 = time.perf_counter()
    for _ in range(timed_steps):
        runner.step(a, b, 0.0, gan_on=False)
    return (time.perf_counter() - t0) / timed_steps


def fastest_cpu_precision(build: Callable[[], torch.nn.Module], config: TrainConfig, size: int,
                          batch: int, timed_steps: int = 2,
                          timer: Callable[..., float] = seconds_per_step,
                          candidates: tuple[Precision, ...] = AUTO_CANDIDATES) -> tuple[Precision, dict[str, float]]:
    """The candidate with the shortest step on this machine, and the measured seconds per step of each.

    Runs on fresh copies (own optimiser, random faces, the global RNG untouched), so the real run's weights,
    optimiser and random numbers are exactly as they would be without it. `timer(runner, a, b, timed_steps)`
    measures one candidate (replaceable so the choice can be tested without timing).
    """
    from .step import StepRunner

    device = torch.device("cpu")
    probe = dataclasses.replace(config, gan_weight=0.0, compile=False)
    n = max(1, min(batch, 4))
    seconds: dict[str, float] = {}
    with torch.random.fork_rng(devices=[]):
        gen = torch.Generator().manual_seed(0)
        pixels = (torch.rand(2 * n, 5, size, size, generator=gen) * 255).to(torch.uint8)
        a, b = augment(pixels[:n], gen), augment(pixels[n:], gen)
        for plan in candidates:
            net = build()
            if plan.channels_last:
                net = net.to(memory_format=torch.channels_last)
            runner = StepRunner(net, probe, device, plan, plan.channels_last)
            seconds[plan.label] = timer(runner, a, b, timed_steps)
            del runner, net
    best = min(candidates, key=lambda p: seconds[p.label])
    return best, seconds


def training_precision(config: TrainConfig, device: torch.device, saved: ModelManifest | None,
                       ranks: distributed.Ranks, name: str, arch, batch: int) -> Precision:
    """The step's precision. `auto` on a CPU with native bf16 times the `AUTO_CANDIDATES` (fp32 and bf16) once
    per model folder (see `autotune`) and keeps the choice, so a resumed run computes exactly as before."""
    plan = resolve_precision(config.precision, device)
    if config.precision != "auto" or plan == Precision() or device.type != "cpu" or ranks.enabled:
        return plan  # several ranks must agree: they keep the default rather than each timing its own
    recorded = saved.precision if saved else None
    for candidate in CANDIDATES:
        if candidate.label == recorded:
            return candidate
    return fastest_cpu_precision(lambda: build_model(name, arch), config, arch.size, batch)[0]
