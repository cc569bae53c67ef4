"""`FaceSet`: one face set folder, opened for reading or held by its one writer (the package docstring has
the folder's layout). Every change to the folder is made by a method here, under the writer lock."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from .. import atomic
from ..errors import FaceSetError
from ..outputs import claim_folder, partial_path
from ..records import AlignedFace, Frame
from . import aside, journal
from .check import ALIGNMENTS, MANIFEST, check_records, read_json
from .files import encode_png, face_record
from .manifest import SCHEMA_VERSION, SETTINGS, FaceSetManifest
from .reading import FaceReader
from .sources import Source, face_file, file_order, find_entry, frame_prefix, new_entry


class FaceSet(FaceReader):
    """A face set folder. `create_or_resume` and the writing methods for extract, `edit` and the set-aside
    methods for curating, `open` for readers.

    Every write goes through a method here, and each one holds the set's writer lock (journal.lock): a set
    opened for reading cannot be written, and `records` cannot be assigned from outside."""

    def __init__(self, root: Path, manifest: FaceSetManifest, faces: list[dict], on_disk: bool = False):
        self.root = Path(root)
        self._sources = [dict(e) for e in manifest.sources]  # live: extract updates the entries in place
        self._manifest = manifest.updated(sources=())  # the rest as last written (id, count, complete)
        self._set_records(faces)
        self._on_disk = on_disk  # the folder already holds this face set (so every change is journaled)
        self._journal: journal.JournalWriter | None = None
        self._lock: int | None = None  # held from the first write (or from resuming) until `close`
        self._writer = False  # this object holds the writer lock (`_lock` is None where there is no flock)
        self._dirty = False  # something changed that the compacted files do not hold yet
        self._clean_without: dict[str, bool] = {}  # new sources' ids: was the set clean before their entry came?
        self._aside: set[str] = set()  # faces set aside (faceset/aside.py): extract must not add them again
        self._editing = False  # opened by `edit`: the set-aside methods may write

    @property
    def manifest(self) -> FaceSetManifest:
        """`faceset.json` as a typed record (faceset/manifest.py), with the sources as they are now."""
        return self._manifest.updated(sources=tuple(dict(e) for e in self._sources))

    def _set_records(self, faces: Iterable[dict]) -> None:
        self._records = list(faces)
        self._files = {r["file"] for r in self._records}
        self._frames = {frame_prefix(name) for name in self._files}

    # -- opening ---------------------------------------------------------------------------------------
    @classmethod
    def is_faceset(cls, root: str | Path) -> bool:
        return (Path(root) / MANIFEST).is_file()

    @classmethod
    def _load(cls, root: Path) -> "FaceSet":
        manifest = FaceSetManifest.read(root)
        if manifest.count == 0 and not manifest.complete and not (root / ALIGNMENTS).exists():
            faces = {}  # killed while creating the set, before its first face
        else:
            faces = {r["file"]: r for r in check_records(root, read_json(root, ALIGNMENTS))}
        lines = journal.read(root)
        fs = cls(root, manifest, [], on_disk=True)
        journal.replay(lines, faces, fs._sources)
        fs._set_records(faces.values())
        fs._dirty = bool(lines)
        fs._aside = aside.names(root)
        return fs

    @classmethod
    def open(cls, root: str | Path) -> "FaceSet":
        """Open a finished face set for reading; refuses an interrupted one."""
        root = Path(root)
        if not root.is_dir():
            raise FaceSetError(f"{root}: no such face set folder; run `masquerade extract ... -o {root}` first")
        fs = cls._load(root)
        if not fs._manifest.complete:
            raise FaceSetError(f"{root}: extraction was interrupted; re-run the same `masquerade extract` to finish it")
        if not fs.records:
            raise FaceSetError(f"{root}: the face set holds no faces")
        return fs

    @classmethod
    def create_or_resume(cls, root: Path, settings: dict[str, Any]) -> "FaceSet":
        """For extract: a new (not yet written) face set, or an existing one with the same settings."""
        root = Path(root)
        claim_folder(root, (MANIFEST,))
        if cls.is_faceset(root):
            held = journal.lock(root)
            try:
                fs = cls._load(root)
            except BaseException:
                journal.unlock(held)
                raise
            fs._lock, fs._writer = held, True
            recorded = fs._manifest.settings()
            differing = [k for k, v in settings.items() if recorded.get(k) != v]
            if differing:
                have = ", ".join(f"{k}={recorded.get(k)!r}" for k in differing)
                want = ", ".join(f"{k}={settings[k]!r}" for k in differing)
                fs.close()
                raise FaceSetError(f"{root} holds a face set made with {have}, not {want}; "
                                   "choose another output folder or matching options")
            return fs
        return cls(root, FaceSetManifest(**{k: settings[k] for k in SETTINGS}), [])

    # -- writing (extract) -----------------------------------------------------------------------------
    def source_entry(self, source: Source) -> dict:
        """This source's entry (found by content id; an old set's entry by path), added if new."""
        entry = find_entry(self._sources, source)
        if entry is None:
            self._clean_without.setdefault(source.id, not self._dirty)  # see `forget_source`
        if entry is None or entry.get("kind") != source.kind:
            self._dirty = True  # a new entry, or an old one given its id
        if entry is None:
            entry = new_entry(source)
            self._sources.append(entry)
        return entry

    def has_frame(self, source: Source, frame: Frame) -> bool:
        """Whether faces of this frame are in the set already (the same image reached by another path)."""
        key, number = source.frame_key(frame)
        return frame_prefix(face_file(key, number, 0)) in self._frames

    def add_frame(self, source: Source, frame: Frame, faces: list[AlignedFace], replace: list[str] = ()) -> int:
        """Write a frame's new faces (PNGs first, then one journal line with their records and the source's
        resume point). Returns how many were new: a face whose file is already in the set is skipped.

        `replace`: records of this frame whose files went missing (see `missing_frames`); they are dropped in
        the same journal line that adds the re-extracted faces, and the resume point is left alone."""
        entry = self.source_entry(source)
        key, number = source.frame_key(frame)
        added = []
        for k, face in enumerate(faces):
            name = face_file(key, number, k)
            if (name in self._files or name in self._aside) and name not in replace:
                continue
            self._start()
            atomic.write_bytes(self.root / "faces" / name, encode_png(face.crop))
            atomic.write_bytes(self.root / "masks" / name, encode_png(face.mask))
            added.append(face_record(name, source, frame, face))
        if not replace:
            entry.update(next_frame=frame.index + 1, frames_read=entry["frames_read"] + 1,
                         faces=entry["faces"] + len(added))
        self._add(added, entry, list(replace))
        return len(added)

    def missing_frames(self, source: Source) -> dict[int, list[str]]:
        """Frames of `source` with a face whose crop or mask file is gone: {frame index: [face files]}.

        One `stat` pair per face of this source: linear, and what lets a re-run repair a face set in place."""
        missing: dict[int, list[str]] = {}
        folder = Path(source.path) if source.kind == "folder" else None
        for r in self._records:
            ours = r["source_id"] == source.id if "source_id" in r else \
                r.get("source") == source.path or (folder is not None and Path(r.get("source", "")).parent == folder)
            if ours and not all((self.root / sub / r["file"]).is_file() for sub in ("faces", "masks")):
                missing.setdefault(int(r.get("frame_index", 0)), []).append(r["file"])
        return missing

    def forget_source(self, source: Source) -> None:
        """Drop the entry of a source that added nothing (every frame already in the set from another path),
        so re-running with content the set already holds leaves its files exactly as they were."""
        entry = self.source_entry(source)
        if not entry["frames_read"] and not entry["faces"]:
            self._sources.remove(entry)
            if self._clean_without.pop(source.id, False):
                self._dirty = False  # that entry was the only change: nothing to write

    def finish_source(self, source: Source) -> None:
        entry = self.source_entry(source)
        entry["done"] = True
        self._add([], entry)

    def import_source(self, entry: dict, part: "FaceSet | None" = None) -> int:
        """Adopt a source extracted into another face set with the same settings (a Ray task's): its face
        files are linked in (PNGs first, as ever), then its records and entry are journaled."""
        import os
        import shutil

        added = [r for r in (part.records if part else []) if r["file"] not in self._files]
        for r in added:
            self._start()
            for sub in ("faces", "masks"):
                dst = self.root / sub / r["file"]
                tmp = partial_path(dst)
                try:
                    os.link(part.root / sub / r["file"], tmp)
                except OSError:
                    shutil.copyfile(part.root / sub / r["file"], tmp)
                os.replace(tmp, dst)
        entries = self._sources
        old = next((i for i, e in enumerate(entries) if e.get("id") == entry["id"]), None)
        if old is None:
            entries.append(dict(entry))
        else:
            entries[old] = dict(entry)
        self._dirty = True
        self._add(added, entries[-1] if old is None else entries[old])
        return len(added)

    def _add(self, added: list[dict], entry: dict, drop: list[str] = ()) -> None:
        if drop:
            gone = set(drop)
            self._set_records(r for r in self._records if r["file"] not in gone)
        self._records.extend(added)
        for r in added:
            self._files.add(r["file"])
            self._frames.add(frame_prefix(r["file"]))
        if added or drop or self._on_disk:
            self._start()
            self._journal.append({"source": entry, "faces": added, **({"drop": list(drop)} if drop else {})})

    def _start(self) -> None:
        """Before this run's first write: fold an old journal in, mark the set incomplete, open the journal."""
        if self._journal is not None:
            return
        if not self._on_disk:  # the manifest first: whatever a kill leaves in the folder is then a face set
            self.root.mkdir(parents=True, exist_ok=True)
            if not self._writer:
                self._lock, self._writer = journal.lock(self.root), True
            self.manifest.updated(complete=False, count=0).write(self.root)
        for sub in ("faces", "masks"):
            (self.root / sub).mkdir(exist_ok=True)
        self.checkpoint(complete=False)
        self._on_disk = self._dirty = True
        self._journal = journal.JournalWriter(self.root)

    def finish(self) -> None:
        """Mark the set complete: compact the journal into alignments.json (no write if nothing changed)."""
        if self._dirty or not self._manifest.complete:
            self.checkpoint(complete=True)

    def close(self) -> None:
        """Stop writing and let other writers in (the journal stays until `finish`: a later run resumes it)."""
        self._close_journal()
        journal.unlock(self._lock)
        self._lock, self._writer = None, False

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def checkpoint(self, complete: bool = False) -> None:
        """Write records and manifest in full (atomically, records first) and drop the journal they now hold.

        O(faces): called when a run starts writing and when it ends, never per face. Only under the writer lock
        (`create_or_resume`, `edit`): a set opened for reading is refused."""
        self._check_writer()
        self._close_journal()
        self._records.sort(key=lambda r: file_order(r["file"]))
        self._sources.sort(key=lambda e: (e.get("id") or "", e.get("path", "")))
        self._manifest = self._manifest.updated(schema_version=SCHEMA_VERSION, count=len(self._records),
                                                complete=complete, id=self.content_id())
        atomic.write_json(self.root / ALIGNMENTS, {"schema_version": SCHEMA_VERSION, "faces": self._records})
        self.manifest.write(self.root)
        journal.remove(self.root)
        self._on_disk, self._dirty = True, False

    def content_id(self) -> str:
        h = hashlib.sha256()
        for value in self._manifest.settings().values():
            h.update(str(value).encode())
        for r in sorted(self._records, key=lambda r: r["file"]):
            h.update(r["file"].encode() + json.dumps(r["matrix"]).encode())
        return h.hexdigest()[:16]

    # -- curating: faces set aside and put back, never deleted (faceset/aside.py) ------------------------
    @classmethod
    @contextlib.contextmanager
    def edit(cls, root: str | Path) -> Iterator["FaceSet"]:
        """A finished face set held for one writer (as extract holds it) while faces are set aside or restored:
        `with FaceSet.edit(path) as fs: fs.set_aside(names, "removed")`. The CLI's `faces` and the UI use it."""
        root = Path(root)
        if not root.is_dir():
            cls.open(root)  # says what to do
        held = journal.lock(root)
        fs = None
        try:
            fs = cls.open(root)  # read under the lock: no extract is adding faces meanwhile
            fs._lock, fs._writer, fs._editing = held, True, True
            yield fs
        finally:
            if fs is not None:
                fs._editing, fs._writer, fs._lock = False, False, None
                fs._close_journal()
            journal.unlock(held)

    def set_aside(self, files: Iterable[str], reason: str, why: dict[str, str] | None = None) -> int:
        """Move the named faces (crop, mask, record) to `set_aside/<reason>/`; returns how many moved. Names
        the set does not hold are ignored; `why` maps a face to the words that explain its move."""
        self._check_editing()
        aside.check_reason(reason)
        chosen = {str(f) for f in files} & self._files
        if not chosen:
            return 0
        if len(chosen) == len(self._records):
            raise FaceSetError(f"{self.root}: that would set aside every face; a face set needs at least one")
        moving = [r for r in self._records if r["file"] in chosen]
        aside.stage(self.root, reason, moving, why or {})
        self._set_records(r for r in self._records if r["file"] not in chosen)
        self._aside |= chosen
        self.checkpoint(complete=True)
        aside.unlink_originals(self.root, reason, sorted(chosen))
        return len(moving)

    def restore(self, reason: str | None = None, files: Iterable[str] | None = None) -> int:
        """Put set-aside faces back: those of `reason` (all reasons when None), or only the named `files`."""
        self._check_editing()
        back = aside.take(self.root, reason, files)
        new = [dict(r) for _, r in back if r["file"] not in self._files]
        if new:
            self._set_records(self._records + new)
            self.checkpoint(complete=True)
        aside.forget(self.root, back)
        self._aside = aside.names(self.root)
        return len(new)

    def set_aside_reasons(self) -> dict[str, int]:
        """{reason: faces set aside for it}, for a summary or a UI list (a face a killed move left in the set
        is counted as in the set)."""
        counts = {r: sum(e["record"]["file"] not in self._files for e in aside.read(self.root, r))
                  for r in aside.reasons(self.root)}
        return {r: n for r, n in counts.items() if n}

    def _check_editing(self) -> None:
        if not self._editing:
            raise RuntimeError("open the face set with `FaceSet.edit(path)` to set faces aside or restore them")

    def _check_writer(self) -> None:
        if not self._writer:
            raise RuntimeError(f"{self.root}: this face set was opened for reading; it is written only under its "
                               "writer lock, by `FaceSet.create_or_resume` (adding faces) or `FaceSet.edit` (setting "
                               "faces aside, putting them back)")

