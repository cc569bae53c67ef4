"""Model folders as a history of complete snapshots: pruning, falling back past damaged ones, migrating the
earlier layout (four files at the folder's top), sweeping leftovers of killed runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from masquerade.errors import ModelError, OutputError
from masquerade.models import load_model
from masquerade.models.store import find_snapshot, list_snapshots, read_manifest, sha256_hex, verify_snapshot
from masquerade.outputs import partial_path
from masquerade.train import train

pytestmark = pytest.mark.slow  # every test here trains a model (the fast loop leaves them to CI)


def _steps(model_dir: Path) -> list[int]:
    return [step for step, _, legacy in list_snapshots(model_dir) if not legacy]


def _damage(path: Path) -> None:
    """Flip one byte in the middle of a file (the size and name stay: only the hash can tell)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6, msg=k)


def _to_earlier_layout(model_dir: Path, dest: Path) -> Path:
    """A folder as the earlier Masquerade wrote it: the newest snapshot's four files at the top."""
    dest.mkdir(parents=True)
    for f in find_snapshot(model_dir, need_state=True).path.iterdir():
        shutil.copyfile(f, dest / f.name)
    return dest


def test_each_save_is_a_snapshot_and_only_the_newest_keep_stay(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    (model_dir / "upscalers").mkdir(parents=True)  # another helper's files in the model folder: left alone
    (model_dir / "upscalers" / "x.safetensors").write_bytes(b"not ours to prune")
    (model_dir / "notes.txt").write_text("the user's own file")
    with pytest.raises(OutputError, match="holds other files"):  # a folder with other files and no model is refused ...
        train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=1))
    (model_dir / "snapshots").mkdir()  # ... but one that holds a model (even one killed before its first save) is not
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=7, save_every=1, keep=3))
    assert _steps(model_dir) == [7, 6, 5]
    for step, path, _ in list_snapshots(model_dir):
        assert verify_snapshot(path, step, need_state=True)["step"] == step
    assert result.weights_hash == sha256_hex((model_dir / "snapshots" / "step_0000007" / "model.safetensors").read_bytes())
    assert (model_dir / "upscalers" / "x.safetensors").read_bytes() == b"not ours to prune"
    assert (model_dir / "notes.txt").read_text() == "the user's own file"

    train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=9, save_every=1, keep=1))
    assert _steps(model_dir) == [9]
    assert not [p for p in (model_dir / "snapshots").iterdir() if p.name != "step_0000009"]


