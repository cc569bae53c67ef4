"""Putting the swapped face into the frame: mask shaping, blending backends, and sharpening.

Conventions: images are RGB uint8 H×W×3. Masks may come in as uint8 0..255 or float in [0, 1] (H×W or
H×W×1); every function here that returns a mask returns float32 H×W in [0, 1]. Blenders take `swapped`
and `mask` already in frame geometry (same size as `frame`), never modify their inputs, and only touch
pixels inside the mask's bounding box, so a small face in a large frame costs little.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..lazy import LazyModule

cv2 = LazyModule("cv2")  # loaded on first use: `convert --help` lists these registries' names without OpenCV


class Blender(Protocol):
    """A blender: composite `swapped` over `frame` where `mask` says; returns a new frame."""

    def __call__(self, frame: np.ndarray, swapped: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def as_float_mask(mask: np.ndarray) -> np.ndarray:
    """float32 H×W in [0, 1] from a uint8 0..255, bool or float mask (a trailing channel axis is dropped)."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) * np.float32(1 / 255)
    return np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)


def mask_box(mask: np.ndarray, pad: int = 0) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the mask's non-zero pixels grown by `pad` and clipped to the image; None if empty."""
    # a 8-bit view is enough to find the support and lets OpenCV do it fast
    support = mask if mask.dtype == np.uint8 else (mask > 0).view(np.uint8)
    if support.ndim == 3:
        support = support[..., 0]
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(support))
    if w == 0 or h == 0:
        return None
    height, width = mask.shape[:2]
    return max(0, x - pad), max(0, y - pad), min(width, x + w + pad), min(height, y + h + pad)


def shape_mask(mask: np.ndarray, erode: int, blur: int) -> np.ndarray:
    """Erode the mask by `erode` px (negative: dilate) and feather its edge with a Gaussian of radius `blur` px.

    Eroding pulls the edge in from the hair line and jaw, where the swapped face is least reliable; the blur
    (σ = blur/3, kernel radius `blur`) turns the hard edge into a ramp so the seam is not visible. Returns
    float32 H×W in [0, 1]. Pixels at the frame border are not eroded from the border side (a face cut by the
    frame edge keeps its cut edge).
    """
    mask = np.asarray(mask)
    out = np.zeros(mask.shape[:2], np.float32)
    box = mask_box(mask, pad=abs(erode) + max(blur, 0) + 2)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    roi = as_float_mask(mask[y0:y1, x0:x1])
    if erode:
        k = 2 * abs(erode) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        roi = cv2.erode(roi, kernel) if erode > 0 else cv2.dilate(roi, kernel)
    if blur > 0:
        k = 2 * blur + 1
        roi = cv2.GaussianBlur(roi, (k, k), blur / 3.0, borderType=cv2.BORDER_REPLICATE)
    out[y0:y1, x0:x1] = roi
    return out


FOREHEAD_FADE = 0.12  # the mask's top fades in over this share of the crop's height, below its top edge


