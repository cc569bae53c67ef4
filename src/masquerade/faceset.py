"""The on-disk face set: aligned crops + masks as PNG, one alignments file, and a manifest.

```
FACESET/
  faceset.json       schema_version, id, template, size, coverage, detector, complete, count, and
                     sources: one entry per input, keyed by its content id, with its resume point
  alignments.json    one record per face: file, source, source_id, frame index, timestamp, box, landmarks
                     (frame px), matrix (frame -> crop), detector score, blur score
  alignments.jsonl   only while extract runs or after it was killed: the journal (faceset_journal.py)
  faces/*.png        aligned RGB crops          masks/*.png   landmark-hull masks (same names)
  set_aside/<reason>/     faces taken out of the set by curation or by hand, kept with their records
                     (faceset_aside.py); extract does not bring them back, `restore` does
  cache_<S>.safetensors   derived: all faces resized to S as one uint8 tensor (rebuilt when stale or damaged)
  identity.safetensors    derived: face-recognition embeddings by face file (faceset_curate.py)
```
Face files are named `{content id}_{frame}_{k}.png` (faceset_sources.py): the same footage gives the same
names in every run, so a face set only grows. Sets written before that (schema 1, `{input index}_{frame}_{k}`)
open and grow as they are; their faces keep their names. A face set needs nothing outside its folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import atomic
from . import faceset_aside as aside
from . import faceset_journal as journal
from .errors import FaceSetError
from .faceset_cache import CACHE_FORMAT, FaceTensors, read_cache, write_cache  # noqa: F401 (re-exported)
from .faceset_check import ALIGNMENTS, MANIFEST, SCHEMA_VERSION, check_manifest, check_records, read
from .faceset_sources import Source, face_file, file_order, find_entry, frame_prefix, new_entry
from .outputs import claim_folder, partial_path
from .records import AlignedFace, Frame

def encode_png(array: np.ndarray) -> bytes:
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:  # never under `python -O` only: a face file that is not written must stop the run
        raise ValueError(f"could not encode a {array.shape} {array.dtype} face crop as PNG")
    return buf.tobytes()


def _decode_png(root: Path, sub: str, record: dict) -> np.ndarray:
    import cv2

    color = sub == "faces"
    img = cv2.imread(str(root / sub / record["file"]), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FaceSetError(f"{root}: face file {sub}/{record['file']} is missing or unreadable; re-extract it with "
                           f"`masquerade extract {record.get('source', 'ITS_SOURCE')} -o {root}` (same options: "
                           "only missing faces are redone), or put the file back")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if color else img


class FaceSet:
    """A face set folder. `create_or_resume` and the writing methods for extract, `open` for readers."""

    def __init__(self, root: Path, manifest: dict, faces: list[dict], on_disk: bool = False):
        self.root, self.manifest = Path(root), manifest
        self.records = faces
        self._on_disk = on_disk  # the folder already holds this face set (so every change is journaled)
        self._journal: journal.JournalWriter | None = None
        self._lock: int | None = None  # held from the first write (or from resuming) until `close`
        self._dirty = False  # something changed that the compacted files do not hold yet
        self._clean_without: dict[str, bool] = {}  # new sources' ids: was the set clean before their entry came?
        self._aside: set[str] = set()  # faces set aside (faceset_aside.py): extract must not add them again
        self._editing = False  # opened by `edit`: the set-aside methods may write

    @property
    def records(self) -> list[dict]:
        return self._records

    @records.setter
    def records(self, faces: list[dict]) -> None:
        self._records = list(faces)
        self._files = {r["file"] for r in self._records}
        self._frames = {frame_prefix(name) for name in self._files}

    # -- opening ---------------------------------------------------------------------------------------
    @classmethod
    def is_faceset(cls, root: str | Path) -> bool:
        return (Path(root) / MANIFEST).is_file()

    @classmethod
    def _load(cls, root: Path) -> "FaceSet":
        manifest = check_manifest(root, read(root, MANIFEST))
        if manifest.get("count") == 0 and not manifest.get("complete") and not (root / ALIGNMENTS).exists():
            faces = {}  # killed while creating the set, before its first face
        else:
            faces = {r["file"]: r for r in check_records(root, read(root, ALIGNMENTS))}
        lines = journal.read(root)
        journal.replay(lines, faces, manifest["sources"])
        fs = cls(root, manifest, list(faces.values()), on_disk=True)
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
        if not fs.manifest.get("complete"):
            raise FaceSetError(f"{root}: extraction was interrupted; re-run the same `masquerade extract` to finish it")
        if not fs.records:
            raise FaceSetError(f"{root}: the face set holds no faces")
        return fs

    @classmethod
    def create_or_resume(cls, root: Path, settings: dict) -> "FaceSet":
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
            fs._lock = held
            differing = [k for k, v in settings.items() if fs.manifest.get(k) != v]
            if differing:
                have = ", ".join(f"{k}={fs.manifest.get(k)!r}" for k in differing)
                want = ", ".join(f"{k}={settings[k]!r}" for k in differing)
                fs.close()
                raise FaceSetError(f"{root} holds a face set made with {have}, not {want}; "
                                   "choose another output folder or matching options")
            return fs
        manifest = {"schema_version": SCHEMA_VERSION, "kind": "masquerade.faceset", **settings,
                    "id": "", "count": 0, "complete": False, "sources": []}
        return cls(root, manifest, [])

    # -- writing (extract) -----------------------------------------------------------------------------
    def source_entry(self, source: Source) -> dict:
        """This source's entry (found by content id; an old set's entry by path), added if new."""
        entry = find_entry(self.manifest["sources"], source)
        if entry is None:
            self._clean_without.setdefault(source.id, not self._dirty)  # see `forget_source`
        if entry is None or entry.get("kind") != source.kind:
            self._dirty = True  # a new entry, or an old one given its id
        if entry is None:
            entry = new_entry(source)
            self.manifest["sources"].append(entry)
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
            added.append(_record(name, source, frame, face))
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
            self.manifest["sources"].remove(entry)
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
        entries = self.manifest["sources"]
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
            self.records = [r for r in self._records if r["file"] not in gone]
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
            self._lock = self._lock if self._lock is not None else journal.lock(self.root)
            atomic.write_json(self.root / MANIFEST, {**self.manifest, "complete": False, "count": 0})
        for sub in ("faces", "masks"):
            (self.root / sub).mkdir(exist_ok=True)
        self.checkpoint(complete=False)
        self._on_disk = self._dirty = True
        self._journal = journal.JournalWriter(self.root)

    def finish(self) -> None:
        """Mark the set complete: compact the journal into alignments.json (no write if nothing changed)."""
        if self._dirty or not self.manifest.get("complete"):
            self.checkpoint(complete=True)

    def close(self) -> None:
        """Stop writing and let other writers in (the journal stays until `finish`: a later run resumes it)."""
        self._close_journal()
        journal.unlock(self._lock)
        self._lock = None

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def checkpoint(self, complete: bool = False) -> None:
        """Write records and manifest in full (atomically, records first) and drop the journal they now hold.

        O(faces): called when a run starts writing and when it ends, never per face."""
        self._close_journal()
        self._records.sort(key=lambda r: file_order(r["file"]))
        self.manifest["sources"].sort(key=lambda e: (e.get("id") or "", e.get("path", "")))
        self.manifest.update(schema_version=SCHEMA_VERSION, count=len(self._records), complete=complete,
                             id=self.content_id())
        atomic.write_json(self.root / ALIGNMENTS, {"schema_version": SCHEMA_VERSION, "faces": self._records})
        atomic.write_json(self.root / MANIFEST, self.manifest)
        journal.remove(self.root)
        self._on_disk, self._dirty = True, False

    def content_id(self) -> str:
        h = hashlib.sha256()
        for key in ("template", "size", "coverage", "detector"):
            h.update(str(self.manifest.get(key)).encode())
        for r in sorted(self._records, key=lambda r: r["file"]):
            h.update(r["file"].encode() + json.dumps(r["matrix"]).encode())
        return h.hexdigest()[:16]

    # -- curating: faces set aside and put back, never deleted (faceset_aside.py) ------------------------
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
            fs._lock, fs._editing = held, True
            yield fs
        finally:
            if fs is not None:
                fs._editing, fs._lock = False, None
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
        self.records = [r for r in self._records if r["file"] not in chosen]
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
            self.records = self._records + new
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

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    def __len__(self) -> int:
        return len(self._records)

    def crop(self, i: int) -> np.ndarray:
        return _decode_png(self.root, "faces", self._records[i])

    def mask(self, i: int) -> np.ndarray:
        return _decode_png(self.root, "masks", self._records[i])

    def crop_landmarks(self, i: int, size: int | None = None) -> np.ndarray:
        """The face's landmarks in pixels of its aligned crop, or of that crop resized to `size` (`resize_crop`)."""
        from .faces.align import resized_matrix, transform_points

        r = self._records[i]
        return transform_points(np.asarray(r["landmarks"]), resized_matrix(r["matrix"], self.size, size or self.size))

    def load_tensors(self, size: int | None = None) -> FaceTensors:
        """All faces, masks and crop landmarks resized to `size`, cached beside the face set (faceset_cache.py)."""
        size = int(size or self.size)
        cache = self.root / f"cache_{size}.safetensors"
        cached = read_cache(cache, self.manifest["id"], len(self), size)
        if cached is not None:
            return cached
        faces, masks, marks = [], [], []
        for i in range(len(self)):
            faces.append(_resize(self.crop(i), size))
            masks.append(_resize(self.mask(i), size))
            marks.append(self.crop_landmarks(i, size))
        return write_cache(cache, self.manifest["id"], np.stack(faces), np.stack(masks), np.stack(marks))


def _record(name: str, source: Source, frame: Frame, face: AlignedFace) -> dict:
    det = face.detection
    return {
        "file": name, "source": frame.source, "source_id": source.id, "frame_index": frame.index,
        "frame_name": frame.name, "timestamp": round(frame.timestamp, 6),
        "box": [round(float(v), 2) for v in det.box], "score": round(float(det.score), 4),
        "blur": round(float(face.blur), 2) if math.isfinite(face.blur) else 0.0,
        "matrix": np.round(face.matrix, 8).tolist(), "landmarks": np.round(det.landmarks, 2).tolist(),
    }


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """The model's input from a stored crop: the same function convert uses (contracts §4)."""
    from .faces.align import resize_crop

    return resize_crop(img, size)
