"""The face gallery of a face set, and dropping bad faces from it through the face set's own locked writer.

Why not a writer of its own: the face set's files are written only by `FaceSet` (atomic, new content id, so
training caches rebuild); a dropped face is set aside, never deleted (`FaceSet.set_aside`).
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
    """Set the named faces aside from a finished face set (crop, mask and record move to `set_aside/removed/`,
    where `masquerade faces --restore removed` brings them back); returns how many went. Through the face set's
    own locked writer, so an extract or a curation running meanwhile is refused, not interleaved."""
    from ..errors import FaceSetError
    from ..faceset.curate import set_aside

    drop = [str(f) for f in files]
    for name in drop:
        if Path(name).name != name or name.startswith("."):
            raise PathRefused(f"{name!r} is not a face file name")
    try:
        return set_aside(faceset_dir, drop, "removed", "removed by hand in the web UI")
    except FaceSetError as e:
        if "every face" in str(e):
            raise PathRefused("that would drop every face; a face set needs at least one (delete the folder "
                              "instead)") from None
        raise
