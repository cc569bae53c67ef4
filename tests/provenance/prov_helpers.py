"""Helpers shared by the provenance tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np


def pan_clip(image: np.ndarray, n: int = 10, size: tuple[int, int] = (1280, 720), step: int = 3) -> list[np.ndarray]:
    """A 720p clip panning across an upscaled photo (moving content, as in real footage)."""
    import cv2

    w, h = size
    big = cv2.resize(image, (w + n * step + 64, h + n * step + 64), interpolation=cv2.INTER_CUBIC)
    frames = []
    for i in range(n):
        y, x = 16 + i * step // 2, 16 + i * step
        frames.append(np.ascontiguousarray(big[y : y + h, x : x + w]))
    return frames
