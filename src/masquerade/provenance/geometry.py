"""Find how a tiled watermark was rescaled, rotated or stretched, from the autocorrelation of the picture.

Why this works: the mark repeats with a fixed tile period, so the autocorrelation of the (whitened) luma
has sharp peaks on the tile's lattice, `i*v1 + j*v2`. After any rescale, rotation or aspect change the
peaks move to the transformed lattice, whose two basis vectors *are* the linear part of the transform
(translation does not move autocorrelation peaks; the decoder's sync search handles it). One FFT pair
therefore replaces a sweep over scale x angle x aspect, and every frame of a video adds to the same
power spectrum. The host picture's own correlations are mostly removed by the whitening; what is left
(edges along the axes, textures) is rejected by asking for the whole lattice, including the diagonals
`v1 +- v2`, rather than a single peak.

Limits, by construction: rotations within about +-20 degrees (the lattice is square, so a 90 degree turn
is indistinguishable from none; v1 is taken as the vector nearest +x) and tile periods between
`MIN_SCALE` and `MAX_SCALE` times the embedded one. A mirror image has the same (square) lattice: the
decoder tells it apart by flipping the folded tile. Plain borders around the picture (`content_box`) are
cut off before any of this, so the search reads the picture alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np
from scipy import fft as sfft

MIN_SCALE, MAX_SCALE = 0.3, 2.2  # an upscale to 2x and a picture blown up inside a larger frame (~1.8x)
SMALL_MAX_SCALE = 1.6  # the most a picture too small for two tiles of MAX_SCALE is searched up to
MAX_ANGLE_DEG = 20.0
ACF_MAX_SIDE = 768  # larger frames use a central window for the estimate (still many tiles)
_CANDIDATES = 5  # local maxima kept per axis before pairing
_CAP = 8.0  # lattice points count up to this many noise standard deviations each
_SCAN_STEP = 0.004  # relative scale step of the upright-lattice scan (a lattice point 1 px off at 2x)
MIN_LATTICE_SCORE = 2.5  # mean capped peak height below which a lattice is not worth trying


@dataclass(frozen=True)
class Lattice:
    """The tile lattice found in a picture: `matrix` maps canonical (embedded) pixels to picture pixels."""

    matrix: np.ndarray  # 2x2, columns are v1/period and v2/period in (x, y) picture pixels
    strength: float  # mean (capped) autocorrelation peak height over its lattice points, in noise std units

    @property
    def scale(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.matrix))))

    def plausible(self) -> bool:
        """Each axis within the searched scale range and the two nearly at right angles (else a fit to noise)."""
        v1, v2 = self.matrix[:, 0], self.matrix[:, 1]
        n1, n2 = float(np.hypot(*v1)), float(np.hypot(*v2))
        if not (0.9 * MIN_SCALE <= n1 <= 1.1 * MAX_SCALE and 0.9 * MIN_SCALE <= n2 <= 1.1 * MAX_SCALE):
            return False
        return abs(float(v1 @ v2)) / (n1 * n2) < np.sin(np.radians(MAX_ANGLE_DEG))

    def is_identity(self, tol: float = 3e-3) -> bool:
        return bool(np.abs(self.matrix - np.eye(2)).max() < tol)


BORDER_STD = 1.0  # grey levels: a line this uniform is border, not picture (a marked line varies by ~2)
BORDER_MIN = 4  # fewer plain lines than this at an edge are left in place (a dark row of the picture itself)


def _plain_run(lines: np.ndarray, step: int = 8) -> int:
    """How many of the lines (rows of a 2-D array, from the edge inward) are plain and of one colour."""
    ref = float(np.median(lines[0]))
    n = 0
    while n < lines.shape[0]:
        block = lines[n : n + step]
        plain = (block.std(axis=1) <= BORDER_STD) & (np.abs(block.mean(axis=1) - ref) <= 4 * BORDER_STD + 2)
        if not plain.all():
            return n + int(np.argmin(plain))
        n += block.shape[0]
    return n


def content_box(luma: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the picture inside plain borders: the bars of a letterboxed or pillarboxed
    video, the canvas a picture was placed on. The whole frame when no edge is plain (the usual case,
    decided from the four outermost lines) or when everything is (a flat picture has no "inside").

    The edge of the picture next to a bar rings after compression, so the box keeps 2 px off it."""
    h, w = luma.shape
    edges = (luma[0], luma[-1], luma[:, 0], luma[:, -1])
    if not any(float(e.std()) <= BORDER_STD for e in edges):
        return 0, h, 0, w
    top = _plain_run(luma)
    if top >= h:
        return 0, h, 0, w
    bottom = _plain_run(luma[::-1])
    left = _plain_run(luma.T)
    right = _plain_run(luma.T[::-1])
    cut = [c + 2 if c >= BORDER_MIN else 0 for c in (top, bottom, left, right)]
    y0, y1, x0, x1 = cut[0], h - cut[1], cut[2], w - cut[3]
    if y1 - y0 < 64 or x1 - x0 < 64:  # nothing sensible is left: search the whole frame
        return 0, h, 0, w
    return y0, y1, x0, x1


