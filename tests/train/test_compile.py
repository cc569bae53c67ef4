"""`--compile`: the forward and losses as one inductor graph (its backward compiled by AOTAutograd), with
Adam's single fused kernel: the compiled step trains the same weights as the eager one, and a run's stats
stay readable after later steps (CUDA graphs would reuse an output's memory; the stats are copies)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from masquerade.models import build_model
from masquerade.train.augment import augment
from masquerade.train.config import Precision
from masquerade.train.step import StepRunner, compiled_losses

pytestmark = pytest.mark.slow  # inductor compiles C++ for the CPU: tens of seconds


def _runner(config) -> StepRunner:
    torch.manual_seed(0)
    return StepRunner(build_model("lite", dict(config.model_options)), config, torch.device("cpu"), Precision(), False)


def test_compiled_step_matches_the_eager_step(tiny_config):
    gen = torch.Generator().manual_seed(1)
    pixels = (torch.rand(8, 5, 64, 64, generator=gen) * 255).to(torch.uint8)
    a, b = augment(pixels[:4], gen), augment(pixels[4:], gen)
    eager, compiled = _runner(tiny_config), _runner(replace(tiny_config, compile=True))
    assert compiled._forward is not compiled._losses and not compiled.cuda_graphs  # graphs are CUDA's only
    stats = {name: [r.step(a, b, 1e-3, gan_on=False) for _ in range(3)] for name, r in
             (("eager", eager), ("compiled", compiled))}
    losses = {name: [float(s["loss_a"]) for s in runs] for name, runs in stats.items()}
    assert losses["compiled"] == pytest.approx(losses["eager"], rel=1e-3)  # fused kernels reorder sums only
    assert losses["compiled"][-1] < losses["compiled"][0]  # it learns (read after later steps: still each step's)
    apart = moved = 0.0
    for p, q, p0 in zip(eager.net.parameters(), compiled.net.parameters(), _runner(tiny_config).net.parameters()):
        # Adam moves a weight by about lr a step whatever its gradient's size, so a weight whose gradient is
        # near zero may move either way by a reordered sum: each within the three steps' move, and on the
        # whole the two moved alike
        torch.testing.assert_close(p, q, rtol=0, atol=3e-3)
        apart, moved = apart + float((p - q).abs().sum()), moved + float((p - p0).abs().sum())
    assert apart < 0.05 * moved


def test_cuda_graphs_only_on_a_cuda_device():
    fn = lambda x: x  # noqa: E731
    assert compiled_losses(fn, torch.device("cpu"))[1] is False
    assert compiled_losses(fn, torch.device("cuda"))[1] is True  # compiling is lazy: nothing runs on CUDA here
