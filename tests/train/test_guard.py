"""The divergence guard: a NaN step or a collapsed loss rolls training back, lowers the learning rate, logs
it in metrics.jsonl and carries on; a run that keeps failing stops with a clear error and its snapshots
intact."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from masquerade.errors import ModelError
from masquerade.models.store import find_snapshot, list_snapshots
from masquerade.train import train
from masquerade.train.step import StepRunner

pytestmark = pytest.mark.slow  # every test here trains a model (the fast loop leaves them to CI)


def _sabotage(monkeypatch, at: set[int] | None = None, from_call: int | None = None, *, stats=None, weights=True):
    """Make chosen calls of the real training step go bad: NaN weights (as a real overflow leaves them) and the
    losses `stats` returns (default NaN)."""
    real = StepRunner._step
    calls = {"n": 0}

    def step(self, a, b, lr, gan_on, *rest):
        out = real(self, a, b, lr, gan_on, *rest)
        calls["n"] += 1
        n = calls["n"]
        if (at and n in at) or (from_call is not None and n >= from_call):
            if weights:
                with torch.no_grad():
                    next(self.net.parameters()).fill_(float("nan"))
            if stats is not False:
                out = dict(out, **(stats or {"loss_a": float("nan")}))
        return out

    monkeypatch.setattr(StepRunner, "_step", step)
    return calls


def _events(model_dir: Path) -> list[dict]:
    rows = [json.loads(ln) for ln in (model_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("event") == "rollback"]


def _finite(path: Path) -> bool:
    return all(torch.isfinite(t).all() for t in load_file(str(path)).values())


def test_nan_step_rolls_back_lowers_lr_and_carries_on(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    calls = _sabotage(monkeypatch, at={8})
    lrs = {}
    progress = lambda task, done, total, stats: lrs.__setitem__(done, stats["lr"])  # noqa: E731
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=14, save_every=5), progress=progress)
    assert (result.step, result.rollbacks, result.lr_scale) == (14, 1, 0.5)
    # steps 6..10 ran twice: the losses are read at check points (step 10 here, a save), so the bad step 8 is
    # found there; everything from the last good state (step 5) on is dropped and run again at half the rate
    assert calls["n"] == 19
    [event] = _events(model_dir)
    assert (event["step"], event["to_step"], event["lr"]) == (8, 5, pytest.approx(5e-4))
    assert "loss_a is nan" in event["reason"]
    assert lrs[5] == pytest.approx(1e-3) and lrs[6] == lrs[14] == pytest.approx(5e-4)
    assert "rolled back" in result.notes[0]
    for step, path, _ in list_snapshots(model_dir):
        assert _finite(path / "model.safetensors"), step
    assert math.isfinite(result.loss_a) and math.isfinite(result.loss_b)

    # The lowered rate is part of the snapshot: a resumed run keeps it.
    assert json.loads((find_snapshot(model_dir).path / "state.json").read_text())["lr_scale"] == 0.5
    monkeypatch.undo()
    again = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=15, save_every=5), progress=progress)
    assert (again.lr_scale, again.rollbacks) == (0.5, 0) and lrs[15] == pytest.approx(5e-4)


def test_collapsed_loss_rolls_back_without_any_nan(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    _sabotage(monkeypatch, at={27}, stats={"loss_a": 50.0}, weights=False)
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=30, save_every=5))
    [event] = _events(model_dir)
    assert (event["step"], event["to_step"]) == (27, 25) and "collapsed" in event["reason"]
    assert (result.step, result.rollbacks) == (30, 1)


def test_weights_that_overflow_under_a_finite_loss_are_never_saved(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    _sabotage(monkeypatch, at={10}, stats=False)  # NaN weights from step 10's update, whose loss looked fine
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=12, save_every=5))
    [event] = _events(model_dir)
    assert (event["step"], event["to_step"]) == (10, 5) and "non-finite" in event["reason"]
    assert result.step == 12 and _finite(find_snapshot(model_dir).weights)


def test_a_run_that_keeps_diverging_stops_with_a_clear_error(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    _sabotage(monkeypatch, from_call=3)
    with pytest.raises(ModelError, match="diverged 6 times in a row.*lower --lr"):
        train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=20, save_every=1))
    assert len(_events(model_dir)) == 5
    snap = find_snapshot(model_dir, need_state=True)
    assert snap.step == 2 and _finite(snap.weights)


def test_an_overflow_in_the_last_step_is_rolled_back_and_redone(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    calls = _sabotage(monkeypatch, at={12}, stats=False)
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=12, save_every=5))
    [event] = _events(model_dir)
    assert (event["step"], event["to_step"]) == (12, 10)
    assert (result.step, calls["n"]) == (12, 14) and _finite(find_snapshot(model_dir).weights)
    assert json.loads((find_snapshot(model_dir).path / "state.json").read_text())["lr_scale"] == 0.5


def test_weights_that_overflow_before_a_preview_are_rolled_back_not_drawn(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                         monkeypatch):
    """A preview of NaN weights drew garbage and printed numpy's 'invalid value encountered in cast' warning with a
    source line; the weights are checked before a preview is drawn or scored, and rolled back instead."""
    import warnings

    model_dir = tmp_path / "m"
    _sabotage(monkeypatch, at={4}, stats=False)  # NaN weights after step 4's update, whose loss looked fine
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the run, numpy's included
        result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=6, save_every=100, preview_every=2))
    [event] = _events(model_dir)
    assert event["step"] == 4 and "non-finite" in event["reason"]
    assert result.step == 6 and result.rollbacks == 1
