"""Close a face's eyes by a given amount, its pixels and its landmarks alike: training's synthetic blinks
(`train.augment`) and convert's eyes that follow the source (`convert.eyes`).

Why: a decoder can only draw what its person showed it. A target filmed with open eyes (man_d19 closes his in
1 face of 250) leaves the decoder nothing to draw a closed eye from, so the swap stares through every blink of
the source, whatever the expression channels say. A blink is mostly the upper lid sliding down over the eye:
the skin between the lid and the brow stretches down and the lid's edge covers the iris, the lower lid and
everything below it staying put. That is a warp of the face's own pixels, so the closed eye is drawn with
that person's skin, lashes and glasses:

- between a point `h` above the upper lid (`_SKIN` of the eye's width) and the lid's new place, the pixels
  are the band from `h` above down to the old lid, stretched; the old lid's edge lands on its new place;
- below the new lid nothing moves, so the lid's edge covers the top of the eye (a fold, not a squeeze);
- the lids are the mesh's lid contours, corner to corner, interpolated across the eye; at the corners the
  gap is 0 and nothing moves, so the warp fades out along the eye's width.

The upper-lid landmarks move with their pixels, so the expression measures read off the moved landmarks say
how far this face's eyes are now closed, and the decoder learns to draw that closure when a source blinks.
Everything works in crop pixels on the tensors' device, vectorised over the batch. `closure` is one amount a
face (both eyes alike) or two (the subject's right eye, then left: a wink).
"""

from __future__ import annotations

import torch

# The mesh's lid contours, outer corner to inner corner (the subject's right eye, then left).
_LIDS = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),
)
_SKIN = 0.45  # the lid skin that stretches over the eye: from this share of the eye's width above the upper lid
# How the stretch spreads over the band, as the linear share of a quadratic (1: evenly). An even stretch
# widens the dark crease and lashes just above the lid with the rest, so a shut eye came out as a dark
# smear; this one stretches the skin near the band's top most and keeps the lid's edge near its own width.
_EVEN = 0.35
_FULL_STRETCH = 0.4  # the band's stretch (lid's move over the closed band's height) of a shut eye's middle


def _band_height(upper: torch.Tensor) -> torch.Tensor:
    """How far above the upper lid (…×K×2 lid points, corner to corner) the stretched skin starts."""
    return _SKIN * (upper[..., 0, :] - upper[..., -1, :]).norm(dim=-1)


def _linear_share(top, old, new) -> torch.Tensor:
    """The linear share of the stretch's curve: `_EVEN` where the lid moves its full way, 1 where it does not
    move (the eye's corners, a slight closure), so the warp meets the still face without a step."""
    stretch = ((new - old) / (new - top).clamp_min(1e-6)).clamp(0, _FULL_STRETCH) / _FULL_STRETCH
    return 1 - (1 - _EVEN) * stretch


