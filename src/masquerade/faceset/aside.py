"""Faces moved out of a face set but kept beside it, so that curating a set never deletes anything.

```
FACESET/set_aside/<reason>/
  aside.json        {"schema_version": 1, "reason": ..., "faces": [{"why": ..., "record": <alignment record>}]}
  faces/*.png       the crops, under their face set names        masks/*.png   their masks
```
Why a folder per reason: a user who disagrees with one kind of decision (say, "near_duplicate") puts that
whole folder back with one command (`masquerade faces FACESET --restore near_duplicate`), and can see what
each rule took by opening one folder. The records keep every field of `alignments.json`, so a restored face
is exactly the face it was.

Moves are ordered so that a kill at any instant loses nothing and `restore` finishes the job:
1. the PNGs are hard-linked (copied where links fail) into the reason's folder, and `aside.json` lists them;
2. the face set is checkpointed without them (one atomic step: the set's new content id);
3. the originals in `faces/` and `masks/` are unlinked, only where the kept copy is there.
Before 2 the set is unchanged (an `aside.json` entry whose face is still in the set counts as not set aside);
after 2 an original left in `faces/` is an unreferenced extra, never the only copy. Restoring runs the same
steps the other way. Only `FaceSet` (faceset/core.py) calls these, under its writer lock.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterable

from .. import atomic
from ..errors import FaceSetError
from ..outputs import partial_path, sweep_partials

ASIDE = "set_aside"
RECORDS = "aside.json"
SCHEMA = 1
_REASON = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SUBS = ("faces", "masks")


def check_reason(reason: str) -> str:
    """A reason is also a folder name: short, lower case, no path characters."""
    if not isinstance(reason, str) or not _REASON.match(reason):
        raise FaceSetError(f"{reason!r} is not a usable reason for setting faces aside: use lower-case letters, "
                           "digits, - and _ (e.g. other_person, blurry, removed)")
    return reason


def folder(root: Path, reason: str) -> Path:
    return Path(root) / ASIDE / check_reason(reason)


def reasons(root: Path) -> list[str]:
    """Reasons that have a folder with a records file, sorted."""
    base = Path(root) / ASIDE
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _REASON.match(p.name) and (p / RECORDS).is_file())


def read(root: Path, reason: str) -> list[dict]:
    """The entries of one reason's `aside.json` ({"why", "record"}); a damaged file is one clear error."""
    path = folder(root, reason) / RECORDS
    if not path.is_file():
        return []
    try:
        data = atomic.read_json(path)
    except (ValueError, OSError) as exc:
        raise FaceSetError(f"{path} is damaged ({type(exc).__name__}); its faces are still in "
                           f"{path.parent}/faces: restore the file from a backup to put them back") from None
    faces = data.get("faces") if isinstance(data, dict) else None
    if not isinstance(faces, list) or not all(
            isinstance(e, dict) and isinstance(e.get("record"), dict) and isinstance(e["record"].get("file"), str)
            and Path(e["record"]["file"]).name == e["record"]["file"] for e in faces):
        raise FaceSetError(f"{path} is damaged (no list of set-aside faces); restore it from a backup")
    return faces


def names(root: Path) -> set[str]:
    """Every face file name set aside under any reason (unreadable records files are skipped: this only keeps
    extract from bringing a set-aside face back, and must never stop a face set from opening)."""
    found: set[str] = set()
    for reason in reasons(root):
        try:
            found.update(e["record"]["file"] for e in read(root, reason))
        except FaceSetError:
            continue
    return found


def _link(src: Path, dst: Path) -> None:
    """Put `src`'s bytes at `dst` (a hard link when possible), atomically; an existing `dst` is left alone."""
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(dst)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _write(root: Path, reason: str, entries: list[dict]) -> None:
    atomic.write_json(folder(root, reason) / RECORDS, {"schema_version": SCHEMA, "reason": reason, "faces": entries})


def stage(root: Path, reason: str, records: list[dict], why: dict[str, str]) -> None:
    """Step 1 of setting aside: keep copies of the faces' PNGs under `reason` and list their records."""
    where = folder(root, reason)
    for sub in SUBS:
        (where / sub).mkdir(parents=True, exist_ok=True)
        sweep_partials(where / sub)
    for r in records:
        for sub in SUBS:
            src = root / sub / r["file"]
            if src.is_file():
                _link(src, where / sub / r["file"])
    entries = {e["record"]["file"]: e for e in read(root, reason)}
    for r in records:
        entries[r["file"]] = {"why": why.get(r["file"], ""), "record": r}
    _write(root, reason, list(entries.values()))


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b) or a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def unlink_originals(root: Path, reason: str, files: Iterable[str]) -> None:
    """Step 3: drop the face set's own links to faces now held (identically) under `reason`."""
    where = folder(root, reason)
    for name in files:
        for sub in SUBS:
            original, kept = root / sub / name, where / sub / name
            if original.is_file() and kept.is_file() and _same(original, kept):
                original.unlink()


def take(root: Path, reason: str | None, files: Iterable[str] | None) -> list[tuple[str, dict]]:
    """(reason, record) of the set-aside faces to restore: all of `reason` (every reason when None), or only the
    named `files`. Each face's PNGs are linked back into the face set first (step 1 of restoring)."""
    wanted = None if files is None else set(files)
    if reason and not (folder(root, reason) / RECORDS).is_file():
        raise FaceSetError(f"{root}: nothing is set aside for {reason!r} (set aside: "
                           f"{', '.join(reasons(root)) or 'nothing'})")
    chosen = []
    for r in [check_reason(reason)] if reason else reasons(root):
        for e in read(root, r):
            name = e["record"]["file"]
            if wanted is not None and name not in wanted:
                continue
            where = folder(root, r)
            if not all((where / sub / name).is_file() or (root / sub / name).is_file() for sub in SUBS):
                raise FaceSetError(f"{where / 'faces' / name} (or its mask) is missing, so that face cannot be put "
                                   f"back; put the file back, or leave it out of the restore")
            chosen.append((r, e["record"]))
    for r, record in chosen:
        for sub in SUBS:
            kept = folder(root, r) / sub / record["file"]
            if kept.is_file():
                _link(kept, root / sub / record["file"])
    return chosen


def forget(root: Path, restored: list[tuple[str, dict]]) -> None:
    """Last step of restoring: drop the restored faces from their reasons' records, then their kept copies (the
    face set holds the same bytes again). An emptied reason folder is removed: it held only our files."""
    by_reason: dict[str, set[str]] = {}
    for reason, record in restored:
        by_reason.setdefault(reason, set()).add(record["file"])
    for reason, gone in by_reason.items():
        where = folder(root, reason)
        left = [e for e in read(root, reason) if e["record"]["file"] not in gone]
        _write(root, reason, left)
        for name in gone:
            for sub in SUBS:
                kept, back = where / sub / name, root / sub / name
                if kept.is_file() and back.is_file() and _same(kept, back):
                    kept.unlink()
        if not left and not any((where / sub).is_dir() and any((where / sub).iterdir()) for sub in SUBS):
            for sub in SUBS:
                if (where / sub).is_dir():
                    (where / sub).rmdir()
            (where / RECORDS).unlink()
            where.rmdir()
