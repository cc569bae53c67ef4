"""What `train` refuses before doing any work: bad settings, unusable paths, two copies of one face set.

Why up front: each of these used to surface late or never. `--steps 0` and `--lr nan` "trained" and saved a
model that convert accepted; two identical face sets trained a model that swaps a face onto itself; `-o`
inside a face set mixed model files into it; a broken signing key failed at the first preview, after the
first stretch of training, on every retry.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from .. import locks
from ..errors import FaceSetError, OutputError
from ..models.store import MODEL_JSON, SNAPSHOTS
from ..outputs import claim_folder, refuse_overlap
from .config import TrainConfig
from .data import FaceSetLike, open_faceset


def faceset_path(source: Any) -> Path | None:
    """The folder behind a face set argument (a path or an open FaceSet), if it has one."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    root = getattr(source, "root", None)
    return Path(root) if root is not None else None


def check_credentials_for(config: TrainConfig) -> None:
    """Previews are signed: check the signing key now, not at the first preview. A run that writes no
    previews signs nothing and needs no key."""
    if not config.previews:
        return
    from .. import provenance

    provenance.check_credentials()


def preflight(faceset_a: Any, faceset_b: Any, model_dir: Path, config: TrainConfig) -> tuple[FaceSetLike, FaceSetLike]:
    """Run every check `train` makes before work; returns the opened face sets A and B."""
    config.validate()
    paths = [p for p in (faceset_path(faceset_a), faceset_path(faceset_b)) if p is not None]
    if len(paths) == 2 and paths[0].expanduser().resolve() == paths[1].expanduser().resolve():
        raise FaceSetError(f"face sets A and B are the same folder ({paths[0]}); give the face set of the "
                           "other identity as B")
    refuse_overlap(model_dir, paths)
    claim_folder(model_dir, (SNAPSHOTS, MODEL_JSON))
    fs_a, fs_b = open_faceset(faceset_a), open_faceset(faceset_b)
    id_a, id_b = fs_a.manifest.get("id"), fs_b.manifest.get("id")
    if id_a and id_a == id_b:
        raise FaceSetError(f"face sets A and B hold the same faces (content id {str(id_a)[:12]}); a model "
                           "needs two different identities: give the other person's face set as B")
    check_credentials_for(config)
    return fs_a, fs_b


@contextlib.contextmanager
def model_writer(model_dir: Path, command: str, main: bool = True):
    """Hold `model_dir` for this one writer while the block runs (`locks.hold`); `main`: False on the other
    ranks of a distributed run, which write nothing.

    Two runs into one model folder would interleave snapshots and metrics lines, so the second is refused,
    naming the first. Folders the run made (the model folder, its `snapshots/` and `previews/`) are removed
    again if the block fails while they are still empty, so a run that stops at a check leaves no empty model
    folder behind; a folder with anything in it stays. When the run wrote anything else into the model folder
    before failing (the mask net in `occlusion/`, a preview, metrics), `snapshots/` stays even if empty: it is
    what marks the folder as a model folder (`claim_folder`), so the same command run again resumes there
    instead of refusing a folder of "other files" and leaving the user to delete Masquerade's own work.
    """
    if not main:
        yield
        return
    model_dir = Path(model_dir)
    created = [p for p in (model_dir, *model_dir.parents) if not p.exists()]
    made_inside = [model_dir / name for name in (SNAPSHOTS, "previews") if not (model_dir / name).exists()]
    model_dir.mkdir(parents=True, exist_ok=True)
    held = None
    try:
        held = locks.hold(model_dir, lambda who: OutputError(
            f"{model_dir}: {who} is already writing to this model folder; wait for it to finish, "
            f"then run `masquerade {command}` again"))
        yield
    except BaseException:
        locks.release(held)
        held = None
        for folder in _after_failure(model_dir, made_inside) + created:  # this run's own folders, only while empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        locks.release(held)


def _after_failure(model_dir: Path, made_inside: list[Path]) -> list[Path]:
    """Of the folders a failed run made inside `model_dir`, those to remove when empty: all of them while the
    model folder holds nothing else of substance (partial files aside); else all but `snapshots/`, made here if
    the run had not made it yet: it is the marker that lets a rerun claim the folder it filled. (The folder
    was new, empty or already a model folder, or `claim_folder` would have refused it: the marker goes only
    where Masquerade's own work is.)"""
    from ..outputs import is_partial

    ours = set(made_inside)
    other = [p for p in model_dir.iterdir() if p not in ours and not is_partial(p)] if model_dir.is_dir() else []
    filled = [p for p in made_inside if p.is_dir() and any(p.iterdir())]
    if not other and not filled:
        return made_inside
    with contextlib.suppress(OSError):
        (model_dir / SNAPSHOTS).mkdir(exist_ok=True)
    return [p for p in made_inside if p.name != SNAPSHOTS]
