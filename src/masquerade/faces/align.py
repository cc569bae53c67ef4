"""The alignment templates, crop coverage, and the warps between frames and aligned crops.

This is the only module that knows the templates: extract and convert both align through
`alignment_matrix`, and both turn an aligned crop into the model's input through `resize_crop`, so a face
put back with the inverse matrix lands exactly where it came from and the model sees at convert time the
same kind of crop it was trained on.

A template is a set of mesh points, their positions in unit crop coordinates (where the face outline just
fits the crop) and optional per-point weights; the similarity from frame to crop is the (weighted)
least-squares fit of the landmarks onto them. Changing any of these changes every crop, so each version has
its own name, recorded in every face set and model; `TEMPLATES` keeps every version this Masquerade can still
align with, so face sets and models made with an older one keep working (convert, extract onto an existing
set and the Ray jobs align with the name they recorded; only unknown names are refused):
- v1 (not kept): 58 points, 32 of them eyelid contours, so the crop twitched on every blink.
- v2 `mediapipe-mean-v2-rigid`: 13 rigid points (eye corners, nose bridge and tip, nose base) of the mean of
  MediaPipe mesh landmarks over ~100 frontal-ish faces (generalised Procrustes, eye line levelled). Blinks
  moved it less, but 13 close points made rotation and scale noisy: overall it shook a little more than v1.
- v3 `mediapipe-mean-v3-upper` (new face sets): 190 weighted points of the upper face, placed in v2's frame
  so the face keeps its size and place in the crop; see `template_v3` for how they were chosen and measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import regions
from .template_v3 import V3_INDICES, V3_POSITIONS, V3_WEIGHTS

# v2's mesh points: they do not move with blinks, gaze or speech (subject's right/left as in `regions`).
RIGID_POINTS: dict[str, int] = {
    "right_eye_outer": 33, "right_eye_inner": 133, "left_eye_inner": 362, "left_eye_outer": 263,
    "nose_bridge_top": 168, "nose_bridge": 6, "nose_bridge_low": 197, "nose_dorsum": 195, "nose_dorsum_low": 5,
    "nose_tip_top": 4, "nose_tip": 1, "right_nose_base": 98, "left_nose_base": 327,
}
_V2_INDICES = np.array(list(RIGID_POINTS.values()))
_MEAN_FACE_INDICES = np.concatenate([regions.EYES, regions.NOSE, [61, 291]])  # the rows of _MEAN_FACE (v1, v2)
_MEAN_FACE = np.array([
    (0.7471, 0.3316), (0.7601, 0.3201), (0.5995, 0.3328), (0.7126, 0.3451), (0.6827, 0.3475), (0.6536, 0.3445),
    (0.6261, 0.3386), (0.6082, 0.3357), (0.6307, 0.3073), (0.6610, 0.2971), (0.6921, 0.2953), (0.7226, 0.3001),
    (0.7411, 0.3082), (0.7329, 0.3390), (0.6095, 0.3227), (0.7519, 0.3147), (0.2532, 0.3301), (0.2408, 0.3187),
    (0.3988, 0.3331), (0.2872, 0.3440), (0.3167, 0.3466), (0.3454, 0.3438), (0.3726, 0.3382), (0.3902, 0.3355),
    (0.3691, 0.3091), (0.3393, 0.2995), (0.3093, 0.2974), (0.2794, 0.3013), (0.2604, 0.3082), (0.2671, 0.3377),
    (0.3895, 0.3235), (0.2493, 0.3138), (0.4938, 0.5737), (0.4936, 0.6064), (0.4944, 0.5349), (0.4954, 0.4830),
    (0.4983, 0.3553), (0.4938, 0.5923), (0.4617, 0.5347), (0.3882, 0.5544), (0.3864, 0.5690), (0.4937, 0.5995),
    (0.4498, 0.6032), (0.3967, 0.5897), (0.4083, 0.5436), (0.4993, 0.3054), (0.4964, 0.4397), (0.4973, 0.3992),
    (0.4331, 0.5379), (0.5270, 0.5351), (0.6023, 0.5561), (0.6038, 0.5708), (0.5386, 0.6042), (0.5931, 0.5915),
    (0.5818, 0.5450), (0.5561, 0.5389), (0.3452, 0.7208), (0.6470, 0.7283),
], dtype=np.float64)


def _mean_face(indices: np.ndarray) -> np.ndarray:
    """Rows of the v1/v2 mean face for these mesh points."""
    return _MEAN_FACE[[int(np.flatnonzero(_MEAN_FACE_INDICES == i)[0]) for i in indices]]


@dataclass(frozen=True)
class Template:
    """Mesh points the similarity is fitted on, where they go (unit crop coordinates, "face" coverage) and
    how much each counts (None: equally)."""

    name: str
    indices: np.ndarray
    unit: np.ndarray
    weights: np.ndarray | None = None


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("mediapipe-mean-v2-rigid", _V2_INDICES, _mean_face(_V2_INDICES)),
    Template("mediapipe-mean-v3-upper", V3_INDICES, V3_POSITIONS, V3_WEIGHTS),
)}
TEMPLATE_NAME = "mediapipe-mean-v3-upper"
"""The newest template: what new face sets are extracted with, and every function's default."""
ALIGN_INDICES = TEMPLATES[TEMPLATE_NAME].indices


