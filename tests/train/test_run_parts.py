"""The parts a training run is built from, on tiny objects and without training: the divergence guard
(`train/guard.py`), snapshots on disk (`train/snapshots.py`) and the checks made before any work
(`train/preflight.py`). The whole-run tests (test_guard.py, test_snapshots.py, test_preflight.py) show
they are wired in; these pin each part's own promises, in milliseconds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from masquerade.errors import FaceSetError, ModelError, OutputError
from masquerade.models.manifest import ModelManifest
from masquerade.models.store import MODEL_JSON, SNAPSHOTS, find_snapshot, list_snapshots
from masquerade.outputs import claim_folder
from masquerade.train import guard as guard_module
from masquerade.train.checkpoint import TrainingState
from masquerade.train.config import TrainConfig, TrainConfigError
from masquerade.train.guard import Guard
from masquerade.train.preflight import model_writer, preflight
from masquerade.train.snapshots import restore, resume_point, save_snapshot, sweep

FINE = {"loss_a": 0.5, "loss_b": 0.5}


def _state(seed: int = 0) -> TrainingState:
    """A two-layer net with an Adam that has taken a step (so it has moments to save and restore)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    _train_once(net, opt)
    return TrainingState(net, opt, torch.Generator().manual_seed(seed))


def _train_once(net: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    net(torch.ones(2, 3)).square().sum().backward()
    opt.step()
    opt.zero_grad()


def _snapshot_of(state: TrainingState) -> dict:
    """Everything a roll-back or a resume must give back, as plain copies."""
    gen = torch.Generator()
    gen.set_state(state.gen.get_state())
    return {"net": {k: v.clone() for k, v in state.net.state_dict().items()},
            "moments": [s["exp_avg"].clone() for s in state.opt.state.values()],
            "steps": [float(s["step"]) for s in state.opt.state.values()],
            "draw": torch.rand(4, generator=gen)}  # what the generator draws next


def _same(a: dict, b: dict) -> bool:
    return (all(torch.equal(a["net"][k], b["net"][k]) for k in a["net"]) and a["steps"] == b["steps"]
            and all(torch.equal(x, y) for x, y in zip(a["moments"], b["moments"])) and torch.equal(a["draw"], b["draw"]))


# -- the guard ---------------------------------------------------------------------------------------------
def test_the_guard_names_a_non_finite_loss_and_keeps_it_out_of_the_history():
    guard = Guard(_state(), step=0)
    assert guard.check(1, FINE) is None and list(guard.recent) == [1.0]
    reason = guard.check(2, {"loss_a": 0.5, "loss_b": float("nan")})
    assert reason == "loss_b is nan at step 2" and list(guard.recent) == [1.0]


def test_the_guard_calls_a_jump_above_the_recent_median_a_collapse_only_once_it_has_a_history():
    guard = Guard(_state(), step=0)
    high = {"loss_a": 5.0, "loss_b": 0.0}  # 5x the median of 1.0
    for step in range(1, guard_module.MIN_HISTORY):
        assert guard.check(step, FINE) is None
    assert guard.check(guard_module.MIN_HISTORY, high) is None  # 19 losses: too few to judge, so it counts
    guard = Guard(_state(), step=0)
    for step in range(1, guard_module.MIN_HISTORY + 1):
        guard.check(step, FINE)
    assert guard.check(21, {"loss_a": 3.9, "loss_b": 0.0}) is None  # below 4x: a bad batch, not a collapse
    assert "collapsed" in guard.check(22, high) and "5 at step 22" in guard.check(22, high)


def test_a_roll_back_restores_weights_optimiser_and_generator_and_halves_the_learning_rate():
    state = _state()
    guard = Guard(state, step=7, lr_scale=0.5)
    kept = _snapshot_of(state)
    for step in (8, 9):
        guard.check(step, FINE)
    _train_once(state.net, state.opt)  # the live objects move on ...
    torch.rand(10, generator=state.gen)
    with torch.no_grad():
        next(state.net.parameters()).fill_(float("nan"))  # ... and go bad
    assert not guard.weights_finite() and not _same(_snapshot_of(state), kept)
    assert guard.rollback(10, "loss_a is nan at step 10") == 7
    assert _same(_snapshot_of(state), kept) and guard.weights_finite()
    assert guard.lr_scale == 0.25 and guard.rollbacks == 1 and list(guard.recent) == []  # the history of step 7


def test_the_good_copy_does_not_share_memory_with_the_live_weights():
    state = _state()
    guard = Guard(state, step=0)
    kept = _snapshot_of(state)
    with torch.no_grad():
        for p in state.net.parameters():
            p.add_(1.0)  # in place, as an optimiser step writes
    guard.rollback(1, "test")
    assert _same(_snapshot_of(state), kept)


def test_a_run_that_fails_again_before_clean_steps_runs_out_of_strikes_and_clean_steps_forgive():
    guard = Guard(_state(), step=0)
    for n in range(guard_module.MAX_STRIKES):
        guard.rollback(1, "again")
    with pytest.raises(ModelError, match=r"diverged 6 times in a row \(again\)"):
        guard.rollback(1, "again")

    guard = Guard(_state(), step=0)
    for n in range(guard_module.MAX_STRIKES):
        guard.rollback(1, "again")
    guard.check(1 + guard_module.CLEAN_STEPS, FINE)  # got past the failing step: the strikes start over
    assert guard.strikes == 0
    guard.rollback(2 + guard_module.CLEAN_STEPS, "once more")  # no error
    assert guard.rollbacks == guard_module.MAX_STRIKES + 1


# -- snapshots ---------------------------------------------------------------------------------------------
MANIFEST = ModelManifest("lite", {"e_dims": 8}, 64, "v3", "face", faceset_size={"a": 128, "b": 64})


def _save(model_dir: Path, state: TrainingState, step: int, keep: int = 3) -> str:
    return save_snapshot(model_dir, state, step, MANIFEST, keep, {"lr_scale": 0.5})


def test_a_snapshot_holds_the_manifest_record_with_its_step_and_only_the_newest_are_kept(tmp_path):
    state = _state()
    digests = [_save(tmp_path, state, step, keep=2) for step in (1, 2, 3)]
    assert [s for s, _, _ in list_snapshots(tmp_path)] == [3, 2]
    snap = find_snapshot(tmp_path, need_state=True)
    assert snap.manifest == MANIFEST.with_step(3, digests[-1]) and snap.note is None
    assert json.loads((snap.path / "state.json").read_text())["lr_scale"] == 0.5


def test_a_resume_restores_the_state_exactly(tmp_path):
    state = _state()
    _save(tmp_path, state, 4)
    kept = _snapshot_of(state)
    fresh = _state(seed=1)
    assert not _same(_snapshot_of(fresh), kept)
    resumed = resume_point(tmp_path)
    assert resumed.full and resumed.snapshot.step == 4 and restore(resumed, fresh)["lr_scale"] == 0.5
    assert _same(_snapshot_of(fresh), kept)


def test_a_damaged_state_falls_back_to_an_older_snapshot_then_to_weights_alone(tmp_path):
    state = _state()
    for step in (1, 2):
        _save(tmp_path, state, step)
    (find_snapshot(tmp_path).path / "state.safetensors").write_bytes(b"broken")
    resumed = resume_point(tmp_path)
    assert resumed.full and resumed.snapshot.step == 1 and "step_0000002: state.safetensors" in resumed.note
    (resumed.snapshot.path / "state.json").unlink()
    resumed = resume_point(tmp_path)
    assert not resumed.full and resumed.snapshot.step == 2 and "fresh optimiser" in resumed.note
    assert restore(resumed, _state(seed=1)) == {}


def test_saving_an_older_step_drops_the_later_snapshots_of_an_abandoned_run(tmp_path):
    state = _state()
    for step in (1, 2, 3):
        _save(tmp_path, state, step)
    _save(tmp_path, state, 2)  # resumed from step 2 (say 3 was damaged) and saved step 2 again
    assert [s for s, _, _ in list_snapshots(tmp_path)] == [2, 1]


def test_the_sweep_removes_only_the_partial_folders_of_killed_saves(tmp_path):
    state = _state()
    _save(tmp_path, state, 1)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that has ended: its partial folder is a leftover
    partial = tmp_path / "snapshots" / f".step_0000002.masq-partial-{gone.pid}-abcd1234"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("mine")
    assert sweep(tmp_path) == 4
    assert not partial.exists() and (tmp_path / "notes.txt").read_text() == "mine"
    assert [s for s, _, _ in list_snapshots(tmp_path)] == [1]


# -- preflight ---------------------------------------------------------------------------------------------
class TinyFaceSet:
    """What preflight needs of a face set: its folder and its manifest."""

    def __init__(self, root: Path, face_id: str):
        self.root, self.manifest = root, {"id": face_id, "size": 64, "template": "v3", "coverage": "face"}
        root.mkdir(parents=True, exist_ok=True)

    def load_tensors(self, size: int):
        raise AssertionError("preflight must not load faces")


NO_PREVIEWS = TrainConfig(steps=1, preview_every=0)  # nothing to sign: no key needed


def test_preflight_returns_the_face_sets_it_checked(tmp_path):
    a, b = TinyFaceSet(tmp_path / "a", "1" * 64), TinyFaceSet(tmp_path / "b", "2" * 64)
    assert preflight(a, b, tmp_path / "model", NO_PREVIEWS) == (a, b)
    assert not (tmp_path / "model").exists()  # checks only: nothing is made


@pytest.mark.parametrize("case,error,message", [
    ("same folder", FaceSetError, "face sets A and B are the same folder"),
    ("same faces", FaceSetError, "hold the same faces"),
    ("model inside a face set", OutputError, "lies inside the input folder"),
    ("folder of other files", OutputError, "holds other files"),
])
def test_preflight_refuses_before_any_work(tmp_path, case, error, message):
    a, b = TinyFaceSet(tmp_path / "a", "1" * 64), TinyFaceSet(tmp_path / "b", "2" * 64)
    model_dir = tmp_path / "model"
    if case == "same folder":
        b = TinyFaceSet(tmp_path / "a", "2" * 64)
    elif case == "same faces":
        b.manifest["id"] = a.manifest["id"]
    elif case == "model inside a face set":
        model_dir = tmp_path / "a" / "model"
    else:
        model_dir.mkdir()
        (model_dir / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(error, match=message):
        preflight(a, b, model_dir, NO_PREVIEWS)


def test_preflight_checks_the_settings_first(tmp_path):
    a = TinyFaceSet(tmp_path / "a", "1" * 64)
    with pytest.raises(TrainConfigError, match="--steps must be"):
        preflight(a, a, tmp_path / "model", TrainConfig(steps=0))  # the same face set twice: settings first


def test_one_writer_holds_a_model_folder_and_a_failed_start_leaves_no_empty_folders(tmp_path):
    model_dir = tmp_path / "new" / "model"
    with model_writer(model_dir, "train"):
        with pytest.raises(OutputError, match="already writing to this model folder.*masquerade train-upscaler"):
            with model_writer(model_dir, "train-upscaler"):
                pass
        assert model_dir.is_dir()
    with pytest.raises(RuntimeError):
        with model_writer(tmp_path / "other" / "model", "train"):
            (tmp_path / "other" / "model" / "snapshots").mkdir()
            raise RuntimeError("a check failed")
    assert not (tmp_path / "other").exists()  # the folders it made, empty, are gone
    kept = tmp_path / "third" / "model"
    with pytest.raises(RuntimeError):
        with model_writer(kept, "train"):
            (kept / "metrics.jsonl").write_text("{}\n")
            raise RuntimeError("a check failed")
    assert (kept / "metrics.jsonl").is_file()  # a folder it made but wrote into stays
    assert (kept / "snapshots").is_dir()  # with the marker that lets the same command claim it again


def test_a_first_run_that_failed_after_writing_its_mask_net_can_be_run_again(tmp_path):
    """The mask net is trained before the first snapshot; a run that fails after it (Ctrl-C, a full disk)
    must leave a folder the same command accepts, not one refused as holding other files."""
    model_dir = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        with model_writer(model_dir, "train"):
            (model_dir / "occlusion").mkdir()
            (model_dir / "occlusion" / "mask.json").write_text("{}")
            raise KeyboardInterrupt
    assert (model_dir / "occlusion" / "mask.json").is_file()  # its work is kept
    claim_folder(model_dir, (SNAPSHOTS, MODEL_JSON))  # and the rerun may use the folder
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds other files"):  # a user's own folder is still refused
        claim_folder(user, (SNAPSHOTS, MODEL_JSON))
