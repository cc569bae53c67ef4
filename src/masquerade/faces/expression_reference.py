"""Expression measures of an aligned face, for models that are told what the source face is doing.

Why: a swap model trained for minutes renders the target's *average* face: its decoder learns to draw that
person from the shared code, and the code of the *other* person's face says little it can read, so the
mouth stays as it usually is and the eyes never close. A model with expression channels (`lite`'s
`expression` setting) also receives numbers measured from the source face's landmarks, and learns from
the target's own footage how that person looks with them. `measures` reads eleven raw ratios of every face:

| measure     | what (over the face size, `faces.landmark_measures`)                            |
|-------------|--------------------------------------------------------------------------|
| mouth       | inner-lip gap                                                            |
| eyes        | lid gap, both eyes                                                       |
| smile       | mouth-corner distance (the mouth's width)                                |
| yaw         | head turn, degrees-like (`faces.landmark_measures.yaw_proxy`)                  |
| pitch       | nose tip below the eye line                                              |
| corner_lift | mouth corners above the upper lip's centre (`faces.landmark_measures.corner_lift`)   |
| lip_press   | visible lip thickness, upper + lower at the centre (pressed lips thin out) |
| pucker      | lip thickness over mouth width (pursed lips: narrow and thick)          |
| jaw_side    | chin left or right of the mouth corners' midpoint                        |
| brow        | brows above the eye corners' line                                        |
| squint      | lower lids below the eye corners' line (a squint or a broad smile raises them) |

How a model reads them is its code version (`models.expression_input.ExpressionCode`, saved in the model's
architecture settings as `expression_code`):

- **version 1** (models saved before it existed): the first five only, eyes as a share of the person's open
  level (p90), smile as a share of the median width, the nod minus the median drop (`baseline`). Those are
  how each clip happened to be filmed, not the person's face at rest: an expressive person's p90 is a
  surprised look, so a calm source at rest asked for it.
- **version 2**: all eleven, each as a deviation from the person's *neutral* face in units of that person's
  own range on that side (`neutral_baseline`): the neutral face is the middle of the densest cluster of the
  person's faces in measure space (most of a talking head's frames are close to rest, whatever its extremes),
  the range the distance from there to the person's 3rd and 97th percentiles. So neutral maps to neutral and
  the source's broadest smile to the target's broadest. Eyes close against an absolute anchor (shut is a
  zero gap for everyone: -1 = shut), head turn and nod are read as geometry (degrees), not as expression.
- **version 3** (new models): version 2, and a swap hands the target's decoder the source's mouth and brow
  measures moved into the target's own spread (`models.expression_input.ExpressionCode.across`): a fitted
  neutral can sit far from where a person's faces mostly are, and a decoder asked for a face beyond its
  person's range draws the nearest it knows and stops following.

The baselines are fitted on each identity's training faces and saved with the model's weights. Any pixel
frame of aligned-crop landmarks works: every measure is a ratio.
"""

from __future__ import annotations

import numpy as np

from .landmark_measures import (EYE_CORNERS, MOUTH_CORNERS, NOSE_TIP, as_points, corner_lift, distance, eye_opening,
                         face_scale, mouth_opening, over_face_scale, yaw_proxy)

MEASURES = ("mouth", "eyes", "smile", "yaw", "pitch", "corner_lift", "lip_press", "pucker", "jaw_side", "brow", "squint")
LEGACY_MEASURES = 5  # what a version-1 code reads: the first five
YAW, JAW_SIDE = MEASURES.index("yaw"), MEASURES.index("jaw_side")
MIRRORED = (YAW, JAW_SIDE)  # the measures a horizontal flip changes (their sign)
USUAL = (0.09, 0.56, 0.5)  # eyes' open level, mouth width, nose drop of a frontal face at rest (the shared real clips)

# Mesh points of the richer measures ("right"/"left" are the subject's own sides).
LIP_TOP, LIP_BOTTOM, INNER_TOP, INNER_BOTTOM = 0, 17, 13, 14  # outer and inner lip contours at the centre
CHIN = 152
BROWS = (105, 66, 334, 296)  # the middle of each brow's upper edge
EYE_LINE = (33, 133, 263, 362)  # outer and inner corners of both eyes
LOWER_LIDS = (145, 374)


