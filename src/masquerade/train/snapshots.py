"""Snapshots on disk: each save is one complete folder made visible by one rename; the last few are kept.

Why a folder per save rather than four files replaced one by one: a kill between two of those files left
weights and optimiser state from different steps, and the model refused to resume for good. Here a save
writes weights, training state and manifest into `snapshots/.step_N.masq-partial-PID-XXXX/`, fsyncs them,
and renames the folder to `snapshots/step_N` (then fsyncs `snapshots/`): a reader sees all of a snapshot or
none of it. Leftover partial folders of killed runs are swept at the next start (`outputs.sweep_partials`).

Reading and verifying snapshots is `models.store.find_snapshot` (convert uses it too); this module adds the
training side: resume from the newest snapshot with intact state, migrate a folder of the earlier layout,
and prune to the newest `keep`. It deletes only folders named `step_*` under `snapshots/`, our partials,
and earlier-layout files once a verified snapshot holds identical copies; nothing else in a model folder
(previews, metrics, `upscalers/`, a user's own files) is touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..models.manifest import ModelManifest
from ..models.store import (
    LEGACY_FILES, MODEL_JSON, SNAPSHOTS, STATE, STATE_JSON, WEIGHTS, DamagedSnapshot, Snapshot,
    file_sha256, find_snapshot, list_snapshots, load_weights, sha256_hex, snapshot_name, verify_snapshot,
    weights_bytes,
)
from ..outputs import partial_path, sweep_partials
from .checkpoint import TrainingState, pack_state, unpack_state

# Temp files of the earlier atomic writer (tempfile.mkstemp beside the target), never cleaned up by it.
_OLD_TEMP = re.compile(r"^\.(model\.json|model\.safetensors|state\.json|state\.safetensors|metrics\.jsonl)"
                       r"\.[a-z0-9_]{8}\.(json|safetensors|jsonl)$")
_LEFTOVERS_CHECKED: set[Path] = set()  # model folders whose earlier-layout leftovers were looked at already
_MIGRATION_FAILED: set[Path] = set()  # earlier-layout folders this process could not migrate (left as they are)


def _write_durable(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def _discard(folder: Path) -> None:
    """Remove one of our snapshot folders: first renamed to a partial name (gone from readers' view in one
    step), then deleted; a kill in between leaves a partial that the next start sweeps."""
    aside = partial_path(folder, suffix="")
    os.rename(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished folder into place; a same-step folder already there (a damaged snapshot a resume
    passed over, or an abandoned one) is moved aside first."""
    if final.exists():
        aside = partial_path(final, suffix="")
        os.rename(final, aside)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(tmp, final)
        _fsync_dir(final.parent)


def _write_snapshot(folder: Path, step: int, files: dict[str, bytes]) -> Path:
    final = folder / snapshot_name(step)
    tmp = partial_path(final, suffix="")
    tmp.mkdir()
    try:
        for name, data in files.items():  # manifest last: a reader checking the temp folder finds it complete
            _write_durable(tmp / name, data)
        _fsync_dir(tmp)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def save_snapshot(model_dir: Path, state: TrainingState, step: int, manifest: ModelManifest, keep: int,
                  extra: dict[str, Any] | None = None) -> str:
    """Save a complete snapshot of step `step`, keep the newest `keep`; returns the weights' sha256.

    Snapshots of later steps than `step` are dropped first: they belong to a run this one has abandoned
    (it resumed from an older snapshot because they were damaged).
    """
    weights = weights_bytes(state.net)
    digest = sha256_hex(weights)
    data, meta = pack_state(state, step, extra)
    meta["state_sha256"] = sha256_hex(data)
    full = manifest.with_step(step, digest).to_dict()
    folder = model_dir / SNAPSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    migrate_legacy(model_dir)
    for later, path, legacy in list_snapshots(model_dir):
        if later > step and not legacy:
            _discard(path)
    _write_snapshot(folder, step, {STATE: data, STATE_JSON: _json_bytes(meta), WEIGHTS: weights,
                                   MODEL_JSON: _json_bytes(full)})
    prune(model_dir, keep)
    return digest


