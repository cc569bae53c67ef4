"""`--precision bf16` on a CPU: the network computes in bf16 (weights and activations) from fp32 master
weights; the optimiser, the snapshots, the guard and a resume all see fp32, and it learns like fp32.

These run on any CPU: without native bf16 the explicit choice is emulated (slow, but the nets here are tiny);
what `auto` does there is asserted in test_autotune.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors import safe_open

from masquerade.models import build_model
from masquerade.models.store import find_snapshot
from masquerade.train import train
from masquerade.train.augment import augment
from masquerade.train.config import Precision, resolve_precision
from masquerade.train.step import StepRunner

pytestmark = pytest.mark.slow  # every test here trains a model (the fast loop leaves them to CI)

BF16 = Precision(cpu_bf16=True)


def _weights(model_dir) -> dict[str, torch.Tensor]:
    with safe_open(str(find_snapshot(model_dir).weights), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def _runner(tiny_config, plan: Precision) -> StepRunner:
    torch.manual_seed(0)
    net = build_model("lite", dict(tiny_config.model_options))
    if plan.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return StepRunner(net, tiny_config, torch.device("cpu"), plan, plan.channels_last)


def test_explicit_bf16_on_a_cpu_is_the_bf16_compute_plan():
    plan = resolve_precision("bf16", torch.device("cpu"))
    assert plan == BF16 and plan.label == "bf16" and plan.channels_last
    assert resolve_precision("bf16-math", torch.device("cpu")).label == "bf16-math"
    with pytest.raises(ValueError, match="bogus"):
        resolve_precision("bogus", torch.device("cpu"))


def test_step_computes_in_bf16_and_keeps_fp32_master_weights_and_adam_state(tiny_config):
    gen = torch.Generator().manual_seed(1)
    pixels = (torch.rand(8, 5, 64, 64, generator=gen) * 255).to(torch.uint8)
    a, b = augment(pixels[:4], gen), augment(pixels[4:], gen)
    ref, low = _runner(tiny_config, Precision()), _runner(tiny_config, BF16)
    seen = []
    low.net.encoder[0][0].register_forward_hook(lambda m, args, out: seen.append((args[0].dtype, out.dtype)))
    losses = {}
    for name, runner in (("fp32", ref), ("bf16", low)):
        losses[name] = [runner.step(a, b, 1e-3, gan_on=False)["loss_a"] for _ in range(4)]
    assert seen and all(d == (torch.bfloat16, torch.bfloat16) for d in seen)
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in low.net.parameters())
    state = [s for s in low.opt.state.values()]
    assert state and all(s["exp_avg"].dtype == s["exp_avg_sq"].dtype == torch.float32 for s in state)
    # Same start, same faces: bf16 rounding moves the loss by well under a percent; learning moves it more.
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)
    assert losses["bf16"][-1] < losses["bf16"][0]
    # The optimiser stepped the fp32 masters themselves (not a copy that the next cast would overwrite).
    start = _runner(tiny_config, BF16).net.encoder.parameters()
    assert all(not torch.equal(p, p0) for p, p0 in zip(low.net.encoder.parameters(), start))


def test_bf16_training_learns_like_fp32_and_saves_fp32(faceset_a, faceset_b, tiny_config, tmp_path):
    cfg = replace(tiny_config, steps=12)
    fp32 = train(faceset_a, faceset_b, tmp_path / "fp32", cfg)
    bf16 = train(faceset_a, faceset_b, tmp_path / "bf16", replace(cfg, precision="bf16"))
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    for side in ("loss_a", "loss_b"):
        assert getattr(bf16, side) == pytest.approx(getattr(fp32, side), rel=0.1)
    weights = _weights(tmp_path / "bf16")
    assert weights.keys() == _weights(tmp_path / "fp32").keys()  # same state-dict keys: loads as any model
    assert {t.dtype for t in weights.values()} == {torch.float32}


def test_a_bf16_snapshot_resumes_exactly(faceset_a, faceset_b, tiny_config, tmp_path):
    """bf16 runs hold channels-last weights; snapshots store Adam's moments contiguous, and restored as such
    the fused step paired each weight with another element's moments (0.011 off after 6 steps): restored
    moments take their weight's layout (`checkpoint._match_layouts`)."""
    cfg = replace(tiny_config, steps=10, precision="bf16")
    train(faceset_a, faceset_b, tmp_path / "continuous", cfg)
    done = []
    first = train(faceset_a, faceset_b, tmp_path / "resumed", cfg,
                  progress=lambda *a: done.append(1), should_stop=lambda: len(done) >= 4)
    assert first.step == 4
    second = train(faceset_a, faceset_b, tmp_path / "resumed", cfg)
    assert (second.step, second.precision) == (10, "bf16")
    a, b = _weights(tmp_path / "continuous"), _weights(tmp_path / "resumed")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_guard_rolls_back_a_nan_step_in_bf16(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    """A step that leaves NaN in the fp32 master weights (as an overflow would) is rolled back as in fp32."""
    real, calls = StepRunner._step, []

    def step(self, *args):
        out = real(self, *args)
        calls.append(1)
        if len(calls) == 6:
            with torch.no_grad():
                next(self.net.parameters()).fill_(float("nan"))
            out = dict(out, loss_a=float("nan"))
        return out

    monkeypatch.setattr(StepRunner, "_step", step)
    result = train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, steps=10, save_every=4, precision="bf16"))
    assert (result.step, result.rollbacks, result.precision) == (10, 1, "bf16")
    assert all(torch.isfinite(t).all() for t in _weights(tmp_path / "m").values())


