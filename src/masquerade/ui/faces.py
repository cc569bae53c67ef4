"""Dropping bad faces from a face set, through FaceSet's own record list and checkpoint.

Why here and not a new writer: the face set's files stay written only by `FaceSet.checkpoint` (atomic,
new content id, so training caches rebuild). Order matters: records first, PNGs after, so a crash leaves
at worst unreferenced PNGs, never records pointing at missing files. (Proposed upstream as FaceSet.remove.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..faceset import FaceSet
from ..media import VIDEO_SUFFIXES
from .workspace import PathRefused

MAX_GALLERY = 300  # faces shown at once; a long video's face set is browsed in pages


def face_files(faceset_dir: Path, start: int = 0, count: int = MAX_GALLERY) -> list[tuple[str, str, str]]:
    """(crop path, file name, caption) for a page of the face set's faces, for a gallery; the caption says
    where the face came from (clip and frame), which a person can check, not the file's hash-like name."""
    fs = FaceSet.open(faceset_dir)
    return [(str(fs.root / "faces" / r["file"]), r["file"], caption(r)) for r in fs.records[start:start + count]]


def caption(record: dict) -> str:
    """'frame 12 · clip.mp4' for a video frame (the frame first: a narrow caption is cut at its end),
    'photo.jpg' for a still."""
    source = Path(str(record.get("source") or "")).name or "?"
    if record.get("frame_name"):  # an image of a folder
        return f"{record['frame_name']} · {source}"
    if Path(source).suffix.lower() not in VIDEO_SUFFIXES:
        return source
    return f"frame {record.get('frame_index', 0)} · {source}"


def remove_faces(faceset_dir: Path, files: Iterable[str]) -> int:
    """Remove the named faces (crop + mask + record) from a finished face set; returns how many went."""
    fs = FaceSet.open(faceset_dir)
    drop = {str(f) for f in files}
    for name in drop:
        if Path(name).name != name or name.startswith("."):
            raise PathRefused(f"{name!r} is not a face file name")
    drop &= {r["file"] for r in fs.records}  # only files the face set lists are ever deleted
    keep = [r for r in fs.records if r["file"] not in drop]
    removed = len(fs.records) - len(keep)
    if removed == 0:
        return 0
    if not keep:
        raise PathRefused("that would drop every face; a face set needs at least one (delete the folder instead)")
    fs.records = keep
    fs.checkpoint(complete=True)
    for name in drop:
        for sub in ("faces", "masks"):
            (fs.root / sub / name).unlink(missing_ok=True)
    return removed
