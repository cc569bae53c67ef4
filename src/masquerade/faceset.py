"""The on-disk face set: aligned crops + masks as PNG, one alignments file, and a manifest.

```
FACESET/
  faceset.json       schema_version, id, template, size, coverage, detector, sources (with resume points),
                     complete, count
  alignments.json    one record per face: file, source, frame index, timestamp, box, landmarks (frame px),
                     matrix (frame -> crop), detector score, blur score
  faces/*.png        aligned RGB crops          masks/*.png   landmark-hull masks (same names)
  cache_<S>.safetensors   derived: all faces resized to S as one uint8 tensor (rebuilt when the id changes)
```
A face set needs nothing outside its folder. Every file is written atomically, and the manifest records how
far each source was read, so an interrupted extract resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .errors import FaceSetError
from .records import AlignedFace, Frame

SCHEMA_VERSION = 1
MANIFEST = "faceset.json"
ALIGNMENTS = "alignments.json"


@dataclass(frozen=True)
class FaceTensors:
    """A whole face set in memory for training: uint8 tensors, landmarks in crop pixels of size S."""

    faces: Any  # torch.uint8 N×3×S×S RGB
    masks: Any  # torch.uint8 N×1×S×S
    landmarks: Any  # torch.float32 N×478×2

    def __len__(self) -> int:
        return int(self.faces.shape[0])


def _encode_png(array: np.ndarray) -> bytes:
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def _decode_png(path: Path, color: bool) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FaceSetError(f"{path}: missing or unreadable; re-run extract on this face set to repair it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if color else img


class FaceSet:
    """A face set folder. `create`/`open_for_append` for extract, `open` for everything that reads one."""

    def __init__(self, root: Path, manifest: dict, faces: list[dict]):
        self.root, self.manifest, self.records = root, manifest, faces

    # -- opening ---------------------------------------------------------------------------------------
    @classmethod
    def is_faceset(cls, root: str | Path) -> bool:
        return (Path(root) / MANIFEST).is_file()

    @classmethod
    def _load(cls, root: Path) -> "FaceSet":
        try:
            manifest = atomic.read_json(root / MANIFEST)
            faces = atomic.read_json(root / ALIGNMENTS)["faces"]
        except FileNotFoundError as exc:
            raise FaceSetError(f"{root}: not a face set (missing {Path(exc.filename).name}); run `masquerade extract`") from None
        except (json.JSONDecodeError, KeyError, TypeError):
            raise FaceSetError(f"{root}: the face set's JSON files are damaged; re-extract it") from None
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise FaceSetError(f"{root}: face set schema {manifest.get('schema_version')} is not supported "
                               f"(this Masquerade reads {SCHEMA_VERSION}); re-extract it")
        return cls(root, manifest, faces)

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
        if cls.is_faceset(root):
            fs = cls._load(root)
            differing = [k for k, v in settings.items() if fs.manifest.get(k) != v]
            if differing:
                have = ", ".join(f"{k}={fs.manifest.get(k)!r}" for k in differing)
                want = ", ".join(f"{k}={settings[k]!r}" for k in differing)
                raise FaceSetError(f"{root} holds a face set made with {have}, not {want}; "
                                   "choose another output folder or matching options")
            return fs
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise FaceSetError(f"{root}: exists and is not a face set; choose an empty or new output folder")
        manifest = {"schema_version": SCHEMA_VERSION, "kind": "masquerade.faceset", **settings,
                    "id": "", "count": 0, "complete": False, "sources": []}
        return cls(root, manifest, [])

    # -- writing (extract) -----------------------------------------------------------------------------
    def source_entry(self, path: str) -> dict:
        for entry in self.manifest["sources"]:
            if entry["path"] == path:
                return entry
        entry = {"path": path, "next_frame": 0, "done": False, "frames_read": 0, "faces": 0}
        self.manifest["sources"].append(entry)
        self.manifest["complete"] = False
        return entry

    def add_face(self, frame: Frame, k: int, face: AlignedFace, source_index: int) -> None:
        """Write one face's crop and mask (atomically) and queue its record for the next checkpoint."""
        stem = f"{source_index:02d}_{frame.index:06d}_{k}"
        atomic.write_bytes(self.root / "faces" / f"{stem}.png", _encode_png(face.crop))
        atomic.write_bytes(self.root / "masks" / f"{stem}.png", _encode_png(face.mask))
        det = face.detection
        self.records = [r for r in self.records if r["file"] != f"{stem}.png"]
        self.records.append({
            "file": f"{stem}.png", "source": frame.source, "frame_index": frame.index,
            "frame_name": frame.name, "timestamp": round(frame.timestamp, 6),
            "box": [round(float(v), 2) for v in det.box], "score": round(float(det.score), 4),
            "blur": round(float(face.blur), 2), "matrix": np.round(face.matrix, 8).tolist(),
            "landmarks": np.round(det.landmarks, 2).tolist(),
        })

    def checkpoint(self, complete: bool = False) -> None:
        """Persist records and resume points; faces first, so the manifest never points past them."""
        self.manifest["count"] = len(self.records)
        self.manifest["complete"] = complete
        self.manifest["id"] = self.content_id()
        atomic.write_json(self.root / ALIGNMENTS, {"schema_version": SCHEMA_VERSION, "faces": self.records})
        atomic.write_json(self.root / MANIFEST, self.manifest)

    def content_id(self) -> str:
        h = hashlib.sha256()
        for key in ("template", "size", "coverage", "detector"):
            h.update(str(self.manifest.get(key)).encode())
        for r in sorted(self.records, key=lambda r: r["file"]):
            h.update(r["file"].encode() + json.dumps(r["matrix"]).encode())
        return h.hexdigest()[:16]

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    def __len__(self) -> int:
        return len(self.records)

    def crop(self, i: int) -> np.ndarray:
        return _decode_png(self.root / "faces" / self.records[i]["file"], color=True)

    def mask(self, i: int) -> np.ndarray:
        return _decode_png(self.root / "masks" / self.records[i]["file"], color=False)

    def crop_landmarks(self, i: int, size: int | None = None) -> np.ndarray:
        """The face's landmarks in pixels of its aligned crop (rescaled to `size` if given)."""
        from .faces.align import transform_points

        r = self.records[i]
        pts = transform_points(np.asarray(r["landmarks"]), np.asarray(r["matrix"]))
        return pts * ((size or self.size) / self.size)

    def load_tensors(self, size: int | None = None) -> FaceTensors:
        """All faces, masks and crop landmarks resized to `size`, cached beside the face set."""
        import torch
        from safetensors.torch import load_file, save_file

        size = int(size or self.size)
        cache = self.root / f"cache_{size}.safetensors"
        if cache.is_file():
            from safetensors import safe_open

            with safe_open(str(cache), "pt") as f:
                fresh = (f.metadata() or {}).get("id") == self.manifest["id"]
            if fresh:
                t = load_file(str(cache))
                return FaceTensors(t["faces"], t["masks"], t["landmarks"])
        faces, masks, marks = [], [], []
        for i in range(len(self)):
            faces.append(_resize(self.crop(i), size))
            masks.append(_resize(self.mask(i), size))
            marks.append(self.crop_landmarks(i, size))
        tensors = {
            "faces": torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).contiguous(),
            "masks": torch.from_numpy(np.stack(masks))[:, None].contiguous(),
            "landmarks": torch.from_numpy(np.stack(marks).astype(np.float32)),
        }
        with atomic.atomic_path(cache) as tmp:
            save_file(tensors, str(tmp), metadata={"id": self.manifest["id"]})
        return FaceTensors(tensors["faces"], tensors["masks"], tensors["landmarks"])


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if img.shape[0] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=interp)