def test_damaged_newest_snapshot_falls_back_with_a_note(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    cfg = replace(tiny_config, steps=4, save_every=1, keep=3)
    train(faceset_a, faceset_b, model_dir, cfg)
    _damage(model_dir / "snapshots" / "step_0000004" / "model.safetensors")

    model = load_model(model_dir, device="cpu")  # convert takes the newest intact one and says so
    assert model.hash == read_manifest(model_dir).weights_sha256 == \
        sha256_hex((model_dir / "snapshots" / "step_0000003" / "model.safetensors").read_bytes())
    assert "step_0000004" in model.note and "step 3" in model.note and "does not match" in model.note
    assert model.notes == (model.note,)

    # Training recovers from the same snapshot instead of refusing, and replaces the damaged one.
    result = train(faceset_a, faceset_b, model_dir, replace(cfg, steps=6))
    assert (result.step, result.steps_run) == (6, 3)
    assert any("step_0000004" in n and "damaged" in n for n in result.notes)
    assert _steps(model_dir) == [6, 5, 4]
    assert load_model(model_dir, device="cpu").note is None


def test_damaged_state_prefers_an_older_exact_snapshot_then_a_fresh_optimiser(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    cfg = replace(tiny_config, steps=3, save_every=1, keep=2)
    train(faceset_a, faceset_b, model_dir, cfg)
    _damage(model_dir / "snapshots" / "step_0000003" / "state.safetensors")
    assert load_model(model_dir, device="cpu").note is None  # convert needs only the weights: step 3 is fine
    result = train(faceset_a, faceset_b, model_dir, replace(cfg, steps=4))
    assert result.steps_run == 2 and "state.safetensors does not match" in result.notes[0]

    for snap in (model_dir / "snapshots").iterdir():
        (snap / "state.json").write_text("{")
    result = train(faceset_a, faceset_b, model_dir, replace(cfg, steps=5))
    assert (result.step, result.steps_run) == (5, 1) and "fresh optimiser" in result.notes[0]

    for snap in (model_dir / "snapshots").iterdir():
        _damage(snap / "model.safetensors")
    with pytest.raises(ModelError, match="no snapshot has intact weights"):
        load_model(model_dir, device="cpu")
    with pytest.raises(ModelError, match="restore the folder from a backup"):
        train(faceset_a, faceset_b, model_dir, replace(cfg, steps=6))


def test_earlier_layout_loads_resumes_exactly_and_migrates(faceset_a, faceset_b, tiny_config, tmp_path):
    cfg = replace(tiny_config, steps=6, gan_weight=0.1, gan_warmup=2)
    train(faceset_a, faceset_b, tmp_path / "continuous", cfg)
    train(faceset_a, faceset_b, tmp_path / "new", replace(cfg, steps=3))
    old = _to_earlier_layout(tmp_path / "new", tmp_path / "old")
    (old / "notes.txt").write_text("mine")
    stale_temp = old / ".model.safetensors.k2j4h5g6.safetensors"  # the earlier writer's leftover temp file
    stale_temp.write_bytes(b"x" * 1000)
    old_hash = sha256_hex((old / "model.safetensors").read_bytes())

    model = load_model(old, device="cpu")
    assert model.hash == old_hash and model.note is None and read_manifest(old).step == 3

    result = train(faceset_a, faceset_b, old, cfg)
    assert (result.step, result.steps_run, result.notes) == (6, 3, ())
    assert _steps(old) == [6, 3]  # the earlier files became the snapshot of step 3 ...
    assert sha256_hex((old / "snapshots" / "step_0000003" / "model.safetensors").read_bytes()) == old_hash
    assert sorted(p.name for p in old.iterdir()) == ["notes.txt", "occlusion", "previews", "snapshots"]  # ... and left the top
    assert (old / "notes.txt").read_text() == "mine"
    _assert_same_weights(find_snapshot(old).weights, find_snapshot(tmp_path / "continuous").weights)


def test_earlier_layout_killed_between_its_files_recovers(faceset_a, faceset_b, tiny_config, tmp_path):
    """The failure that made resume refuse for good: state from step 3, weights and manifest from step 2."""
    cfg = replace(tiny_config, steps=2)
    train(faceset_a, faceset_b, tmp_path / "two", cfg)
    train(faceset_a, faceset_b, tmp_path / "three", replace(cfg, steps=3))
    old = _to_earlier_layout(tmp_path / "two", tmp_path / "old")
    three = find_snapshot(tmp_path / "three").path
    for name in ("state.json", "state.safetensors"):
        shutil.copyfile(three / name, old / name)

    assert load_model(old, device="cpu").hash == sha256_hex((old / "model.safetensors").read_bytes())
    result = train(faceset_a, faceset_b, old, replace(cfg, steps=4))
    assert (result.step, result.steps_run) == (4, 2) and "fresh optimiser" in result.notes[0]
    assert _steps(old) == [4, 2]
    # Its inconsistent state files are not in any snapshot, so they stay (never delete what we cannot vouch for).
    assert sorted(p.name for p in old.iterdir() if p.is_file()) == ["state.json", "state.safetensors"]


def test_leftovers_of_killed_runs_are_swept_and_live_ones_kept(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=1))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    snaps = model_dir / "snapshots"
    killed = snaps / f".step_0000002.masq-partial-{dead_pid}-0123abcd"
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"\0" * 5000)
    live = partial_path(snaps / "step_0000009", suffix="")  # this process's: alive, so not touched
    live.mkdir()
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=2))
    assert result.step == 2 and not killed.exists() and live.is_dir()
    assert _steps(model_dir) == [2, 1]


def test_manifest_reports_the_loaded_snapshot(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=2, save_every=1))
    manifest = read_manifest(model_dir)
    assert manifest.step == 2 and manifest.architecture == "lite"
    meta = json.loads((find_snapshot(model_dir).path / "state.json").read_text())
    assert meta["step"] == 2 and meta["lr_scale"] == 1.0
    with pytest.raises(ModelError, match="not a model folder"):
        read_manifest(tmp_path)
    (tmp_path / "empty" / "snapshots").mkdir(parents=True)
    with pytest.raises(ModelError, match="no saved snapshot yet"):
        load_model(tmp_path / "empty", device="cpu")
