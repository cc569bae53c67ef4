"""Expression measures from MediaPipe's 478 landmarks: how open the mouth is, how open the eyes are.

A building block shared by training (`train.sampling` balances batches over mouth and eye states) and by
`evaluate.expression` (does a swap's mouth follow the source's?), so both read expressions the same way.
Per face:

- mouth opening: mean gap between the inner lips at three points, over the face size;
- eye opening: mean gap between the lids at three points per eye, both eyes averaged, over the face size.

Face size is the distance between the outer eye corners: unlike the face's height it does not change when
the jaw drops, and unlike an eye's own width it is one scale for mouth and eyes alike. Any pixel frame
works (frame or aligned crop): the measures are ratios.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Upper / lower point pairs of MediaPipe's face mesh ("left"/"right" are the subject's own sides).
MOUTH_PAIRS = np.array([[13, 14], [82, 87], [312, 317]])  # inner lips: centre, right of centre, left of centre
RIGHT_EYE_PAIRS = np.array([[159, 145], [158, 153], [160, 144]])
LEFT_EYE_PAIRS = np.array([[386, 374], [385, 380], [387, 373]])
EYE_CORNERS = (33, 263)  # outer corners: the face-size scale
MOUTH_CORNERS = (61, 291)
NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 1, 234, 454  # the subject's right cheek is image-left

BLINK_RATIO = 0.45  # a frame is "closed" when the eye opening drops below this share of the clip's open level
# (0.45: real clips show squints at ~0.5 of the open level that are not closures; closed lids sit at ~0.2)


def face_scale(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners, in the landmarks' pixels."""
    pts = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(pts[EYE_CORNERS[0]] - pts[EYE_CORNERS[1]]))


def _gap(pts: np.ndarray, pairs: np.ndarray) -> float:
    return float(np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1).mean())


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap over face size (about 0 closed, 0.3-0.5 wide open); NaN for a degenerate face."""
    pts = np.asarray(landmarks, np.float64)
    scale = face_scale(pts)
    return _gap(pts, MOUTH_PAIRS) / scale if scale > 0 else float("nan")


def eye_opening(landmarks: np.ndarray) -> float:
    """Lid gap over face size, both eyes averaged (about 0.06-0.1 open, ~0.02 closed)."""
    pts = np.asarray(landmarks, np.float64)
    scale = face_scale(pts)
    if scale <= 0:
        return float("nan")
    return 0.5 * (_gap(pts, RIGHT_EYE_PAIRS) + _gap(pts, LEFT_EYE_PAIRS)) / scale


def yaw_proxy(landmarks: np.ndarray) -> float:
    """Head turn in degrees-like units from aligned-crop landmarks (roll removed): asin of the nose tip's offset
    between the two cheek edges (0 frontal, ± to either side; close to degrees for moderate turns)."""
    pts = np.asarray(landmarks, np.float64)
    left = pts[NOSE_TIP, 0] - pts[RIGHT_CHEEK, 0]
    right = pts[LEFT_CHEEK, 0] - pts[NOSE_TIP, 0]
    total = left + right
    if not np.isfinite(total) or total <= 0:
        return float("nan")
    return float(np.degrees(np.arcsin(np.clip((left - right) / total, -1.0, 1.0))))


def openings(sequence: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (mouth, eye) openings of a clip; NaN where a frame has no face (None)."""
    mouth = np.array([np.nan if lm is None else mouth_opening(lm) for lm in sequence], np.float64)
    eye = np.array([np.nan if lm is None else eye_opening(lm) for lm in sequence], np.float64)
    return mouth, eye


def closed_frames(eye: np.ndarray, ratio: float = BLINK_RATIO) -> np.ndarray:
    """Boolean per frame: eyes closed relative to this clip's own open level (its 90th percentile), so a
    person with narrow eyes is judged against themselves."""
    eye = np.asarray(eye, np.float64)
    known = eye[np.isfinite(eye)]
    if not len(known):
        return np.zeros(len(eye), bool)
    open_level = float(np.percentile(known, 90))
    return np.isfinite(eye) & (eye < ratio * open_level)
