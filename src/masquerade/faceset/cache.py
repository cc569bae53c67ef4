"""The face set's training cache: every face, mask and crop landmark resized to S, as one safetensors file.

Why: decoding thousands of PNGs and resizing them takes longer than many training steps; the cache
(`cache_<S>.safetensors`, beside the face set) is read in one go. It is derived data, marked with the face
set's content id and a format, so a set that changed (faces added or set aside) or a cache of another format
is rebuilt, and damage to it is never the user's problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic

# A cache of another format is rebuilt. "2": landmarks on the resized pixels' centres
# (format 1, unmarked, scaled them about the corner: 0.375 px off at 64 px from 256).
CACHE_FORMAT = "2"


@dataclass(frozen=True)
class FaceTensors:
    """A whole face set in memory for training: uint8 tensors, landmarks in crop pixels of size S."""

    faces: Any  # torch.uint8 N×3×S×S RGB
    masks: Any  # torch.uint8 N×1×S×S
    landmarks: Any  # torch.float32 N×478×2

    def __len__(self) -> int:
        return int(self.faces.shape[0])


def write_cache(cache: Path, content_id: str, faces: np.ndarray, masks: np.ndarray, marks: np.ndarray) -> FaceTensors:
    """Save N×S×S×3 faces, N×S×S masks and N×478×2 landmarks as the cache atomically; return them as tensors."""
    import torch
    from safetensors.torch import save_file

    tensors = {
        "faces": torch.from_numpy(faces).permute(0, 3, 1, 2).contiguous(),
        "masks": torch.from_numpy(masks)[:, None].contiguous(),
        "landmarks": torch.from_numpy(marks.astype(np.float32)),
    }
    with atomic.atomic_path(cache) as tmp:
        save_file(tensors, str(tmp), metadata={"id": content_id, "format": CACHE_FORMAT})
    return FaceTensors(tensors["faces"], tensors["masks"], tensors["landmarks"])


def read_cache(cache: Path, content_id: str, n: int, size: int) -> FaceTensors | None:
    """The cache if it is this face set's (`content_id`, `n` faces of `size`) and whole; None (so it is rebuilt)
    when stale, truncated or corrupt."""
    from safetensors import safe_open

    if not cache.is_file():
        return None
    try:
        with safe_open(str(cache), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("id") != content_id or meta.get("format") != CACHE_FORMAT:
                return None
            t = {k: f.get_tensor(k) for k in ("faces", "masks", "landmarks")}
    except Exception:  # safetensors raises its own error types for every kind of damage; all mean rebuild
        return None
    if tuple(t["faces"].shape) != (n, 3, size, size) or tuple(t["masks"].shape) != (n, 1, size, size) \
            or t["landmarks"].shape[0] != n:
        return None
    return FaceTensors(t["faces"], t["masks"], t["landmarks"])
