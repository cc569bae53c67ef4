"""Temporal steadiness for landmarks and alignment matrices: the One-Euro filter (Casiez et al., CHI 2012).

Per-frame landmarks jitter by a pixel or two; aligning on them makes the swapped face shimmer. A fixed
low-pass filter would fix the shimmer but lag behind real head motion. The One-Euro filter is a first-order
low-pass whose cutoff frequency rises with the signal's (itself low-passed) speed: at rest it smooths hard
(cutoff `min_cutoff`), when the head moves it follows closely (cutoff grows by `beta` per unit of speed).

It runs on timestamps in seconds, so variable frame rates and dropped frames are handled: the smoothing
factor is recomputed from the actual time step each call.

Tuning (units are those of the signal, per second): lower `min_cutoff` (Hz) = steadier at rest, more lag;
higher `beta` = less lag when moving, more jitter while moving. `d_cutoff` (Hz) smooths the speed estimate.
"""

from __future__ import annotations

import math

import numpy as np


def _smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Weight of the new sample for an exponential low-pass with this cutoff (Hz) at time step dt (s).

    From the RC-circuit discretisation: tau = 1 / (2π·cutoff), alpha = dt / (dt + tau).
    """
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return dt / (dt + tau)


class OneEuroFilter:
    """One-Euro filter over arrays of any (fixed) shape; every element is filtered on its own.

    Call it with each new sample and its timestamp: `smoothed = f(x, t)`. Returns an array of x's shape and
    dtype (float). A timestamp that does not advance (repeated or out-of-order frame) returns the last output
    without updating. `reset()` forgets the history (scene cut, face lost).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("One-Euro filter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None  # last filtered value
        self._dx: np.ndarray | None = None  # last filtered speed
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        raw = np.asarray(x)
        dtype = raw.dtype if np.issubdtype(raw.dtype, np.floating) else np.float64
        value = raw.astype(np.float64)
        if self._x is None:
            self._x, self._dx, self._t = value, np.zeros_like(value), float(t)
            return value.astype(dtype)
        if value.shape != self._x.shape:
            raise ValueError(f"One-Euro filter got shape {value.shape} after {self._x.shape}; reset() first")
        dt = float(t) - self._t
        if dt <= 0:
            return self._x.astype(dtype)
        # 1. speed, low-passed at the fixed derivative cutoff
        speed = (value - self._x) / dt
        a_d = _smoothing_factor(self.d_cutoff, dt)
        self._dx = self._dx + a_d * (speed - self._dx)
        # 2. the value, low-passed at a cutoff that grows with the speed
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _smoothing_factor(cutoff, dt)
        self._x = self._x + a * (value - self._x)
        self._t = float(t)
        return self._x.astype(dtype)


def matrix_to_params(m: np.ndarray) -> tuple[float, float, float, float]:
    """(scale, angle in radians, tx, ty) of a 2×3 similarity matrix [[s·c, −s·s, tx], [s·s, s·c, ty]].

    For a matrix with a little shear (a general affine), this is the nearest similarity's parameters.
    """
    m = np.asarray(m, np.float64)
    a = 0.5 * (m[0, 0] + m[1, 1])  # s·cosθ
    b = 0.5 * (m[1, 0] - m[0, 1])  # s·sinθ
    return float(math.hypot(a, b)), float(math.atan2(b, a)), float(m[0, 2]), float(m[1, 2])


def params_to_matrix(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    """2×3 float64 similarity matrix from (scale, angle in radians, tx, ty); inverse of matrix_to_params."""
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


class MatrixSmoother:
    """One-Euro smoothing of a frame -> crop similarity matrix, for when the matrix (not landmarks) is smoothed.

    Smoothing the six entries independently would let shear creep in, and smoothing (scale, angle) has
    mixed units and an angle that wraps at ±π. Instead the matrix is described by where the crop's centre
    and the half-width vector from the centre to its right edge land in the frame: four numbers, all in
    frame pixels (so one `beta` fits all), no wrap-around, and any four values give back a similarity.
    """

    def __init__(self, size: int, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        self.size = float(size)
        self.filter = OneEuroFilter(min_cutoff, beta, d_cutoff)

    def reset(self) -> None:
        self.filter.reset()

    def __call__(self, matrix: np.ndarray, t: float) -> np.ndarray:
        half = self.size / 2
        back = np.linalg.inv(np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]]))[:2]  # crop -> frame
        centre = back @ np.array([half, half, 1.0])
        edge = back[:, :2] @ np.array([half, 0.0])
        cx, cy, ex, ey = self.filter(np.array([centre[0], centre[1], edge[0], edge[1]]), t)
        lin = np.array([[ex, -ey], [ey, ex]]) / half  # crop -> frame rotation·scale, a similarity by construction
        fwd = np.linalg.inv(lin)
        return np.hstack([fwd, (-fwd @ (np.array([cx, cy]) - lin @ np.array([half, half])))[:, None]])
