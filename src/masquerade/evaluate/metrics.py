"""Quality measures of a face swap, as the face-swap literature reports them (FaceForensics++-style).

Pure functions on arrays: head pose from the mesh's 3-D points, expression distance, SSIM/PSNR, temporal flicker.
"""

from __future__ import annotations

import numpy as np

from ..faces import regions
from ..faces.align import umeyama
from ..faces.head_depth import head_axes

def head_pose(points3d: np.ndarray | None) -> np.ndarray:
    """(yaw, pitch, roll) in degrees from the mesh's 478 points in 3-D (x, y, depth in frame pixels,
    `Detection.points3d`); NaN without depth.

    Why not a PnP fit of a generic 3-D head to the 2-D landmarks: with six points and one head shape for
    everybody, the fit read a man looking straight at the camera as turned by 28 degrees, and his face on
    another person's head as flipping between +25 and -23 degrees from frame to frame (a mirror ambiguity of
    near-planar points). The mesh already estimates every point's depth, so the head's own axes are measured
    instead: across (right side to left side), down (forehead to chin), and their normal. Yaw is positive when
    the face turns toward the image's left, pitch when it looks up, roll when it tilts clockwise on screen.
    A person's own shape (a sloping forehead, a longer chin) shifts pitch by a few degrees, so a swap reads a
    little off its source even when it follows every nod: `pose_scores` reports that constant offset apart.
    """
    if points3d is None:
        return np.full(3, np.nan)
    x, y, z = head_axes(points3d).T
    yaw = np.degrees(np.arcsin(np.clip(x[2], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(-y[2], z[2]))
    roll = np.degrees(np.arctan2(x[1], x[0]))
    return np.array([yaw, pitch, roll])


def angle_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-axis signed difference a − b of angles in degrees, wrapped to [-180, 180)."""
    return (np.asarray(a, np.float64) - np.asarray(b, np.float64) + 180.0) % 360.0 - 180.0


def pose_scores(source: np.ndarray, output: np.ndarray) -> dict[str, dict[str, float]]:
    """How the output's head pose follows the source's, per axis (yaw, pitch, roll), from N×3 degrees:
    `error` mean |Δ|, `offset` mean signed Δ (output − source), `motion` mean |Δ − offset| (the error once the
    constant offset is taken out: how far the head's movements stray from the source's), `corr` correlation over
    the clip.

    The error mixes two things the offset and the correlation tell apart: a swap that follows every turn but
    sits a few degrees off (another person's forehead and chin read as another tilt) has a large offset and a
    correlation near 1; a swap that draws the target's usual pose whatever the source does has a correlation
    near 0."""
    src, out = np.asarray(source, np.float64), np.asarray(output, np.float64)
    keep = np.isfinite(src).all(1) & np.isfinite(out).all(1)
    src, out = src[keep], out[keep]
    names = ("yaw", "pitch", "roll")
    if not len(src):
        return {k: dict.fromkeys(names, float("nan")) for k in ("error", "offset", "motion", "corr")}
    delta = angle_delta(out, src)
    corr = [float(np.corrcoef(src[:, i], out[:, i])[0, 1]) if len(src) > 2 and src[:, i].std() > 0 and out[:, i].std() > 0
            else float("nan") for i in range(3)]
    return {"error": dict(zip(names, np.abs(delta).mean(0).tolist())),
            "offset": dict(zip(names, delta.mean(0).tolist())),
            "motion": dict(zip(names, np.abs(delta - delta.mean(0)).mean(0).tolist())),
            "corr": dict(zip(names, corr))}


def normalised_shape(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with position, scale and in-plane rotation removed (aligned to a unit frame by the eyes)."""
    pts = np.asarray(landmarks, np.float64)
    right, left = pts[regions.RIGHT_EYE].mean(0), pts[regions.LEFT_EYE].mean(0)
    unit = np.array([[0.0, 0.0], [1.0, 0.0]])
    m = umeyama(np.stack([right, left]), unit)
    return pts @ m[:, :2].T + m[:, 2]


def expression_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance between the mouth, eyes and brows of two faces after normalising out pose in-plane,
    in units of the inter-ocular distance."""
    idx = np.concatenate([regions.LIPS, regions.EYES, regions.LEFT_BROW, regions.RIGHT_BROW])
    sa, sb = normalised_shape(a)[idx], normalised_shape(b)[idx]
    return float(np.linalg.norm(sa - sb, axis=1).mean())


def ssim_box7(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image's SSIM (7×7 uniform window) of two uint8 images: the usual evaluation figure. Not the
    training SSIM (`train.losses.ssim_map`, an 11-tap Gaussian window), whose values differ on the same faces."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=-1, data_range=255))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def flicker(frames: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change (0..255) inside the face region (pairs where both have a mask)."""
    changes = []
    for i in range(1, len(frames)):
        region = (masks[i] > 0) & (masks[i - 1] > 0)
        if region.any():
            diff = np.abs(frames[i].astype(np.int16) - frames[i - 1].astype(np.int16))
            changes.append(float(diff[region].mean()))
    return float(np.mean(changes)) if changes else float("nan")
