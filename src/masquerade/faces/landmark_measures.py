"""Expression measures from MediaPipe's 478 landmarks: how open the mouth is, how open the eyes are.

A building block shared by training (`train.sampling` balances batches over mouth and eye states) and by
`evaluate.expression_fidelity` (does a swap's mouth follow the source's?), so both read expressions the same way.
Per face:

- mouth opening: mean gap between the inner lips at three points, over the face size;
- eye opening: mean gap between the lids at three points per eye, both eyes averaged, over the face size;
- corner lift: how far the mouth corners sit above the upper lip's centre (a smile lifts them, a frown drops
  them), measured across the line through the corners, so a tilted head reads the same.

Face size is the distance between the outer eye corners: unlike the face's height it does not change when
the jaw drops, and unlike an eye's own width it is one scale for mouth and eyes alike. Any pixel frame
works (frame or aligned crop): the measures are ratios. Each reading takes one face (478×2) or a batch
(...×478×2), as a numpy array or a torch tensor (read on its device), and returns one value per face.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

# Upper / lower point pairs of MediaPipe's face mesh ("left"/"right" are the subject's own sides).
MOUTH_PAIRS = np.array([[13, 14], [82, 87], [312, 317]])  # inner lips: centre, right of centre, left of centre
RIGHT_EYE_PAIRS = np.array([[159, 145], [158, 153], [160, 144]])
LEFT_EYE_PAIRS = np.array([[386, 374], [385, 380], [387, 373]])
EYE_CORNERS = (33, 263)  # outer corners: the face-size scale
MOUTH_CORNERS = (61, 291)
UPPER_LIP_CENTRE = 13  # the inner upper lip's middle point
NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 1, 234, 454  # the subject's right cheek is image-left

BLINK_RATIO = 0.45  # a frame is "closed" when the eye opening drops below this share of the clip's open level
# (0.45: real clips show squints at ~0.5 of the open level that are not closures; closed lids sit at ~0.2)


def as_points(landmarks):
    """(points, namespace): a torch tensor as float32 on its device with `torch`, anything else as a float64
    numpy array with `numpy`, so a formula written once over `namespace` reads either (torch is imported only
    when a tensor is given)."""
    if not isinstance(landmarks, np.ndarray) and type(landmarks).__module__.startswith("torch"):
        import torch

        return landmarks.float(), torch
    return np.asarray(landmarks, np.float64), np


def _reading(fn):
    """A reading of one face (478×2 → float) or of a batch (...×478×2 → one value per face), from a numpy array
    (float64) or a torch tensor (float32, on its device): `fn(points, namespace)` is written once for both."""

    @functools.wraps(fn)
    def read(landmarks):
        pts, xp = as_points(landmarks)
        if xp is not np:
            return fn(pts, xp)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = fn(pts, np)
        return float(out) if pts.ndim == 2 else out

    return read


def distance(pts, i, j):
    """Distance between points i and j (indices or index arrays) of ...×K×2 points."""
    return (((pts[..., i, :] - pts[..., j, :]) ** 2).sum(-1)) ** 0.5


def _gap(pts, pairs: np.ndarray):
    return distance(pts, pairs[:, 0], pairs[:, 1]).mean(-1)


def over_face_scale(pts, xp, value):
    """`value` over the face size, NaN where the face size is not a positive number."""
    scale = distance(pts, *EYE_CORNERS)
    return xp.where(xp.isfinite(scale) & (scale > 0), value / scale, value * float("nan"))


@_reading
def face_scale(pts, xp):
    """Distance between the outer eye corners, in the landmarks' pixels."""
    return distance(pts, *EYE_CORNERS)


@_reading
def mouth_opening(pts, xp):
    """Inner-lip gap over face size (about 0 closed, 0.3-0.5 wide open); NaN for a degenerate face."""
    return over_face_scale(pts, xp, _gap(pts, MOUTH_PAIRS))


@_reading
def eye_opening(pts, xp):
    """Lid gap over face size, both eyes averaged (about 0.06-0.1 open, ~0.02 closed)."""
    return over_face_scale(pts, xp, 0.5 * (_gap(pts, RIGHT_EYE_PAIRS) + _gap(pts, LEFT_EYE_PAIRS)))


def each_eye_opening(landmarks) -> np.ndarray:
    """float64 (..., 2): each eye's lid gap over face size, the subject's right eye then left (a wink closes one);
    `eye_opening` is their mean. NaN for a degenerate face."""
    pts, _ = as_points(np.asarray(landmarks))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([over_face_scale(pts, np, _gap(pts, pairs)) for pairs in (RIGHT_EYE_PAIRS, LEFT_EYE_PAIRS)], -1)


@_reading
def corner_lift(pts, xp):
    """Distance of the upper lip's centre below the line through the mouth corners, over face size (positive:
    corners above the centre, a smile; negative: below it); NaN for a degenerate face."""
    c1, c2, p = pts[..., MOUTH_CORNERS[0], :], pts[..., MOUTH_CORNERS[1], :], pts[..., UPPER_LIP_CENTRE, :]
    d, v = c2 - c1, p - c1
    across = (d[..., 0] * v[..., 1] - d[..., 1] * v[..., 0]) / distance(pts, *MOUTH_CORNERS)
    return over_face_scale(pts, xp, across)


@_reading
def yaw_proxy(pts, xp):
    """Head turn in degrees-like units from aligned-crop landmarks (roll removed): asin of the nose tip's offset
    between the two cheek edges (0 frontal, ± to either side; close to degrees for moderate turns)."""
    x = pts[..., 0]
    left, right = x[..., NOSE_TIP] - x[..., RIGHT_CHEEK], x[..., LEFT_CHEEK] - x[..., NOSE_TIP]
    total = left + right
    ratio = (left - right) / total
    asin, clip = (np.arcsin, lambda v: np.clip(v, -1.0, 1.0)) if xp is np else (xp.asin, lambda v: v.clamp(-1.0, 1.0))
    return xp.where(total > 0, asin(clip(ratio)) * (180.0 / np.pi), ratio * float("nan"))


def openings(sequence: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (mouth opening, eye opening, corner lift) of a clip; NaN where a frame has no face (None)."""
    read = lambda fn: np.array([np.nan if lm is None else fn(lm) for lm in sequence], np.float64)  # noqa: E731
    return read(mouth_opening), read(eye_opening), read(corner_lift)


def closed_frames(eye: np.ndarray, ratio: float = BLINK_RATIO) -> np.ndarray:
    """Boolean per frame: eyes closed relative to this clip's own open level (its 90th percentile), so a
    person with narrow eyes is judged against themselves."""
    eye = np.asarray(eye, np.float64)
    known = eye[np.isfinite(eye)]
    if not len(known):
        return np.zeros(len(eye), bool)
    open_level = float(np.percentile(known, 90))
    return np.isfinite(eye) & (eye < ratio * open_level)
