"""Housekeeping off the training thread (`train/housekeeping.py`): the background worker's promises on their
own (a failure reaches the caller, `wait` waits, at most one job waits), the clocks that say when a chore is
due, the copy a snapshot is written from, and whole runs: a snapshot written late still holds its own step,
a failed write stops the run, and housekeeping never changes what training computes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from masquerade.models.store import find_snapshot, list_snapshots
from masquerade.train import housekeeping, train
from masquerade.train.checkpoint import TrainingState, copy_state, pack_state
from masquerade.train.config import TrainConfig
from masquerade.train.guard import CHECK_EVERY
from masquerade.train.housekeeping import Cadence, Housekeeper

WAIT = 30.0  # seconds a test waits for the worker at most before it fails (never reached when it works)


# -- the worker --------------------------------------------------------------------------------------------
def test_a_failed_job_raises_on_the_callers_thread_and_drops_the_job_behind_it():
    keeper, ran, gate = Housekeeper(), [], threading.Event()

    def fail():
        gate.wait(WAIT)
        raise OSError("disk full")

    keeper.submit(fail)
    keeper.submit(lambda: ran.append("after"))  # waits behind the failing job
    gate.set()
    with pytest.raises(OSError, match="disk full"):
        keeper.wait()
    with pytest.raises(OSError, match="disk full"):  # and again at the next hand-over: never swallowed
        keeper.submit(lambda: ran.append("later"))
    assert keeper.close() is None and ran == []  # raised already: nothing left to report


def test_close_reports_a_failure_not_raised_yet():
    keeper = Housekeeper()
    keeper.submit(lambda: 1 / 0)
    assert isinstance(keeper.close(), ZeroDivisionError)


def test_wait_returns_only_when_every_job_has_finished():
    keeper, done = Housekeeper(), []
    for i in range(3):
        keeper.submit(lambda i=i: (time.sleep(0.05), done.append(i)))
    keeper.wait()
    assert done == [0, 1, 2]
    keeper.close()


def test_at_most_one_job_waits_while_one_runs():
    keeper, gate, started, order = Housekeeper(), threading.Event(), threading.Event(), []

    def first():
        started.set()
        gate.wait(WAIT)
        order.append("first")

    keeper.submit(first)
    assert started.wait(WAIT)
    keeper.submit(lambda: order.append("second"))
    assert keeper.waiting
    third = threading.Thread(target=keeper.submit, args=(lambda: order.append("third"),))
    third.start()
    time.sleep(0.2)
    assert third.is_alive() and order == []  # the third hand-over waits for the slot: no queue grows
    gate.set()
    third.join(WAIT)
    keeper.wait()
    assert order == ["first", "second", "third"]
    keeper.close()


# -- when chores are due -------------------------------------------------------------------------------------
def test_a_step_count_is_kept_exactly_and_zero_means_never():
    every = Cadence(steps=3, seconds=30.0, last=0.0)
    assert [s for s in range(1, 10) if every.due(s, now=0.0)] == [3, 6, 9] and not every.by_clock
    never = Cadence(steps=0, seconds=30.0, last=0.0)
    assert not any(never.due(s, now=1e9) for s in range(1, 50))


def test_the_clock_is_read_at_check_points_only():
    clock = Cadence(steps=None, seconds=5.0, last=100.0)
    assert clock.by_clock
    assert not clock.due(CHECK_EVERY, now=104.0)  # not yet
    assert not clock.due(CHECK_EVERY + 1, now=200.0)  # due, but not a check point
    assert clock.due(2 * CHECK_EVERY, now=105.0)
    clock.done(105.0)
    assert not clock.due(3 * CHECK_EVERY, now=109.0)
    assert not Cadence(steps=None, seconds=None, last=0.0).due(CHECK_EVERY, now=1e9)  # no periodic chore


def test_a_chore_that_cost_the_training_thread_much_puts_off_the_next_one():
    clock = Cadence(steps=None, seconds=5.0, last=0.0)
    clock.done(100.0, cost=0.5)  # the next one no sooner than at CLOCK_SHARE of the gap
    gap = 0.5 / housekeeping.CLOCK_SHARE
    assert gap > 5.0 and not clock.due(CHECK_EVERY, now=100.0 + 0.99 * gap) and clock.due(CHECK_EVERY, now=100.0 + gap)
    clock.done(200.0, cost=1e6)  # never put off beyond a bound, however costly
    assert clock.due(CHECK_EVERY, now=200.0 + housekeeping.PUT_OFF_AT_MOST * 5.0)
    for t in range(housekeeping.COST_WINDOW):  # cheap ones again: back to every `seconds` once the costly one is old
        clock.done(300.0 + t, cost=0.001)
    assert clock.due(CHECK_EVERY, now=310.0)
    count = Cadence(steps=3, seconds=None, last=0.0)
    count.done(0.0, cost=1e6)
    assert count.due(3, now=0.0)  # a step count the user gave is kept whatever it costs


def test_step_counts_are_opt_in_and_the_clock_is_the_default():
    config = TrainConfig()
    assert (config.save_every, config.preview_every) == (None, None)
    assert config.save_seconds > 0 and config.preview_seconds > 0 and config.previews
    assert not replace(config, preview_every=0).previews


# -- the copy ---------------------------------------------------------------------------------------------------
def test_a_copy_of_the_state_packs_as_the_state_did_after_training_moves_on():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)

    def train_once():
        net(torch.ones(2, 3)).square().sum().backward()
        opt.step()
        opt.zero_grad()

    train_once()
    state = TrainingState(net, opt, torch.Generator().manual_seed(4))
    packed, weights = pack_state(state, 1), {k: v.clone() for k, v in net.state_dict().items()}
    copy = copy_state(state)
    train_once()
    state.gen.manual_seed(9)
    assert pack_state(copy, 1) == packed and pack_state(state, 1) != packed  # moments, steps and RNG as they were
    assert all(torch.equal(copy.net.state_dict()[k], v) for k, v in weights.items())
    assert not all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())


# -- whole runs ---------------------------------------------------------------------------------------------------
def _weights(model_dir, step=None):
    snaps = {s: p for s, p, _ in list_snapshots(model_dir)}
    path = snaps[step] if step is not None else find_snapshot(model_dir).path
    return load_file(str(path / "model.safetensors")), (path / "state.safetensors").read_bytes()


def test_a_snapshot_written_after_training_moved_on_holds_its_own_step(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                       monkeypatch):
    moved_on, late = threading.Event(), []
    real = housekeeping.save_snapshot

    def slow_save(model_dir, state, step, *a, **k):
        if step == 5:  # written only once the run has trained two more steps on the live objects
            late.append(moved_on.wait(WAIT))
        return real(model_dir, state, step, *a, **k)

    def progress(stage, step, total, stats):
        if step >= 7:
            moved_on.set()

    monkeypatch.setattr(housekeeping, "save_snapshot", slow_save)
    cfg = replace(tiny_config, steps=10, save_every=5, keep=3)
    train(faceset_a, faceset_b, tmp_path / "late", cfg, progress=progress)
    assert late == [True]
    monkeypatch.undo()
    train(faceset_a, faceset_b, tmp_path / "five", replace(cfg, steps=5))
    (late_w, late_state), (five_w, five_state) = _weights(tmp_path / "late", 5), _weights(tmp_path / "five", 5)
    assert late_w.keys() == five_w.keys() and all(torch.equal(late_w[k], five_w[k]) for k in late_w)
    assert late_state == five_state


def test_a_failed_save_stops_the_run_at_a_check_point_and_frees_the_folder(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                           monkeypatch):
    steps, real = [], housekeeping.save_snapshot

    def full_after_step_2(model_dir, state, step, *a, **k):
        if step > 2:
            raise OSError("No space left on device")
        return real(model_dir, state, step, *a, **k)

    monkeypatch.setattr(housekeeping, "save_snapshot", full_after_step_2)
    model_dir = tmp_path / "m"
    with pytest.raises(OSError, match="No space left"):
        train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=40, save_every=2),
              progress=lambda stage, step, *a: steps.append(step))
    assert max(steps) < 40  # raised while training, not only at the end
    monkeypatch.undo()
    assert find_snapshot(model_dir, need_state=True).step == 2
    assert train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=6)).step == 6  # the lock was given back


def test_the_final_snapshot_and_preview_are_on_disk_when_train_returns(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                       monkeypatch):
    real = housekeeping.save_snapshot
    monkeypatch.setattr(housekeeping, "save_snapshot", lambda *a, **k: (time.sleep(0.5), real(*a, **k))[1])
    model_dir = tmp_path / "m"
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=3, preview_every=3, preview_faces=2))
    assert find_snapshot(model_dir, need_state=True).step == 3 and result.last_preview.is_file()
    assert result.weights_hash == find_snapshot(model_dir).manifest.weights_sha256


def test_chores_due_by_the_clock_are_put_off_while_the_worker_is_behind(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                        monkeypatch):
    real = housekeeping.write_preview
    monkeypatch.setattr(housekeeping, "write_preview", lambda *a, **k: (time.sleep(0.4), real(*a, **k))[1])
    model_dir = tmp_path / "m"
    cfg = replace(tiny_config, steps=12 * CHECK_EVERY, preview_every=None, preview_seconds=1e-6, preview_faces=2)
    train(faceset_a, faceset_b, model_dir, cfg)
    pngs = sorted(p.name for p in (model_dir / "previews").glob("*.png"))
    assert 1 < len(pngs) < 12 + 1  # due at every check point, but never queued behind a slow worker
    assert pngs[-1] == f"step_{12 * CHECK_EVERY:07d}.png"  # the run's end still gets its preview


@pytest.mark.parametrize("chores", [dict(preview_every=2, save_every=3, preview_faces=2),
                                    dict(preview_every=None, preview_seconds=1e-6, save_seconds=1e-6, preview_faces=2)],
                         ids=["by steps", "by the clock"])
def test_housekeeping_never_changes_what_training_computes(faceset_a, faceset_b, tiny_config, tmp_path, chores):
    cfg = replace(tiny_config, steps=2 * CHECK_EVERY)
    quiet = train(faceset_a, faceset_b, tmp_path / "quiet", cfg)
    busy = train(faceset_a, faceset_b, tmp_path / "busy", replace(cfg, **chores))
    assert len(list((tmp_path / "busy" / "previews").glob("*.png"))) >= 2
    assert busy.weights_hash == quiet.weights_hash
    assert _weights(tmp_path / "busy")[1] == _weights(tmp_path / "quiet")[1]  # optimiser and RNG too
