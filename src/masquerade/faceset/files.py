"""One face's files in a face set: its crop and mask as PNG, and its record in `alignments.json`.

Why apart from `FaceSet`: these say what one face looks like on disk, with no state of the set; the set
(core.py) decides when they are written, under its writer lock.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import FaceSetError
from ..records import AlignedFace, Frame
from .sources import Source


def encode_png(array: np.ndarray) -> bytes:
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:  # never under `python -O` only: a face file that is not written must stop the run
        raise ValueError(f"could not encode a {array.shape} {array.dtype} face crop as PNG")
    return buf.tobytes()


def decode_png(root: Path, sub: str, record: dict) -> np.ndarray:
    """A face's crop (`sub` "faces", RGB) or mask ("masks", grey); a missing file says how to get it back."""
    import cv2

    color = sub == "faces"
    img = cv2.imread(str(root / sub / record["file"]), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FaceSetError(f"{root}: face file {sub}/{record['file']} is missing or unreadable; re-extract it with "
                           f"`masquerade extract {record.get('source', 'ITS_SOURCE')} -o {root}` (same options: "
                           "only missing faces are redone), or put the file back")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if color else img


def face_record(name: str, source: Source, frame: Frame, face: AlignedFace) -> dict:
    """A face's line in `alignments.json` (rounded: the file is read by people too, and diffs stay small)."""
    det = face.detection
    return {
        "file": name, "source": frame.source, "source_id": source.id, "frame_index": frame.index,
        "frame_name": frame.name, "timestamp": round(frame.timestamp, 6),
        "box": [round(float(v), 2) for v in det.box], "score": round(float(det.score), 4),
        "blur": round(float(face.blur), 2) if math.isfinite(face.blur) else 0.0,
        "matrix": np.round(face.matrix, 8).tolist(), "landmarks": np.round(det.landmarks, 2).tolist(),
    }


def resized(img: np.ndarray, size: int) -> np.ndarray:
    """The model's input from a stored crop: the same function convert uses (contracts §4)."""
    from ..faces.align import resize_crop

    return resize_crop(img, size)
