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
| pitch   | nose tip below the eye line / face size                   | minus the person's median (with the 3-D    |
|         |                                                           | turn: a typical face's, see `baseline`)    |

The relative readings are what make a measure mean the same on two faces (narrow eyes at their open level
are "open"); the baselines are fitted on each identity's training faces and saved with the model's weights
(`models.expression.ExpressionCode`). Any pixel frame of aligned-crop landmarks works: every measure is a ratio.
"""

from __future__ import annotations

import numpy as np

from .expression import (EYE_CORNERS, MOUTH_CORNERS, NOSE_TIP, as_points, distance, eye_opening, face_scale,
                         mouth_opening, over_face_scale, yaw_proxy)

MEASURES = ("mouth", "eyes", "smile", "yaw", "pitch")
YAW = MEASURES.index("yaw")  # the one measure a horizontal flip changes (its sign)
USUAL = (0.09, 0.56, 0.5)  # eyes' open level, mouth width, nose drop of a frontal face at rest (the shared real clips)


def measures(landmarks):
    """float32 N×5 (`MEASURES`) for N×478×2 aligned-crop landmarks (NaN where a face is degenerate).

    A numpy array gives a numpy array; a torch tensor gives a tensor on its device, so the trainer reads the
    measures of faces it has just turned or blinked without a copy to the CPU and back each step (the
    readings of `faces.expression` take either)."""
    pts, xp = as_points(landmarks)
    pts = pts.reshape(-1, 478, 2)
    y = pts[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        smile = distance(pts, *MOUTH_CORNERS)
        pitch = y[:, NOSE_TIP] - 0.5 * (y[:, EYE_CORNERS[0]] + y[:, EYE_CORNERS[1]])
        out = xp.stack([mouth_opening(pts), eye_opening(pts), over_face_scale(pts, xp, smile), yaw_proxy(pts),
                        over_face_scale(pts, xp, pitch)], 1)
        scale = face_scale(pts)
        out = xp.where((xp.isfinite(scale) & (scale > 0))[:, None], out, out * float("nan"))  # degenerate: all NaN
    return out.astype(np.float32) if xp is np else out


def baseline(values: np.ndarray, absolute_pitch: bool = False) -> np.ndarray:
    """float32 (3,): one person's usual eye opening (p90, as `faces.expression.closed_frames` reads it), mouth
    width (median) and nose drop (median), from their faces' `measures`; typical values where none are known.

    `absolute_pitch`: the nose drop's reference is a typical face's (`USUAL`), the same for both people, not
    the person's own median. Relative, a source at its usual tilt asks the target's decoder for the target's
    usual tilt: on the shared clips man_d19 sits 8° lower than woman_d3 (head pose from the mesh), so a swap
    of her onto him read 6-7° lower than her throughout. Absolute, the decoder is asked for the source's
    tilt, which it can only draw if training showed it that person at other tilts: the trainer asks for it
    with the 3-D turn on (10-minute run, turn 12°: pitch error 6.9° -> 4.5°; without the turn it did not
    help, 7.3°, the decoder having seen only the target's own few degrees)."""
    values = np.asarray(values, np.float64).reshape(-1, len(MEASURES))
    out = np.array(USUAL, np.float64)
    for j, (col, stat) in enumerate(((1, 90), (2, 50)) + (() if absolute_pitch else ((4, 50),))):
        known = values[:, col][np.isfinite(values[:, col])]
        if len(known):
            out[j] = np.percentile(known, stat)
    out[0] = max(out[0], 1e-3)
    out[1] = max(out[1], 1e-3)
    return out.astype(np.float32)