def fade_top(mask: np.ndarray, share: float = FOREHEAD_FADE) -> np.ndarray:
    """An upright face crop's mask faded in from its top edge, column by column, over `share` of its height
    (a smooth step: 0 at the edge, 1 below), float32 [0, 1].

    The landmark hull ends mid-forehead, where nothing in the face marks an edge: a feather of a few percent
    draws a line across the forehead below the hair. Faded over a longer distance there, following the top
    edge's own curve (temples included), the swapped forehead melts into the frame's forehead and hair; the
    jaw and cheeks keep the shorter feather, where the face's edge is a real edge."""
    m = as_float_mask(mask)
    on = m > 0.5
    rows = np.flatnonzero(on.any(1))
    if not len(rows):
        return m.copy()
    span = max(1.0, share * m.shape[0])
    top = np.where(on.any(0), on.argmax(0), m.shape[0]).astype(np.float32)  # first row inside, per column
    ramp = _smoothstep((np.arange(m.shape[0], dtype=np.float32)[:, None] - top[None, :]) / span)
    # only where the top edge is the upper half's (forehead, temples): 0 for columns whose edge starts below it
    middle, height = 0.5 * (rows[0] + rows[-1]), max(1.0, float(rows[-1] - rows[0]))
    strength = _smoothstep((middle - top) / (0.2 * height))[None, :]
    return m * (1 - strength * (1 - ramp))


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def combine_masks(learned: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """Intersection (pixel-wise minimum) of the model's learned mask and the landmark hull, float32 [0, 1].

    The learned mask follows occlusions (hands, hair) and the hull keeps it from leaking outside the face.
    """
    a, b = as_float_mask(learned), as_float_mask(hull)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in size: {a.shape} vs {b.shape}")
    return np.minimum(a, b)


def sharpen(image: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: image + amount·(image − blur(image)); restores edges softened by upscaling the face.

    amount 0 returns the image unchanged (a copy); 0.5–1 is typical. uint8 in, uint8 out (saturated).
    """
    if amount <= 0:
        return image.copy()
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0.0)


def alpha(frame: np.ndarray, swapped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Alpha composite: frame·(1 − m) + swapped·m, feathering coming from the mask itself.

    Where m is exactly 1 (0) the output is exactly `swapped` (`frame`).
    """
    _check(frame, swapped, mask)
    out = frame.copy()
    box = mask_box(np.asarray(mask))
    if box is None:
        return out
    x0, y0, x1, y1 = box
    m = np.ascontiguousarray(as_float_mask(np.asarray(mask)[y0:y1, x0:x1]))
    # (m·s + (1 − m)·f) / (m + 1 − m), rounded; exact where m is 0 or 1, and ~8× faster than numpy here
    out[y0:y1, x0:x1] = cv2.blendLinear(np.ascontiguousarray(swapped[y0:y1, x0:x1]),
                                        np.ascontiguousarray(frame[y0:y1, x0:x1]), m, 1.0 - m)
    return out


BORDER_REACH = 0.25  # how far the border's colour correction reaches into the face, share of the mask's width
BORDER_OUTLIER = 30.0  # band pixels further than this (RGB levels) from the band's median difference are left out
BORDER_PRIOR = 1e-4  # weight of the band's median in the correction, where the band is far (a few σ away)
BORDER_SKIN_DE = 20.0  # a band pixel counts where both images are within this Lab distance of their face's skin
BORDER_READ_STEP_PX = 80  # the correction is read at a size whose short side is at least this (`_border_field`)


def match_border(frame: np.ndarray, swapped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`swapped` with a smooth colour offset that makes it equal the frame along the mask's feathered edge.

    Colour matching (`convert.color`) gives the face the mean colour of the face it replaces, but the skin at
    the edge of a face is not its mean: light falls off at the cheeks, the neck is in shadow, a forehead
    meets the hair lighter than the nose. Matched on average, the pasted face can still be a shade more orange
    than the skin around it, and the feather shows as a line. Here the difference frame − face is read in the
    feather band (0 < mask < 1) where both images show skin (`_skin_on_both`), pixels far from the band's
    median difference (a glasses rim, a shadow) left out, and spread smoothly over the face by a
    normalised Gaussian (σ = `BORDER_REACH` of the mask's width): each part of the edge takes its own
    correction, the middle of the face the average of its surroundings. Like a Poisson blend it removes the
    seam, but it only shifts low frequencies and never takes the colour of hair or background at the edge
    into the face. Returns uint8, same size; an empty mask or no usable band returns a copy."""
    m = as_float_mask(mask)
    box = mask_box(m)
    out = swapped.copy()
    if box is None:
        return out
    x0, y0, x1, y1 = box
    mm = m[y0:y1, x0:x1]
    face = np.asarray(swapped[y0:y1, x0:x1])
    field = _border_field(np.asarray(frame[y0:y1, x0:x1]), face, mm)
    if field is None:
        return out
    out[y0:y1, x0:x1] = np.clip(face.astype(np.float32) + field * (mm > 0)[..., None], 0, 255).round().astype(np.uint8)
    return out


def _border_field(frame: np.ndarray, swapped: np.ndarray, mm: np.ndarray) -> np.ndarray | None:
    """`match_border`'s correction (float32 H×W×3, frame − face) for one box, or None without a usable band.

    Read at a reduced resolution on large faces (one pixel per `BORDER_READ_STEP_PX`-th of the box's short side
    at most): the field is a low-frequency shift, and reading the band, the skin and the two blurs at full size
    was two thirds of a real clip's paste time (15 of 23 ms a frame, woman_d3); the field is then scaled back up."""
    h, w = mm.shape
    step = max(1, min(h, w) // BORDER_READ_STEP_PX)
    if step > 1:
        size = (-(-w // step), -(-h // step))
        frame, swapped = (cv2.resize(np.ascontiguousarray(a), size, interpolation=cv2.INTER_AREA) for a in (frame, swapped))
        mm = cv2.resize(np.ascontiguousarray(mm), size, interpolation=cv2.INTER_AREA)
    f, s = np.asarray(frame, np.float32), np.asarray(swapped, np.float32)
    band = (mm > 0.02) & (mm < 0.98)
    if band.sum() < 16:
        return None
    band &= _skin_on_both(f, s, mm > 0.98)
    if band.sum() < 16:
        return None
    diff = f - s
    centre = np.median(diff[band], axis=0)
    use = band & (np.abs(diff - centre).max(-1) < BORDER_OUTLIER)
    if use.sum() < 16:
        return None
    sigma = max(1.0, BORDER_REACH * max(mm.shape) / 2)
    weight = _smooth(use.astype(np.float32), sigma)
    spread = _smooth(diff * use[..., None], sigma)
    # a regularised ratio: the band's own correction where the band is near, fading smoothly into the band's
    # median where it is far (a hard switch at a weight threshold drew a faint contour inside large faces)
    field = (spread + BORDER_PRIOR * centre) / (weight + BORDER_PRIOR)[..., None]
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR) if step > 1 else field


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur (zero outside the image) computed at a reduced resolution: the correction field
    is a low-frequency shift (σ a quarter of the face), so a blur at 1/`step` of the size and a bilinear
    upscale give the same field to within a level; the full-size blur of that width was most of a 720p
    frame's paste time (`match_border` took about a third of its time after this, measured under load)."""
    step = max(1, int(sigma // 6))
    if step == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, -(-w // step)), max(1, -(-h // step))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / step, borderType=cv2.BORDER_CONSTANT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _skin_on_both(frame: np.ndarray, swapped: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Pixels where the frame and the swapped face both show skin: each image's colour within
    `BORDER_SKIN_DE` (CIE76) of the median colour of its own face's interior (`inside`). Long hair falling
    over a cheek fills much of the feather band, so the band's median difference there is hair against skin;
    read on skin only, as `evaluate.border` measures the seam, the correction is the skin's. All True where the
    interior is too small to tell."""
    if inside.sum() < 16:
        return np.ones(inside.shape, bool)
    near = np.ones(inside.shape, bool)
    for image in (frame, swapped):
        lab = cv2.cvtColor(np.ascontiguousarray(image) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
        near &= np.linalg.norm(lab - np.median(lab[inside], axis=0), axis=-1) < BORDER_SKIN_DE
    return near


def skin(frame: np.ndarray, swapped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Alpha composite of the face after `match_border`: its colour meets the frame's skin at the edge."""
    _check(frame, swapped, mask)
    return alpha(frame, match_border(frame, swapped, mask), mask)


def poisson(frame: np.ndarray, swapped: np.ndarray, mask: np.ndarray, margin: int = 6) -> np.ndarray:
    """Seamless clone (OpenCV NORMAL_CLONE): keep the swapped face's gradients, take its boundary from the frame.

    This hides colour and lighting differences at the seam that alpha blending only smears; the face's
    overall colour level follows the frame around it. The mask is binarised at half. The work is done on a
    crop of the mask's bounding box grown by `margin`. Where the mask runs into the frame border, the crop is
    extended past the border by edge replication, mask included, so OpenCV's boundary band (its mask is
    eroded by ~4 px) falls outside the picture and the face reaches the frame edge. Pixels outside the mask's
    bounding box are returned unchanged; an empty mask returns a copy of the frame.
    """
    _check(frame, swapped, mask)
    binary = np.where(as_float_mask(mask) >= 0.5, np.uint8(255), np.uint8(0))
    box = mask_box(binary)
    if box is None:
        return frame.copy()
    x0, y0, x1, y1 = box
    if x1 - x0 < 3 or y1 - y0 < 3:  # too small for a Poisson solve (and invisible anyway)
        return alpha(frame, swapped, binary)
    h, w = frame.shape[:2]
    cx0, cy0, cx1, cy1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    border = (max(0, -cy0), max(0, cy1 - h), max(0, -cx0), max(0, cx1 - w))  # top, bottom, left, right
    sl = np.s_[max(0, cy0):min(h, cy1), max(0, cx0):min(w, cx1)]
    dst, src, m = (cv2.copyMakeBorder(a[sl], *border, cv2.BORDER_REPLICATE) for a in (frame, swapped, binary))
    # OpenCV zeroes the mask's outer pixel, then centres the mask's bounding box on `centre` (integer halves);
    # give it the centre of that same box so the face stays where it is
    m[0, :] = m[-1, :] = 0
    m[:, 0] = m[:, -1] = 0
    rx, ry, rw, rh = cv2.boundingRect(m)
    cloned = cv2.seamlessClone(src, dst, m, (rx + rw // 2, ry + rh // 2), cv2.NORMAL_CLONE)  # per channel: RGB ok
    out = frame.copy()
    out[y0:y1, x0:x1] = cloned[margin:margin + y1 - y0, margin:margin + x1 - x0]
    return out


def _check(frame: np.ndarray, swapped: np.ndarray, mask: np.ndarray) -> None:
    if frame.shape != swapped.shape or frame.shape[:2] != np.asarray(mask).shape[:2]:
        raise ValueError(f"blending needs frame, swapped face and mask of one size, got {frame.shape}, "
                         f"{swapped.shape} and {np.asarray(mask).shape}")


blend: dict[str, Blender] = {"skin": skin, "alpha": alpha, "poisson": poisson}
"""Blenders by name; a new one is a function above plus one entry here."""
