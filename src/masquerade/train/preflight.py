"""What `train` refuses before doing any work: bad settings, unusable paths, two copies of one face set.

Why up front: each of these used to surface late or never. `--steps 0` and `--lr nan` "trained" and saved a
model that convert accepted; two identical face sets trained a model that swaps a face onto itself; `-o`
inside a face set mixed model files into it; a broken signing key failed at the first preview, after the
first stretch of training, on every retry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import FaceSetError
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
    if not config.preview_every:
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
