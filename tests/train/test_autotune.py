"""`--precision auto` on a CPU: fp32, bf16 and bf16 math are timed on throwaway copies; the pick is kept per
model. On a CPU without native bf16, auto is fp32 and nothing is timed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from masquerade.models import build_model
from masquerade.models.store import find_snapshot
from masquerade.train import train
from masquerade.train.autotune import AUTO_CANDIDATES, CANDIDATES, fastest_cpu_precision
from masquerade.train.config import Precision, native_bf16, resolve_precision



@pytest.mark.slow
def test_timing_picks_the_faster_and_leaves_no_trace(tiny_config):
    rng = torch.get_rng_state()
    flags = (torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision)
    plan, seconds = fastest_cpu_precision(lambda: build_model("lite", dict(tiny_config.model_options)), tiny_config, 64, 4, timed_steps=1)
    assert plan in AUTO_CANDIDATES and set(seconds) == {"fp32", "bf16"} and min(seconds.values()) > 0
    assert plan.label == min(seconds, key=seconds.get)
    assert torch.equal(torch.get_rng_state(), rng)  # the real run's random numbers are untouched
    assert (torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision) == flags


@pytest.mark.slow
def test_auto_pick_is_recorded_and_kept_on_resume(faceset_a, faceset_b, tiny_config, tmp_path):
    if not native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no native bf16: auto means fp32, nothing to time")
    cfg = replace(tiny_config, precision="auto", steps=2)
    first = train(faceset_a, faceset_b, tmp_path / "m", cfg)
    manifest_path = find_snapshot(tmp_path / "m").path / "model.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["precision"] == first.precision in {c.label for c in CANDIDATES}
    # Say the other one was picked: a resumed run must compute as recorded, not time again.
    other = next(c.label for c in CANDIDATES if c.label != first.precision)
    manifest_path.write_text(json.dumps({**manifest, "precision": other}))
    second = train(faceset_a, faceset_b, tmp_path / "m", replace(cfg, steps=3))
    assert (second.step, second.precision) == (3, other)


@pytest.mark.parametrize("fastest", ["fp32", "bf16", "bf16-math"])
def test_the_fastest_candidate_is_picked(tiny_config, fastest):
    """The choice with a stubbed timer: every candidate is timed once, on its own runner, and the least wins."""
    timed = []

    def timer(runner, a, b, steps):
        timed.append(runner.precision.label)
        return 1.0 if runner.precision.label == fastest else 2.0 + len(timed)

    build = lambda: build_model("lite", dict(tiny_config.model_options))  # noqa: E731
    plan, seconds = fastest_cpu_precision(build, tiny_config, 64, 4, timer=timer, candidates=CANDIDATES)
    assert plan.label == fastest and sorted(timed) == sorted(seconds) == ["bf16", "bf16-math", "fp32"]


def test_auto_times_only_the_precisions_that_train_well_and_resume_exactly(tiny_config):
    """fp32 and bf16 (which learns like fp32 and resumes bit-exactly) are timed; bf16 math, which gains little
    over fp32, is not. The faster one is picked."""
    for faster in ("fp32", "bf16"):
        timed = []
        build = lambda: build_model("lite", dict(tiny_config.model_options))  # noqa: E731

        def timer(runner, a, b, steps, timed=timed, faster=faster):
            timed.append(runner.precision.label)
            return 1.0 if runner.precision.label == faster else 2.0

        plan, _ = fastest_cpu_precision(build, tiny_config, 64, 4, timer=timer)
        assert timed == ["fp32", "bf16"] and plan.label == faster


@pytest.mark.slow
def test_without_native_bf16_auto_is_fp32_and_times_nothing(faceset_a, faceset_b, tiny_config, tmp_path,
                                                            monkeypatch):
    from masquerade.train import autotune, config

    monkeypatch.setattr(config, "native_bf16", lambda device: False)
    monkeypatch.setattr(autotune, "fastest_cpu_precision", lambda *a, **k: pytest.fail("auto timed without bf16"))
    assert resolve_precision("auto", torch.device("cpu")) == Precision()
    assert resolve_precision("bf16", torch.device("cpu")).label == "bf16"  # asked for by name: emulated, still runs
    result = train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, precision="auto", steps=1))
    assert result.precision == "fp32"