# coverage name -> (zoom-out factor, vertical shift of the crop centre in face units; negative = up)
COVERAGES: dict[str, tuple[float, float]] = {
    "face": (1.0, 0.0),  # the face outline, forehead to chin, fills the crop
    "whole_face": (1.25, -0.03),  # a margin around the outline: more forehead, cheeks and jaw line
    "head": (1.75, -0.1),  # hair and ears too
}


V1_INDICES = _MEAN_FACE_INDICES
"""The 58 points template v1 fitted on (eyelid contours, nose, mouth corners); kept for comparisons."""


def get_template(name: str = TEMPLATE_NAME) -> Template:
    """The template called `name`; a model or face set made with one this Masquerade does not know (v1, or
    one from a newer version) is refused, since its crops cannot be reproduced."""
    found = TEMPLATES.get(name)
    if found is None:
        from ..errors import ModelMismatchError

        raise ModelMismatchError(f"faces aligned with template {name!r} cannot be reproduced by this Masquerade "
                                 f"(it aligns with {', '.join(map(repr, TEMPLATES))}); re-extract the face sets "
                                 "and retrain")
    return found


def template_points(size: int, coverage: str = "face", indices: np.ndarray | None = None,
                    template: str = TEMPLATE_NAME) -> np.ndarray:
    """Positions of `template`'s points (or of v1/v2 mean-face `indices`) in pixels of a size×size crop."""
    if coverage not in COVERAGES:
        raise ValueError(f"unknown coverage {coverage!r}; choose one of: {', '.join(COVERAGES)}")
    zoom, shift = COVERAGES[coverage]
    base = get_template(template).unit if indices is None else _mean_face(indices)
    unit = (base - 0.5) / zoom + 0.5
    unit[:, 1] -= shift / zoom
    return unit * size


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking src onto dst, 2×3.

    With `weights`, each point's squared error counts that much (weighted means and cross-covariance, as in
    Umeyama 1991 with a weighted sum): noisy points can stay in the fit without shaking it.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    w = np.full(len(src), 1.0 / len(src)) if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
    mu_s, mu_d = w @ src, w @ dst
    s0, d0 = src - mu_s, dst - mu_d
    u, d, vt = np.linalg.svd((d0 * w[:, None]).T @ s0)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = float((d * np.diag(sign)).sum() / (w @ (s0 ** 2).sum(1)))
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def alignment_matrix(landmarks: np.ndarray, size: int, coverage: str = "face",
                     template: str = TEMPLATE_NAME) -> np.ndarray:
    """2×3 matrix taking frame pixels to a size×size crop aligned with `template` (fitted on its points)."""
    t = get_template(template)
    return umeyama(np.asarray(landmarks)[t.indices], template_points(size, coverage, template=template), t.weights)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix (crop -> frame)."""
    a = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(a)[:2]


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Cut the aligned crop out of a frame (areas outside the frame are filled by edge replication)."""
    import cv2

    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def resize_crop(crop: np.ndarray, size: int) -> np.ndarray:
    """An aligned crop (or its uint8 mask) at another side length: the model's input from a face set's crop.

    The one resize between a face set's crop size and a model's: the face set cache (training) and convert
    both call it, so the model is fed at convert time exactly the kind of crop it learned from. Shrinking
    averages pixel areas (no aliasing, unlike sampling a small crop straight from the frame); growing is
    bicubic.
    """
    import cv2

    if crop.shape[0] == size and crop.shape[1] == size:
        return crop
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def resized_matrix(matrix: np.ndarray, base: int, size: int) -> np.ndarray:
    """frame -> crop matrix for `resize_crop` of the `base` px crop `matrix` cuts, at `size` px. A resize maps
    pixel *centres*, x' = s·(x + 0.5) − 0.5 with s = size/base, so the matrix scales by s and shifts by s/2 − 1/2
    (scaled alone, a 64 px crop of a 256 px cut sits 1.5 px of 256 up and left of its pixels)."""
    s = float(size) / base
    out = np.asarray(matrix, np.float64) * s
    out[:, 2] += 0.5 * s - 0.5
    return out


def warp_to_frame(crop: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Put a crop (or its mask) back into frame geometry with the inverse of `matrix`; outside is zero."""
    import cv2

    return cv2.warpAffine(crop, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def align_face(image: np.ndarray, detection, size: int, coverage: str = "face", template: str = TEMPLATE_NAME):
    """Cut a detected face out of a frame along `template`: crop, hull mask, blur score and the matrix."""
    from ..records import AlignedFace
    from .masks import blur_score, hull_mask

    matrix = alignment_matrix(detection.landmarks, size, coverage, template)
    crop = warp_to_crop(image, matrix, size)
    mask = hull_mask(transform_points(detection.landmarks, matrix), size)
    return AlignedFace(detection, matrix, crop, mask, blur_score(crop, mask))