def window(f: np.ndarray) -> np.ndarray:
    """The central part of a plane that the autocorrelation reads (all of it up to ACF_MAX_SIDE a side)."""
    h, w = f.shape
    y0, x0 = max(0, (h - ACF_MAX_SIDE) // 2), max(0, (w - ACF_MAX_SIDE) // 2)
    return f[y0 : y0 + ACF_MAX_SIDE, x0 : x0 + ACF_MAX_SIDE]


def max_scale(shape: tuple[int, int], period: int) -> float:
    """The largest tile scale searched in a picture of `shape`: MAX_SCALE where about two tiles of that
    size fit in the window (an upscaled picture is large), SMALL_MAX_SCALE at least (a tile and a half in
    a small picture still shows its lattice). Small pictures thus pay no larger FFT for scales they
    cannot hold."""
    side = min(shape[0], shape[1], ACF_MAX_SIDE)
    return float(min(MAX_SCALE, max(SMALL_MAX_SCALE, side / (2.0 * period))))


def fft_shape(shape: tuple[int, int], period: int, top: float | None = None) -> tuple[int, int]:
    """The FFT size for a picture of `shape`: its window, zero-padded when the window is too small for the
    largest searched period to fit in a cyclic autocorrelation (small, cropped or downscaled pictures;
    padding makes the autocorrelation linear up to that lag). `top` overrides the largest searched scale."""
    h, w = min(shape[0], ACF_MAX_SIDE), min(shape[1], ACF_MAX_SIDE)
    lag = int((top or max_scale(shape, period)) * period * 1.05) + 4
    if min(h, w) / 2 < lag:  # no wrap-around up to `lag` needs n >= side + lag, and n/2 >= lag
        return (sfft.next_fast_len(max(h, min(h + lag, 2 * h), 2 * lag), real=True),
                sfft.next_fast_len(max(w, min(w + lag, 2 * w), 2 * lag), real=True))
    return h, w


def power_spectrum(whitened: np.ndarray, period: int, top: float | None = None) -> np.ndarray:
    """|FFT|^2 of one whitened luma plane (windowed, padded as `fft_shape` says); sum these over a video."""
    f = window(whitened).astype(np.float32)
    spec = sfft.rfft2(f - f.mean(), s=fft_shape(whitened.shape, period, top), workers=1)
    return (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32)


@lru_cache(maxsize=8)
def _high_pass(shape: tuple[int, int]) -> np.ndarray:
    """Transfer function of "minus a Gaussian blur (sigma 3 px)" on the rfft2 grid of `shape`."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return (1.0 - np.exp(-2.0 * np.pi**2 * 9.0 * (fx**2 + fy**2))).astype(np.float32)


def _acf(power: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Normalised autocorrelation, centred (lag 0 at the middle), minus its smooth part (peaks stand out).

    The smooth part is removed in the frequency domain, which costs one multiply instead of a blur.
    """
    total = float(power.sum()) + 1e-12
    acf = sfft.irfft2(power * _high_pass(shape), s=shape, workers=1)
    return np.fft.fftshift(acf * np.float32(shape[0] * shape[1] / total)).astype(np.float32, copy=False)


_PATCH = np.mgrid[-2:3, -2:3].reshape(2, -1)  # (dy, dx) offsets of a 5x5 patch


def _peaks(hp: np.ndarray, centre: tuple[int, int], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The local maximum of `hp` within 2 px of each lag (x, y), refined to sub-pixel by a parabola through
    its neighbours; (values, x, y), all points at once. Lags must lie at least 3 px inside `hp`."""
    cy, cx = centre
    py0, px0 = np.rint(y).astype(int) + cy, np.rint(x).astype(int) + cx
    ys, xs = py0[:, None] + _PATCH[0], px0[:, None] + _PATCH[1]
    best = np.argmax(hp[ys, xs], axis=1)
    rows = np.arange(best.size)
    py, px = ys[rows, best], xs[rows, best]
    v = hp[py, px].astype(np.float64)

    def parabola(a: np.ndarray, c: np.ndarray) -> np.ndarray:
        d = a - 2 * v + c
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d < 0, 0.5 * (a - c) / np.where(d < 0, d, -1.0), 0.0)

    dx = parabola(hp[py, px - 1].astype(np.float64), hp[py, px + 1].astype(np.float64))
    dy = parabola(hp[py - 1, px].astype(np.float64), hp[py + 1, px].astype(np.float64))
    return v, px - cx + dx, py - cy + dy


@lru_cache(maxsize=8)
def _polar(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Radius and angle (degrees) of every lag in a (2r+1)^2 window centred on lag 0."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.hypot(xx, yy), np.degrees(np.arctan2(yy, xx))


@lru_cache(maxsize=16)
def _sector(radius: int, period: int, axis_angle: float) -> np.ndarray:
    """Lags within the searched period range and within MAX_ANGLE_DEG of one lattice axis."""
    r, ang = _polar(radius)
    delta = (ang - axis_angle + 180.0) % 360.0 - 180.0
    return (r >= MIN_SCALE * period * 0.95) & (r <= radius - 3) & (np.abs(delta) <= MAX_ANGLE_DEG)


def _candidates(sub: np.ndarray, radius: int, period: int, axis_angle: float) -> list[tuple[float, float]]:
    """Strongest local maxima in the sector around one lattice axis, within the searched period range.

    `sub` is the centred (2*radius+1)^2 window of the high-passed autocorrelation.
    """
    sector = _sector(radius, period, axis_angle)
    masked = np.where(sector, sub, -np.inf).astype(np.float32)
    local = (masked >= cv2.dilate(masked, np.ones((5, 5), np.uint8))) & sector
    ys, xs = np.nonzero(local)
    if ys.size == 0:
        return []
    order = np.argsort(sub[ys, xs])[::-1][:_CANDIDATES]
    return [(float(xs[i] - radius), float(ys[i] - radius)) for i in order]


_SCORE_POINTS = np.array([(1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2), (2, 1), (1, 2), (2, -1), (1, -2)], float)


def _lattice_scores(hp3: np.ndarray, centre: tuple[int, int], v1: np.ndarray, v2: np.ndarray, noise: float) -> np.ndarray:
    """For N candidate bases (v1, v2: N x 2), the mean peak height (in noise units, capped) over the lattice
    points in reach, diagonals included; -inf where fewer than 4 points are in reach.

    A host edge along an axis lacks the diagonals `v1 +- v2`; the cap stops one strong host peak from
    outvoting a lattice whose every point is moderately high. `hp3` is the autocorrelation dilated by 3x3,
    so one look-up gives the largest value within 1 px of a point; all candidates are scored at once.
    """
    h, w = hp3.shape
    pts = _SCORE_POINTS[None, :, 0, None] * v1[:, None, :] + _SCORE_POINTS[None, :, 1, None] * v2[:, None, :]
    x, y = pts[..., 0], pts[..., 1]
    inside = (np.abs(x) <= w / 2 - 4) & (np.abs(y) <= h / 2 - 4)
    px = np.clip(np.rint(x).astype(int) + centre[1], 0, w - 1)
    py = np.clip(np.rint(y).astype(int) + centre[0], 0, h - 1)
    values = np.where(inside, np.minimum(hp3[py, px] / noise, _CAP), 0.0)
    count = inside.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 4, values.sum(axis=1) / np.maximum(count, 1), -np.inf)


_REFINE_IJ = np.array([(i, j) for i in range(-4, 5) for j in range(0, 5)
                       if not (j == 0 and i <= 0) and abs(i) + abs(j) <= 5], float)


def _refine(hp: np.ndarray, centre: tuple[int, int], v1: np.ndarray, v2: np.ndarray, noise: float) -> tuple[np.ndarray, float]:
    """Least-squares fit of both basis vectors to every lattice peak in reach (far peaks pin the period)."""
    h, w = hp.shape
    pts = _REFINE_IJ[:, :1] * v1 + _REFINE_IJ[:, 1:] * v2
    inside = (np.abs(pts[:, 0]) <= w / 2 - 6) & (np.abs(pts[:, 1]) <= h / 2 - 6)
    ij, pts = _REFINE_IJ[inside], pts[inside]
    v, px, py = _peaks(hp, centre, pts[:, 0], pts[:, 1])
    strong = v > 4 * noise
    if strong.sum() < 2:
        return np.stack([v1, v2], axis=1), 0.0
    a, b = ij[strong], np.stack([px[strong], py[strong]], axis=1)
    heights = v[strong] / noise
    wts = np.sqrt(heights)[:, None]
    sol, *_ = np.linalg.lstsq(a * wts, b * wts, rcond=None)  # rows of sol: v1, v2
    if np.linalg.matrix_rank(a) < 2:
        return np.stack([v1, v2], axis=1), 0.0
    return sol.T, float(np.mean(heights))


def estimate(powers: Sequence[np.ndarray] | np.ndarray, shape: tuple[int, int], period: int,
             keep: int = 3, min_score: float = MIN_LATTICE_SCORE, weak: bool = False,
             top: float | None = None) -> list[Lattice]:
    """Up to `keep` plausible tile lattices in a summed power spectrum of windowed frames of `shape`, best
    first ([] if none stands out). The decoder's sync peak makes the final choice among them; a video,
    whose pooled cheap folds screen candidates at little cost, asks for more and weaker ones (`weak`:
    also lattices whose peaks are too low for the least-squares fit, at their unrefined basis). `top`
    lowers the largest scale searched (the power spectra must have been made with the same `top`)."""
    power = powers if isinstance(powers, np.ndarray) else np.sum(powers, axis=0)
    h, w = fft_shape(shape, period, top)
    hp = _acf(power, (h, w))
    centre = (h // 2, w // 2)
    # lags must leave some overlap: at most the window size minus one cell-ish margin
    reach = min(min(shape[0], ACF_MAX_SIDE) - 16, min(shape[1], ACF_MAX_SIDE) - 16, h / 2 - 4, w / 2 - 4)
    radius = int(min((top or max_scale(shape, period)) * period * 1.05, reach))
    if radius < MIN_SCALE * period + 8:
        return []
    sub = hp[centre[0] - radius : centre[0] + radius + 1, centre[1] - radius : centre[1] + radius + 1]
    r, _ = _polar(radius)
    noise = float(sub[r >= MIN_SCALE * period * 0.9].std()) + 1e-12
    firsts, seconds = _candidates(sub, radius, period, 0.0), _candidates(sub, radius, period, 90.0)
    # Each axis's candidates turned by 90 degrees pair with it too: a straight host edge puts a ridge of
    # local maxima through one sector that can crowd the true peak out of that sector's short list, and
    # the lattice is square unless it was stretched (which the sector lists still cover).
    pairs = [(c1, c2) for c1 in firsts for c2 in seconds]
    pairs += [(c1, (-c1[1], c1[0])) for c1 in firsts] + [((c2[1], -c2[0]), c2) for c2 in seconds]
    if not pairs:
        return []
    # a strong second harmonic can outrank the fundamental: try halving either axis
    base = np.asarray(pairs, float)  # (n, 2 vectors, 2 coordinates)
    halves = np.array([(1, 1), (1, 2), (2, 1), (2, 2)], float)
    v1 = (base[:, None, 0, :] / halves[None, :, 0, None]).reshape(-1, 2)
    v2 = (base[:, None, 1, :] / halves[None, :, 1, None]).reshape(-1, 2)
    long_enough = np.minimum(np.hypot(*v1.T), np.hypot(*v2.T)) >= MIN_SCALE * period * 0.95
    v1, v2 = v1[long_enough], v2[long_enough]
    # Upright square lattices over the whole scale range, too: a weak mark (a small, heavily re-encoded
    # video) leaves lattice peaks too low to be among any sector's strongest local maxima, but the scan
    # scores each scale on all its lattice points at once, and re-uploads rarely rotate.
    scan = np.arange(MIN_SCALE, radius / period, _SCAN_STEP)[:, None] * period
    v1 = np.vstack([v1, np.hstack([scan, np.zeros_like(scan)])])
    v2 = np.vstack([v2, np.hstack([np.zeros_like(scan), scan])])
    scores = _lattice_scores(cv2.dilate(hp, np.ones((3, 3), np.uint8)), centre, v1, v2, noise)
    order = np.argsort(-scores, kind="stable")
    scored = [(float(scores[i]), v1[i], v2[i]) for i in order]
    found: list[Lattice] = []
    for score, v1, v2 in scored:
        if score < min_score or len(found) >= keep:
            break
        basis, fitted = _refine(hp, centre, v1, v2, noise)
        if not fitted and not weak:  # fewer than two peaks above 4 noise units: a fit to noise, mostly
            continue
        lattice = Lattice(matrix=basis / period, strength=score)
        if lattice.plausible() and all(np.abs(lattice.matrix - f.matrix).max() > 0.01 for f in found):
            found.append(lattice)
    return found


def to_canonical(plane: np.ndarray, lattice: Lattice, max_pixels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resample a float32 plane so the tile is back at its embedded size and orientation.

    Returns the plane and a 0/1 mask of where it holds picture (the rest is edge-replicated fill, so the
    band-pass sees no artificial edge; the mask removes it afterwards). A small-scale lattice blows the
    picture up (0.3x: 11 times the pixels), so with `max_pixels` only a central part of that size is made:
    it still holds dozens of tiles, and a spurious lattice on an unmarked picture costs no more than a
    real one.
    """
    (a, b), (c, d) = lattice.matrix
    inv = np.array([[d, -b], [-c, a]]) / (a * d - b * c)  # 2x2 inverse (np.linalg.inv may spin up BLAS threads)
    h, w = plane.shape
    corners = inv @ np.array([[0, w, 0, w], [0, 0, h, h]], float)
    lo, hi = corners.min(axis=1), corners.max(axis=1)
    size = (int(np.ceil(hi[0] - lo[0])), int(np.ceil(hi[1] - lo[1])))
    if max_pixels and size[0] * size[1] > max_pixels:
        keep = np.sqrt(max_pixels / (size[0] * size[1]))
        cropped = (int(size[0] * keep), int(size[1] * keep))
        lo = lo + (np.asarray(size, float) - cropped) / 2.0
        size = cropped
    forward = np.hstack([inv, -lo[:, None]])  # picture -> canonical, shifted into the positive quadrant
    out = cv2.warpAffine(plane, forward, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if abs(b) < 1e-9 and abs(c) < 1e-9:  # no rotation: the whole rectangle is picture
        return out, np.ones_like(out)
    # The picture's outline in the canonical plane is a parallelogram: draw it, 2 px inside (what an
    # erosion of a warped mask would give), instead of warping a full-size mask.
    inner = np.array([[2, 2], [w - 3, 2], [w - 3, h - 3], [2, h - 3]], float).T
    outline = (inv @ inner - lo[:, None]).T
    valid = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillConvexPoly(valid, np.rint(outline * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    return out, valid.astype(np.float32)
