"""Quality measures of a face swap, as the face-swap literature reports them (FaceForensics++-style).

Pure functions on arrays: head pose from landmarks, expression distance, SSIM/PSNR, temporal flicker.
"""

from __future__ import annotations

import numpy as np

from ..faces import regions
from ..faces.align import umeyama

# A generic 3-D head (millimetres, y up) at the six POSE_POINTS: right eye outer corner, left eye outer
# corner, nose tip, right mouth corner, left mouth corner, chin. Good enough for relative pose errors.
_HEAD_3D = np.array([
    [-45.0, 35.0, -30.0], [45.0, 35.0, -30.0], [0.0, 0.0, 0.0],
    [-28.0, -30.0, -25.0], [28.0, -30.0, -25.0], [0.0, -65.0, -15.0],
])


def head_pose(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(yaw, pitch, roll) in degrees from 478 landmarks in frame pixels, by solvePnP on a generic head."""
    import cv2

    image_pts = np.asarray(landmarks, np.float64)[regions.POSE_POINTS]
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    model = _HEAD_3D * np.array([1.0, -1.0, -1.0])  # to camera axes: y down, z forward
    ok, rvec, _ = cv2.solvePnP(model, image_pts, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        return np.full(3, np.nan)
    rot, _ = cv2.Rodrigues(rvec)
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    return np.array([yaw, pitch, roll])


def angle_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-axis absolute difference of angles in degrees, wrapped to [0, 180]."""
    d = np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)
    return d


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


def ssim(a: np.ndarray, b: np.ndarray) -> float:
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
