"""Hair over the sides of a face: found in an aligned crop, so a decoder's mask learns to leave it out.

Why: a person whose hair falls along the cheeks or over the forehead has that hair inside the landmark hull of
every training face, so the decoder learns to draw it, and its mask to keep it, as face. Swapped onto someone
whose face is wider, the strands land inside the other person's face: woman_d10's hair drew dark strips down
man_d19's temples, with a pale box of her skin between them (docs/quality.md). Hair is what lies near the
hull's edge and is not skin: within `HAIR_BAND` of the face's width of the edge and above the nose tip (lower
down, a jaw in shadow reads as darker than the face as much as hair does), a pixel further than `HAIR_DE`
(CIE76, Lab) from the median colour of the face's inner part. Specks are removed (an opening), so
freckles, stubble dots and landmark jitter do not punch holes in the mask.
"""

from __future__ import annotations

import numpy as np

from .landmark_measures import NOSE_TIP
from .masks import hull_mask

HAIR_BAND = 0.15  # share of the face's width in from the hull's edge where hair can fall over a face
HAIR_DE = 22.0  # Lab distance from the face's skin beyond which a pixel there is taken for hair
CORE = 0.25  # the face's inner part (this share of the width in from the edge) gives the skin's colour


def hair_map(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """bool S×S: hair (or anything else not skin) lying over the edge band of the face in `crop` (S×S×3 uint8
    RGB), whose landmarks (K×2) are in its pixels."""
    import cv2

    size = crop.shape[0]
    hull = hull_mask(landmarks, size) > 127
    width = float(np.ptp(landmarks[:, 0]))
    if not hull.any() or not np.isfinite(width) or width < 8:
        return np.zeros(hull.shape, bool)
    inward = cv2.distanceTransform(hull.astype(np.uint8), cv2.DIST_L2, 5) / width
    core = inward > CORE
    if core.sum() < 16:
        return np.zeros(hull.shape, bool)
    lab = cv2.cvtColor(crop.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    far = np.linalg.norm(lab - np.median(lab[core], axis=0), axis=-1) > HAIR_DE
    above = np.arange(size)[:, None] < landmarks[NOSE_TIP, 1]  # hair falls over the forehead and temples; lower
    hair = (hull & above & (inward < HAIR_BAND) & far).astype(np.uint8)  # down, a jaw in shadow is not hair
    r = max(1, int(round(size / 128)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.morphologyEx(hair, cv2.MORPH_OPEN, disc).astype(bool)


def without_hair(crops: np.ndarray, masks: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """uint8 N×S×S masks with the hair over each face's edge (`hair_map`) taken out."""
    out = masks.copy()
    for i in range(len(crops)):
        out[i][hair_map(crops[i], landmarks[i])] = 0
    return out
