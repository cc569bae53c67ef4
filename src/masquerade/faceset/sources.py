"""Which source a face came from: content ids of videos, images and folders, and the face file names built on them.

Why content ids: a face set grows over many runs, with inputs given in any order and from any path. Naming a
face by the position of its input in *this* run (the old `{source_index}_{frame}_{k}`) let a later run
overwrite an earlier run's faces. A name derived from the source's bytes, the frame and the face's rank is
the same in every run that sees the same footage, and different for different footage, so re-running
changes nothing and adding footage only adds files.

The id of a file is sha256 over its size and over its bytes: all of them for files up to `WHOLE_BELOW`, else
`SAMPLES` chunks of `CHUNK` bytes spread evenly from the first byte to the last. That reads at most ~4 MiB
of a multi-gigabyte video, yet is sound for media: a container's header and index sit at its start or end
(both always sampled), and any re-encode, trim or edit changes the size or the compressed bitstream nearly
everywhere, so two different clips never share size and every sampled chunk in practice. (A byte edited in
place between two samples would go unnoticed; no editing tool does that to compressed video.)

Stills are identified by their own bytes, wherever they are: an image in a folder and the same image passed
on its own give one face file, not two.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..media import IMAGE_SUFFIXES
from ..records import Frame, MediaInfo

WHOLE_BELOW = 8 << 20  # files up to this size are hashed whole
CHUNK = 64 << 10
SAMPLES = 64
ID_CHARS = 16  # 64 bits: collisions between the sources of one face set are out of reach


def file_id(path: str | Path) -> str:
    """Content id of one file (see the module docstring for why sampling is sound for media)."""
    size = os.path.getsize(path)
    h = hashlib.sha256(f"masquerade-source-1:{size}:".encode())
    with open(path, "rb") as f:
        if size <= WHOLE_BELOW:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        else:
            for i in range(SAMPLES):
                f.seek((size - CHUNK) * i // (SAMPLES - 1))
                h.update(f.read(CHUNK))
    return h.hexdigest()[:ID_CHARS]


@dataclass(frozen=True)
class Source:
    """One input of an extract run, identified by content. `images` maps a folder's file names to their ids."""

    path: str
    kind: str  # video | image | folder
    id: str
    frame_count: int | None = None
    images: dict[str, str] = field(default_factory=dict)

    def frame_key(self, frame: Frame) -> tuple[str, int]:
        """(content id, frame number) that names the faces of `frame`: stills are frame 0 of their own file."""
        if self.kind == "video":
            return self.id, frame.index
        if self.kind == "folder":
            key = self.images.get(frame.name) or file_id(frame.source)
            return key, 0
        return self.id, 0


def identify(info: MediaInfo) -> Source:
    """The content id of a probed input (a folder's id covers its image names and their contents)."""
    path = Path(info.path)
    if info.kind != "folder":
        return Source(info.path, info.kind, file_id(path), info.frame_count)
    images = {p.name: file_id(p) for p in sorted(path.iterdir())
              if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    h = hashlib.sha256(b"masquerade-folder-1:")
    for name, key in images.items():
        h.update(f"{name}\0{key}\0".encode())
    return Source(info.path, "folder", h.hexdigest()[:ID_CHARS], info.frame_count, images)


def face_file(key: str, frame: int, k: int) -> str:
    return f"{key}_{frame:06d}_{k}.png"


def frame_prefix(file: str) -> str:
    """`key_frame` of a face file name (old `{index}_{frame}_{k}` names too): which frame the face is from."""
    return file.rsplit("_", 1)[0]


def file_order(file: str) -> tuple:
    """Canonical order of face files: by source, then frame number, then rank (frames past 999,999 too)."""
    parts = file.removesuffix(".png").split("_")
    try:
        return parts[0], int(parts[1]), int(parts[2]), file
    except (IndexError, ValueError):
        return file, 0, 0, file


def new_entry(source: Source) -> dict:
    """A source's line in faceset.json: its id, where it was read from, and how far extraction got."""
    return {"id": source.id, "path": source.path, "kind": source.kind, "next_frame": 0, "done": False,
            "frames_read": 0, "faces": 0}


def find_entry(entries: list[dict], source: Source) -> dict | None:
    """The entry for `source`: by content id, else an entry of an older face set (no id) with the same path,
    which is then given the id, so an interrupted old run resumes and its faces stay where they are."""
    for entry in entries:
        if entry.get("id") == source.id:
            return entry
    for entry in entries:
        if not entry.get("id") and entry.get("path") == source.path:
            entry.update(id=source.id, kind=source.kind)
            return entry
    return None
