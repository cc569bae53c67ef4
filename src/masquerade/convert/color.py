"""Colour matching: make the model's face take on the lighting and tint of the face it replaces.

Every matcher has the shape `match(source_face, target_region, mask) -> recoloured source_face`:

- `source_face`: the swapped face (model output), RGB uint8 S×S×3 (any H×W×3 works).
- `target_region`: the original frame's face cut along the same matrix, same size.
- `mask`: H×W, either uint8 0..255 or float in [0, 1]; a pixel counts as "face" when it is at least half on.

Rule for pixels outside the mask: the statistics come only from pixels inside the mask (of both images),
and the resulting colour transform is applied to *every* pixel of `source_face`. So target pixels outside
the mask never affect the result, and the feathered band of a soft mask gets the same transform as the
face core (no seam inside the feather). Blending decides later which pixels are used.
An empty mask returns `source_face` unchanged (a copy).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..lazy import LazyModule

cv2 = LazyModule("cv2")  # loaded on first use: `convert --help` lists these registries' names without OpenCV

_EPS = 1e-6


class ColorMatcher(Protocol):
    """A colour matcher: recolour `source_face` so its masked statistics match `target_region`'s."""

    def __call__(self, source_face: np.ndarray, target_region: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def binary_mask(mask: np.ndarray) -> np.ndarray:
    """uint8 H×W mask, 255 where the (uint8 or float [0,1]) mask is at least half on, for OpenCV stats."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.dtype == np.uint8:
        return np.where(mask >= 128, np.uint8(255), np.uint8(0))
    return np.where(mask >= 0.5, np.uint8(255), np.uint8(0))


def _check(source_face: np.ndarray, target_region: np.ndarray, mask: np.ndarray) -> None:
    if source_face.shape != target_region.shape or source_face.shape[:2] != np.asarray(mask).shape[:2]:
        raise ValueError(f"colour matching needs same-size images and mask, got {source_face.shape}, "
                         f"{target_region.shape} and {np.asarray(mask).shape}")


def none(source_face: np.ndarray, target_region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """No colour matching: the model's colours as they are (a copy, so callers may write into it)."""
    return source_face.copy()


def rct(source_face: np.ndarray, target_region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer: match mean and standard deviation per channel in CIE Lab.

    Lab decorrelates lightness from tint, so shifting each channel on its own changes exposure and colour cast
    without the hue shifts that per-channel RGB scaling causes. Float Lab (not OpenCV's 8-bit Lab) keeps the
    masked output's mean and std within ~1 Lab unit of the target's (what is left is sRGB gamut clipping).
    """
    _check(source_face, target_region, mask)
    m = binary_mask(mask)
    if not m.any():
        return source_face.copy()
    src = cv2.cvtColor(source_face.astype(np.float32) * (1 / 255), cv2.COLOR_RGB2Lab)
    mu_s, sd_s = (v.ravel() for v in cv2.meanStdDev(src, mask=m))
    # the target is only needed for its statistics: every other pixel estimates them to a fraction of a
    # grey level at a quarter of the conversion cost (kept whole for small crops and sparse masks)
    step = 2 if min(m.shape) >= 64 and m[::2, ::2].sum() >= 255 * 256 else 1
    tgt_m = np.ascontiguousarray(m[::step, ::step])
    tgt = cv2.cvtColor(target_region[::step, ::step].astype(np.float32) * (1 / 255), cv2.COLOR_RGB2Lab)
    mu_t, sd_t = (v.ravel() for v in cv2.meanStdDev(tgt, mask=tgt_m))
    gain = sd_t / np.maximum(sd_s, _EPS)
    # per channel: out = (x - mu_s)·gain + mu_t, as one 3×4 matrix (numpy broadcasting over 3 is slow)
    affine = np.hstack([np.diag(gain), (mu_t - mu_s * gain)[:, None]]).astype(np.float32)
    out = cv2.min(cv2.max(cv2.transform(src, affine), (0.0, -1e9, -1e9, 0.0)), (100.0, 1e9, 1e9, 0.0))
    rgb = cv2.cvtColor(out, cv2.COLOR_Lab2RGB)
    return cv2.multiply(rgb, (255.0, 255.0, 255.0, 0.0), dtype=cv2.CV_8U)  # rounds and saturates both ends


def hist(source_face: np.ndarray, target_region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Histogram matching per RGB channel: map each source level through source CDF -> inverse target CDF.

    Matches the whole distribution (not just two moments), so it also fixes contrast curves and clipped
    highlights; it can posterise when the masked area is tiny, which is why rct is the usual default.
    """
    _check(source_face, target_region, mask)
    m = binary_mask(mask)
    if not m.any():
        return source_face.copy()
    levels = np.arange(256, dtype=np.float64)
    luts = []
    for c in range(3):
        s_cdf = np.cumsum(cv2.calcHist([source_face], [c], m, [256], [0, 256]).ravel().astype(np.float64))
        t_cdf = np.cumsum(cv2.calcHist([target_region], [c], m, [256], [0, 256]).ravel().astype(np.float64))
        s_cdf /= s_cdf[-1]
        t_cdf /= t_cdf[-1]
        # mid-rank of each source level, looked up on the target's CDF (monotone, so a valid LUT)
        s_mid = s_cdf - 0.5 * np.diff(s_cdf, prepend=0.0)
        t_mid = t_cdf - 0.5 * np.diff(t_cdf, prepend=0.0)
        keep = np.diff(t_cdf, prepend=0.0) > 0  # only levels the target actually uses
        luts.append(np.interp(s_mid, t_mid[keep], levels[keep]))
    lut = np.clip(np.rint(np.stack(luts, axis=1)), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(source_face), lut.reshape(256, 1, 3))


color: dict[str, ColorMatcher] = {"rct": rct, "hist": hist, "none": none}
"""Colour matchers by name; a new one is a function above plus one entry here."""