def test_bf16_step_through_ddp_matches_the_plain_step(tiny_config, tmp_path):
    """Under DDP the bf16 pass runs through the wrapper: its gradient hooks fire on the fp32 masters (one
    gloo rank here; test_distributed.py covers two ranks' arithmetic)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    gen = torch.Generator().manual_seed(2)
    pixels = (torch.rand(8, 5, 64, 64, generator=gen) * 255).to(torch.uint8)
    a, b = augment(pixels[:4], gen), augment(pixels[4:], gen)
    plain, wrapped = _runner(tiny_config, BF16), _runner(tiny_config, BF16)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        wrapped.model = DistributedDataParallel(wrapped.net)
        for _ in range(2):
            assert wrapped.step(a, b, 1e-3, gan_on=False) == plain.step(a, b, 1e-3, gan_on=False)
    finally:
        dist.destroy_process_group()
    for p, q in zip(plain.net.parameters(), wrapped.net.parameters()):
        assert p.dtype == torch.float32 and torch.equal(p, q)


def test_a_bf16_math_step_has_the_gradient_of_an_fp32_step(tiny_config):
    """bf16 math rounds the network's convolutions and matrix products, not the losses: SSIM's variances are
    differences of nearly equal means, which bf16 operands turn into noise (its gradient was 11× its own
    size away from fp32's, and bf16-math training never left the mean face)."""
    gen = torch.Generator().manual_seed(1)
    pixels = (torch.rand(8, 5, 64, 64, generator=gen) * 255).to(torch.uint8)
    a, b = augment(pixels[:4], gen), augment(pixels[4:], gen)
    grads = {}
    for name, plan in (("fp32", Precision()), ("bf16-math", Precision(cpu_bf16_math=True))):
        runner = _runner(tiny_config, plan)
        runner.step(a, b, 0.0, gan_on=False)  # lr 0: the gradient of the same weights, left in .grad
        grads[name] = torch.cat([p.grad.flatten() for p in runner.net.parameters() if p.grad is not None])
    error = (grads["bf16-math"] - grads["fp32"]).norm() / grads["fp32"].norm()
    assert error < 0.05, float(error)
