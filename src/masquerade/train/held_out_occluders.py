"""Occluder families the mask net never trains on: only `bench/occlusion.py` draws them, so the benchmark
measures shapes and pictures the net never saw (kept apart from `train/occluders.py`, whose families
training draws, so that nothing in training can reach them by accident).

- `object_photo`: real objects from installed packages cut out of their photo by colour or by their own
  alpha (scikit-image's coffee cup, matplotlib's present, scikit-image's logo: `HELD_OUT_IMAGES`, none of
  them in `occluders.TRAIN_IMAGES`);
- `hand_template`: a hand drawn from a fixed outline polygon with spread fingers (not the
  ellipse-and-capsules hands of training).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from .occluders import Occluder, Palette, _fill, _shade, _tone, package_image

HELD_OUT_IMAGES = ("coffee", "Minduka_Present_Blue_Pack.png", "logo")


HAND_OUTLINE = np.array([  # a right hand, fingers spread, palm towards the camera; unit box, wrist at the bottom
    (0.30, 1.00), (0.28, 0.70), (0.10, 0.55), (0.02, 0.42), (0.06, 0.38), (0.20, 0.48), (0.24, 0.40),
    (0.18, 0.12), (0.23, 0.08), (0.30, 0.35), (0.36, 0.02), (0.43, 0.02), (0.45, 0.33), (0.54, 0.04),
    (0.61, 0.06), (0.58, 0.36), (0.70, 0.12), (0.76, 0.16), (0.68, 0.45), (0.72, 0.62), (0.66, 0.78),
    (0.62, 1.00)], np.float64)


def cut_out(img: np.ndarray, threshold: float = 0.12) -> np.ndarray:
    """Alpha of the object in a product-style photo: its own alpha where it has one, else the pixels whose
    colour is far from the border's median colour, cleaned, kept to its largest connected part, holes filled."""
    import cv2

    if img[..., 3].min() < 0.99:
        return img[..., 3]
    rgb = img[..., :3]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    far = (np.linalg.norm(rgb - np.median(border, 0), axis=2) > threshold).astype(np.uint8)
    far = cv2.morphologyEx(far, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(far)
    if n < 2:
        return far.astype(np.float32)
    biggest = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    outside = np.pad(1 - biggest, 1, constant_values=1)
    cv2.floodFill(outside, None, (0, 0), 2)  # what the border reaches is outside; the rest (holes too) is the object
    return (outside[1:-1, 1:-1] != 2).astype(np.float32)


@lru_cache(maxsize=None)
def _object(name: str) -> tuple[np.ndarray, np.ndarray]:
    img = package_image(name)
    alpha = cut_out(img)
    ys, xs = np.nonzero(alpha > 0.5)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return img[y0:y1, x0:x1, :3].copy(), alpha[y0:y1, x0:x1].copy()


def _place(rgb: np.ndarray, alpha: np.ndarray, s: int, rng: np.random.Generator, scale: tuple[float, float]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Put an object (any size) into an S×S canvas at a random place, size and angle."""
    import cv2

    h, w = alpha.shape
    side = rng.uniform(*scale) * s
    k = side / max(h, w)
    angle = rng.uniform(-40, 40)
    c = rng.uniform(0.2 * s, 0.8 * s, 2)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, k)
    m[:, 2] += c - np.array([w / 2, h / 2])
    out_rgb = cv2.warpAffine(rgb, m, (s, s), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    out_a = cv2.warpAffine(alpha, m, (s, s), flags=cv2.INTER_LINEAR)
    return out_rgb, out_a


def draw_object_photo(s: int, rng: np.random.Generator, pal: Palette) -> Occluder:
    rgb, alpha = _object(HELD_OUT_IMAGES[rng.integers(len(HELD_OUT_IMAGES))])
    rgb, alpha = _place(rgb, alpha, s, rng, (0.35, 0.7))
    return Occluder(rgb.astype(np.float32), alpha.astype(np.float32), "object_photo")


def draw_hand_template(s: int, rng: np.random.Generator, pal: Palette) -> Occluder:
    import cv2

    n = 256
    alpha = np.zeros((n, n), np.float32)
    cv2.fillPoly(alpha, [np.round(HAND_OUTLINE * (n - 1) * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    if rng.random() < 0.5:
        alpha = alpha[:, ::-1].copy()  # a left hand
    colour = _tone(rng, pal.skin[rng.integers(len(pal.skin))])
    rgb = _shade(_fill(n, colour), rng)
    rgb, alpha = _place(rgb, alpha, s, rng, (0.4, 0.75))
    return Occluder(rgb.astype(np.float32), alpha.astype(np.float32), "hand_template")


HELD_OUT_FAMILIES: dict[str, Callable[[int, np.random.Generator, Palette], Occluder]] = {
    "object_photo": draw_object_photo, "hand_template": draw_hand_template,
}
