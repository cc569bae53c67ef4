"""Pick the faster CPU precision by timing a few steps, as cuDNN's benchmark mode picks kernels.

Which one wins depends on the machine, not only on what the CPU supports: on the 2-core development VM
(AVX512-BF16, 2026-11-30) `original` trains at 19.7 samples/s in fp32, 17.5 with bf16 math and 12.6 with
bf16 autocast, while on the machine the project brief was measured on, bf16 + channels-last ran 1.8× faster
than fp32. So `--precision auto` on a CPU with native bf16 times both on a throwaway copy of the network
(batch of at most 4 per side, a second or two for `original`) and keeps the faster.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from .augment import augment
from .config import Precision, TrainConfig

CANDIDATES = (Precision(), Precision(cpu_bf16_math=True))


def fastest_cpu_precision(build: Callable[[], torch.nn.Module], config: TrainConfig, size: int,
                          batch: int, timed_steps: int = 2) -> tuple[Precision, dict[str, float]]:
    """The candidate with the shortest step on this machine, and the measured seconds per step of each.

    Runs on fresh copies (own optimiser, random faces, the global RNG untouched), so the real run's weights,
    optimiser and random numbers are exactly as they would be without it.
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
        for plan in CANDIDATES:
            net = build()
            if plan.channels_last:
                net = net.to(memory_format=torch.channels_last)
            runner = StepRunner(net, probe, device, plan, plan.channels_last)
            runner.step(a, b, 0.0, gan_on=False)  # first call: allocations, kernel selection
            t0 = time.perf_counter()
            for _ in range(timed_steps):
                runner.step(a, b, 0.0, gan_on=False)
            seconds[plan.label] = (time.perf_counter() - t0) / timed_steps
            del runner, net
    best = min(CANDIDATES, key=lambda p: seconds[p.label])
    return best, seconds