def measures(landmarks):
    """float32 N×11 (`MEASURES`) for N×478×2 aligned-crop landmarks (NaN where a face is degenerate).

    A numpy array gives a numpy array; a torch tensor gives a tensor on its device, so the trainer reads the
    measures of faces it has just turned or blinked without a copy to the CPU and back each step (the
    readings of `faces.landmark_measures` take either)."""
    pts, xp = as_points(landmarks)
    pts = pts.reshape(-1, 478, 2)
    x, y = pts[..., 0], pts[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        width = distance(pts, *MOUTH_CORNERS)
        pitch = y[:, NOSE_TIP] - 0.5 * (y[:, EYE_CORNERS[0]] + y[:, EYE_CORNERS[1]])
        thickness = (y[:, INNER_TOP] - y[:, LIP_TOP]) + (y[:, LIP_BOTTOM] - y[:, INNER_BOTTOM])
        eye_line = y[:, list(EYE_LINE)].mean(1)
        brow = eye_line - y[:, list(BROWS)].mean(1)
        lower = y[:, list(LOWER_LIDS)].mean(1) - eye_line
        chin = x[:, CHIN] - 0.5 * (x[:, MOUTH_CORNERS[0]] + x[:, MOUTH_CORNERS[1]])  # the corners: least moved by yaw
        scaled = [over_face_scale(pts, xp, v) for v in (width, pitch, thickness, chin, brow, lower)]
        out = xp.stack([mouth_opening(pts), eye_opening(pts), scaled[0], yaw_proxy(pts), scaled[1], corner_lift(pts),
                        scaled[2], thickness / width, scaled[3], scaled[4], scaled[5]], 1)
        scale = face_scale(pts)
        out = xp.where((xp.isfinite(scale) & (scale > 0))[:, None], out, out * float("nan"))  # degenerate: all NaN
    return out.astype(np.float32) if xp is np else out


def baseline(values: np.ndarray, absolute_pitch: bool = False) -> np.ndarray:
    """float32 (3,): one person's usual eye opening (p90, as `faces.landmark_measures.closed_frames` reads it), mouth
    width (median) and nose drop (median), from their faces' `measures`; typical values where none are known.

    `absolute_pitch`: the nose drop's reference is a typical face's (`USUAL`), the same for both people, not
    the person's own median. Relative, a source at its usual tilt asks the target's decoder for the target's
    usual tilt: on the shared clips man_d19 sits 8° lower than woman_d3 (head pose from the mesh), so a swap
    of her onto him read 6-7° lower than her throughout. Absolute, the decoder is asked for the source's
    tilt, which it can only draw if training showed it that person at other tilts: the trainer asks for it
    with the 3-D turn on (10-minute run, turn 12°: pitch error 6.9° -> 4.5°; without the turn it did not
    help, 7.3°, the decoder having seen only the target's own few degrees)."""
    values = np.asarray(values, np.float64)
    values = values.reshape(-1, values.shape[-1])
    out = np.array(USUAL, np.float64)
    for j, (col, stat) in enumerate(((1, 90), (2, 50)) + (() if absolute_pitch else ((4, 50),))):
        known = values[:, col][np.isfinite(values[:, col])]
        if len(known):
            out[j] = np.percentile(known, stat)
    out[0] = max(out[0], 1e-3)
    out[1] = max(out[1], 1e-3)
    return out.astype(np.float32)


# Version 2's reference when a person's faces say nothing (all eleven measures) and the least range it reads a
# deviation against (a third of the narrowest the real clips show), so a calm person's noise is not a full smile.
TYPICAL_NEUTRAL = (0.0, 0.09, 0.56, 0.0, 0.5, -0.01, 0.16, 0.3, 0.0, 0.25, 0.035)
RANGE_FLOOR = (0.03, 0.01, 0.02, 1.0, 0.01, 0.015, 0.008, 0.02, 0.01, 0.01, 0.005)
GEOMETRY = {YAW: 30.0, MEASURES.index("pitch"): 0.05}  # read as pose: ±1 at about 30° of turn, 10° of nod
NEUTRAL_SHARE = 0.25  # the densest cluster: this share of a person's faces with open eyes
OPEN_EYES = 0.6  # a face at rest has its eyes open: at least this share of the person's widest (p97) opening
FIT_FACES = 2000  # at most this many faces (evenly spread) in the cluster search, which is quadratic


def neutral_baseline(values: np.ndarray, absolute_pitch: bool = False) -> np.ndarray:
    """float32 3×11: one person's neutral face (row 0) and range below / above it (rows 1, 2) per measure,
    from their faces' `measures` (version 2's reference; `models.expression_input.ExpressionCode`).

    Neutral: the median of the densest cluster of the faces with open eyes (an expressive person squints and
    frowns for long runs of frames: on one real clip a quarter of the faces have the eyes nearly shut), found
    jointly over all measures standardised by their spread (the face whose `NEUTRAL_SHARE` nearest neighbours
    are closest, then those neighbours; a wide share, as a video's consecutive frames make tight clusters of
    whatever the person did for a second), so it is a face the person does make at rest. Range: from neutral
    to the 3rd / 97th percentile, at least `RANGE_FLOOR`; the eyes close against zero (shut = -1 for everyone);
    head turn and nod are geometry, not expression: yaw about 0, the nod about a typical face's drop with
    `absolute_pitch` (see `baseline`), otherwise about the neutral face's."""
    values = np.asarray(values, np.float64)
    values = values.reshape(-1, values.shape[-1])[:, : len(MEASURES)]
    neutral = np.array(TYPICAL_NEUTRAL, np.float64)
    floor = np.array(RANGE_FLOOR, np.float64)
    below, above = floor * 3, floor * 3
    known = values[np.isfinite(values).all(1)]
    if len(known) >= 5:
        eyes = MEASURES.index("eyes")
        rest = known[known[:, eyes] >= OPEN_EYES * np.percentile(known[:, eyes], 97)]
        pick = rest[np.linspace(0, len(rest) - 1, min(len(rest), FIT_FACES)).round().astype(int)]
        q25, q75 = np.percentile(pick, [25, 75], axis=0)
        z = pick / np.maximum(q75 - q25, floor)
        k = max(3, int(round(NEUTRAL_SHARE * len(z))))
        d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        nearest = np.argsort(d, axis=1)[:, :k]
        densest = int(np.argmin(np.take_along_axis(d, nearest[:, -1:], 1)))
        neutral = np.median(pick[nearest[densest]], axis=0)
        low, high = np.percentile(known, [3, 97], axis=0)
        below, above = np.maximum(neutral - low, floor), np.maximum(high - neutral, floor)
    eyes = MEASURES.index("eyes")
    below[eyes] = max(neutral[eyes], floor[eyes])
    pitch = MEASURES.index("pitch")
    if absolute_pitch:
        neutral[pitch] = USUAL[2]
    neutral[YAW] = 0.0
    for j, unit in GEOMETRY.items():
        below[j] = above[j] = unit
    return np.stack([neutral, below, above]).astype(np.float32)
