"""Expression measures of an aligned face, for models that are told what the source face is doing.

Why: a swap model trained for minutes renders the target's *average* face: its decoder learns to draw that
person from the shared code, and the code of the *other* person's face says little it can read, so the
mouth stays as it usually is and the eyes never close. A model with expression channels (`lite`'s
`expression` setting) also receives five numbers measured from the source face's landmarks, and learns from
the target's own footage how that person looks with them:

| measure | what                                                      | read as, relative to the person's own face |
|---------|-----------------------------------------------------------|--------------------------------------------|
| mouth   | inner-lip gap / face size (`faces.expression`)            | as is (0 is shut for everyone)             |
| eyes    | lid gap / face size, both eyes                            | share of the person's open level (p90)     |
| smile   | mouth-corner distance / face size                         | share of the person's median width         |
| yaw     | head turn, degrees-like (`faces.expression.yaw_proxy`)   | as is (0 is frontal for everyone)          |
| pitch   | nose tip below the eye line / face size                   | minus the person's median                  |

The relative readings are what make a measure mean the same on two faces (narrow eyes at their open level
are "open"); the baselines are fitted on each identity's training faces and saved with the model's weights
(`models.expression.ExpressionCode`). Any pixel frame of aligned-crop landmarks works: every measure is a ratio.
"""

from __future__ import annotations

import numpy as np

from .expression import EYE_CORNERS, MOUTH_CORNERS, NOSE_TIP, eye_opening, face_scale, mouth_opening, yaw_proxy

MEASURES = ("mouth", "eyes", "smile", "yaw", "pitch")
YAW = MEASURES.index("yaw")  # the one measure a horizontal flip changes (its sign)
USUAL = (0.09, 0.56, 0.5)  # eyes' open level, mouth width, nose drop of a frontal face at rest (the shared real clips)


def measures(landmarks: np.ndarray) -> np.ndarray:
    """float32 N×5 (`MEASURES`) for N×478×2 aligned-crop landmarks (NaN where a face is degenerate)."""
    lms = np.asarray(landmarks, np.float64).reshape(-1, 478, 2)
    out = np.full((len(lms), len(MEASURES)), np.nan, np.float64)
    for i, pts in enumerate(lms):
        scale = face_scale(pts)
        if not (np.isfinite(scale) and scale > 0):
            continue
        eye_line = 0.5 * (pts[EYE_CORNERS[0], 1] + pts[EYE_CORNERS[1], 1])
        out[i] = (mouth_opening(pts), eye_opening(pts),
                  np.linalg.norm(pts[MOUTH_CORNERS[0]] - pts[MOUTH_CORNERS[1]]) / scale,
                  yaw_proxy(pts), (pts[NOSE_TIP, 1] - eye_line) / scale)
    return out.astype(np.float32)


def baseline(values: np.ndarray) -> np.ndarray:
    """float32 (3,): one person's usual eye opening (p90, as `faces.expression.closed_frames` reads it), mouth
    width (median) and nose drop (median), from their faces' `measures`; typical values where none are known."""
    values = np.asarray(values, np.float64).reshape(-1, len(MEASURES))
    out = np.array(USUAL, np.float64)
    for j, (col, stat) in enumerate(((1, 90), (2, 50), (4, 50))):
        known = values[:, col][np.isfinite(values[:, col])]
        if len(known):
            out[j] = np.percentile(known, stat)
    out[0] = max(out[0], 1e-3)
    out[1] = max(out[1], 1e-3)
    return out.astype(np.float32)