def prune(model_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` snapshot folders; returns those deleted."""
    snaps = [path for _, path, legacy in list_snapshots(model_dir) if not legacy]
    for path in snaps[keep:]:
        _discard(path)
    return snaps[keep:]


def sweep(model_dir: Path) -> int:
    """Bytes freed by removing dead runs' partial files and folders (and the earlier writer's temp files)."""
    freed = sweep_partials(model_dir) + sweep_partials(model_dir / SNAPSHOTS)
    if (model_dir / MODEL_JSON).is_file() or (model_dir / SNAPSHOTS).is_dir():
        for entry in model_dir.iterdir():
            if _OLD_TEMP.match(entry.name) and entry.is_file() and not entry.is_symlink():
                freed += entry.stat().st_size
                entry.unlink()
    return freed


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        return a.stat().st_size == b.stat().st_size and file_sha256(a) == file_sha256(b)
    except (OSError, DamagedSnapshot):
        return False


def migrate_legacy(model_dir: Path) -> Path | None:
    """Turn an earlier-layout folder (the four files at its top) into a snapshot folder; returns it.

    The files are hard-linked (copied where links are not possible) into a new snapshot, which is published
    like any other; only then are the top-level files removed, and only those that the snapshot holds an
    identical copy of. Files that do not verify are left where they are: we cannot vouch they are ours.
    """
    folder = model_dir / SNAPSHOTS
    if not (model_dir / MODEL_JSON).is_file():
        _drop_migrated_leftovers(model_dir)
        return None
    if model_dir.resolve() in _MIGRATION_FAILED:
        return None
    _MIGRATION_FAILED.add(model_dir.resolve())  # until it succeeds: no re-hashing at every save
    try:
        manifest, names = verify_snapshot(model_dir, 0, legacy=True, need_state=True), LEGACY_FILES
    except DamagedSnapshot:
        try:
            manifest, names = verify_snapshot(model_dir, 0, legacy=True), (MODEL_JSON, WEIGHTS)
        except DamagedSnapshot:
            return None
    step = int(manifest.get("step", 0))
    final = folder / snapshot_name(step)
    if not final.is_dir():
        folder.mkdir(exist_ok=True)
        tmp = partial_path(final, suffix="")
        tmp.mkdir()
        try:
            for name in names[1:]:
                try:
                    os.link(model_dir / name, tmp / name)
                except OSError:
                    shutil.copyfile(model_dir / name, tmp / name)
                    with open(tmp / name, "rb+") as f:
                        os.fsync(f.fileno())
            digest = file_sha256(tmp / WEIGHTS)
            _write_durable(tmp / MODEL_JSON, _json_bytes({**manifest, "step": step, "weights_sha256": digest}))
            _fsync_dir(tmp)
            os.rename(tmp, final)
            _fsync_dir(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if not _same_file(model_dir / WEIGHTS, final / WEIGHTS):
        return None  # a snapshot of that step with other weights was there already: leave both alone
    (model_dir / MODEL_JSON).unlink()  # first: without it the rest no longer reads as a model
    _MIGRATION_FAILED.discard(model_dir.resolve())
    _drop_migrated_leftovers(model_dir)
    return final


def _drop_migrated_leftovers(model_dir: Path) -> None:
    """Top-level weights/state files of the earlier layout whose identical copy a snapshot holds (looked at
    once per process: files that match none stay, and hashing them at every save would cost time)."""
    tops = [model_dir / n for n in (WEIGHTS, STATE_JSON, STATE) if (model_dir / n).is_file()]
    if not tops or model_dir.resolve() in _LEFTOVERS_CHECKED:
        return
    _LEFTOVERS_CHECKED.add(model_dir.resolve())
    snaps = [path for _, path, legacy in list_snapshots(model_dir) if not legacy]
    for top in tops:
        if any(_same_file(top, snap / top.name) for snap in snaps if (snap / top.name).is_file()):
            top.unlink()


@dataclass(frozen=True)
class Resumed:
    """Where a resumed run starts: the snapshot, whether its training state was restored, and a note for
    the user when that is not simply the newest snapshot."""

    snapshot: Snapshot
    full: bool
    note: str | None


def resume_point(model_dir: Path) -> Resumed | None:
    """The snapshot to resume from, or None for a new model (no snapshot saved yet).

    Prefers the newest snapshot with intact weights and training state (an exact resume). If none has
    intact state but one has intact weights, training goes on from those weights with a fresh optimiser,
    and the note says so; only a folder with no intact weights at all is refused.
    """
    if not list_snapshots(model_dir):
        return None
    try:
        snap = find_snapshot(model_dir, need_state=True)
        return Resumed(snap, True, snap.note)
    except ModelError as exact:
        try:
            snap = find_snapshot(model_dir)
        except ModelError:
            raise exact from None
        note = (f"{model_dir}: no snapshot has an intact training state ({exact}); continuing from the weights "
                f"of step {snap.step} with a fresh optimiser")
        return Resumed(snap, False, note)


def restore(resumed: Resumed, state: TrainingState) -> dict[str, Any]:
    """Load the resume point into the live objects; returns its state record (empty after a weights-only
    recovery, whose optimiser and RNG stay fresh)."""
    snap = resumed.snapshot
    digest = load_weights(state.net, snap.weights)
    if snap.manifest.weights_sha256 not in (None, digest):
        raise ModelError(f"{snap.weights} changed while it was being loaded; run the command again")
    if not resumed.full:
        return {}
    meta = json.loads((snap.path / STATE_JSON).read_text())
    data = (snap.path / STATE).read_bytes()
    if sha256_hex(data) != meta.get("state_sha256"):
        raise ModelError(f"{snap.path / STATE} changed while it was being loaded; run the command again")
    unpack_state(state, meta, data)
    return meta