def _curve(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Where a point a share `s` down the closed band samples the open band (both 0 at the top, 1 at the lid),
    for a linear share `a`."""
    return a * s + (1 - a) * s * s


def _uncurve(t: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """`_curve`'s inverse on [0, 1]: where a point a share `t` down the open band lands in the closed band."""
    q = (1 - a).clamp_min(1e-6)
    bent = (-a + torch.sqrt(a * a + 4 * q * t.clamp(0, 1))) / (2 * q)
    return torch.where(a >= 1 - 1e-6, t, bent)


def _interp(knots: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through N×K×2 knots (any order in x) at N×P query x's; flat past the ends."""
    order = knots[..., 0].argsort(dim=1)
    xk = knots[..., 0].gather(1, order).contiguous()
    yk = knots[..., 1].gather(1, order)
    hi = torch.searchsorted(xk, query.contiguous()).clamp(1, xk.shape[1] - 1)
    x0, x1 = xk.gather(1, hi - 1), xk.gather(1, hi)
    y0, y1 = yk.gather(1, hi - 1), yk.gather(1, hi)
    w = ((query - x0) / (x1 - x0).clamp_min(1e-6)).clamp(0, 1)
    return y0 + w * (y1 - y0)


def _per_eye(closure: torch.Tensor, n: int) -> torch.Tensor:
    """N×2 closures (right eye, left eye) from N (both eyes alike) or N×2."""
    closure = closure.float().reshape(n, -1)
    return closure.expand(n, 2) if closure.shape[1] == 1 else closure


def _eye(landmarks: torch.Tensor, lids, x: torch.Tensor, closure: torch.Tensor):
    """For N×P points with crop x `x`, of one eye: (top of the stretched band, old upper lid, its new place,
    whether the point lies across the eye). `closure` N: 0 open as filmed, 1 shut."""
    upper, lower = (landmarks[:, list(idx)] for idx in lids)
    u, low = _interp(upper, x), _interp(lower, x)
    gap = (low - u).clamp_min(0)
    corners = upper[:, [0, -1], 0]
    across = (x > corners.amin(1, keepdim=True)) & (x < corners.amax(1, keepdim=True))
    height = _band_height(upper)[:, None]
    return u - height, u, u + closure.view(-1, 1) * gap, across


def blink_grid(grid: torch.Tensor, landmarks: torch.Tensor, closure: torch.Tensor, size: int) -> torch.Tensor:
    """Sampling grid N×S×S×2 (normalised, align_corners=False) of an image → the grid of that image with the
    eyes of faces N×K×2 (crop pixels) closed by `closure` (N or N×2, 0 to 1): each point that falls in the stretched
    band samples the open-eyed face further up."""
    n = grid.shape[0]
    pts = ((grid + 1) * (size / 2) - 0.5).reshape(n, -1, 2)
    x, y = pts[..., 0], pts[..., 1]
    moved = torch.zeros_like(y, dtype=torch.bool)
    lms, closure = landmarks.float(), _per_eye(closure, n)
    for i, lids in enumerate(_LIDS):
        top, old, new, across = _eye(lms, lids, x, closure[:, i])
        inside = across & (y >= top) & (y <= new) & (new > old)
        share = ((y - top) / (new - top).clamp_min(1e-6)).clamp(0, 1)
        y = torch.where(inside, top + _curve(share, _linear_share(top, old, new)) * (old - top), y)
        moved |= inside
    out = grid.reshape(n, -1, 2).clone()  # points outside the bands keep their coordinates exactly
    out[..., 1] = torch.where(moved, (y + 0.5) * (2 / size) - 1, out[..., 1])
    return out.view_as(grid)


def lid_box(landmarks) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1), crop pixels: a rectangle holding every point that closing the eyes of one face (K×2
    landmarks) by any amount moves, so a caller can warp that rectangle and copy the rest of the image."""
    pts = torch.as_tensor(landmarks, dtype=torch.float32)
    boxes = []
    for upper, lower in _LIDS:
        up, low = pts[list(upper)], pts[list(lower)]
        height = float(_band_height(up))
        boxes.append((float(up[:, 0].min()), float(up[:, 1].min()) - height, float(up[:, 0].max()), float(low[:, 1].max())))
    x0, y0, x1, y1 = zip(*boxes)
    return min(x0), min(y0), max(x1), max(y1)


def blink_landmarks(landmarks: torch.Tensor, closure: torch.Tensor) -> torch.Tensor:
    """N×K×2 crop-pixel landmarks as the face shows them with its eyes closed by `closure` (N): the points of
    the stretched band (the upper lid among them) move down with their pixels; the rest stay. `closure`: N or N×2."""
    lms = landmarks.float()
    x, y = lms[..., 0], lms[..., 1]
    closure = _per_eye(closure, lms.shape[0])
    for i, lids in enumerate(_LIDS):
        top, old, new, across = _eye(lms, lids, x, closure[:, i])
        inside = across & (y >= top) & (y <= old + 1e-3) & (new > old)  # an eye left open stays exactly as filmed
        share = ((y - top) / (old - top).clamp_min(1e-6)).clamp(0, 1)
        y = torch.where(inside, top + _uncurve(share, _linear_share(top, old, new)) * (new - top), y)
    return torch.stack([x, y], -1)
