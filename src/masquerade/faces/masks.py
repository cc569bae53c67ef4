"""Per-face masks drawn from landmarks, and a sharpness score for rejecting blurry faces."""

from __future__ import annotations

import numpy as np


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """uint8 size×size mask, 255 inside the convex hull of the landmarks (in crop pixels)."""
    import cv2

    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def blur_score(crop: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian on a 256-px grey version of the crop, inside the mask (higher = sharper).

    Measured at a fixed size so the threshold means the same thing whatever `--size` extraction used.
    """
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != 256:
        grey = cv2.resize(grey, (256, 256), interpolation=cv2.INTER_AREA)
        mask = None if mask is None else cv2.resize(mask, (256, 256), interpolation=cv2.INTER_NEAREST)
    lap = cv2.Laplacian(grey, cv2.CV_64F)
    if mask is not None:
        lap = lap[mask > 127]
    return float(lap.var()) if lap.size else 0.0
