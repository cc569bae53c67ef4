"""Reading the watermark back: find the mark's geometry, fold the tiles, find the offset, decode the payload.

What the mark is and why it is built so is in `watermark`; this module finds it again after re-uploads.
The order of work, the budget and the false-alarm argument are in docs/provenance.md ("How the mark
survives re-uploads"). In short:
- The luma is whitened (band-pass, local contrast normalised, edges clipped) and folded modulo the tile
  period, so every tile adds its evidence; a known sync pattern finds the crop offset, in the fold as it
  is and mirrored left to right (`_oriented`: a mirror image costs one more small correlation).
- Plain borders around the picture (bars, a canvas) are cut off first (`geometry.content_box`); a changed
  size, angle or aspect is read from the autocorrelation (`geometry.estimate`) and undone by resampling.
- The payload is read from the folded tile by `fold_decoder`: blind (soft Viterbi, then a list of likely
  payloads and an equalized second pass for the CRC to judge, for each payload version); when that fails,
  the strongest folds can be tested against the mark ids this user's manifest store knows (`known`),
  which needs far less signal than reading 48 unknown bits.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import cv2
import numpy as np

from . import geometry
from .fold_decoder import DETECT_THRESHOLD, decode_folded, match_known
from .watermark import CELL_PX, TILE_PX, Detection, _band_pass, _layout, _luma, check_frame

SEARCH_SMOOTH = CELL_PX / 8.0  # lighter high cut for the geometry search (see `_whiten`)
SURE_THRESHOLD = 9.0  # a sync peak this high ends the search over geometries early
CANONICAL_MAX_PIXELS = 1_000_000  # a resampled hypothesis beyond this (a 0.3x lattice) is cropped centrally
SCREEN_MAX_PIXELS = 400_000  # the cheap fold that picks which lattice gets a full one (`_screened`)
# A clear peak whose payload failed: nudges of the lattice's (scale factor, angle in degrees) tried in turn
REFINE_STEPS = ((1.004, 0.0), (0.996, 0.0), (1.0, 0.3), (1.0, -0.3))
# A large upscale (`_coarse_lattice`): the smallest scale it looks for, and the cheap fold's peak it needs
COARSE_MIN_SCALE, COARSE_SCREEN_Z = 1.4, 4.5
PEAK_EXCLUDE = 6  # pixels around the sync peak left out of the noise estimate


def _whiten(luma: np.ndarray, smooth: float = CELL_PX / 4.0) -> np.ndarray:
    """Band-passed luma with local contrast normalised and outliers (edges) clipped: busy areas stop dominating.

    The default band is matched to the mark at its embedded size; the geometry search uses a lighter
    `smooth`, because a downscaled mark lives at higher frequencies.
    """
    f = _band_pass(luma, smooth)
    energy = cv2.sqrBoxFilter(f, cv2.CV_32F, (3 * CELL_PX - 1, 3 * CELL_PX - 1))
    np.maximum(energy, 0.0, out=energy)  # running sums can dip below zero by rounding; sqrt would give NaN
    f = cv2.divide(f, cv2.sqrt(energy) + 1.0)
    scale = cv2.norm(f, cv2.NORM_L1) / f.size + 1e-6  # mean |f| in one pass
    np.clip(f, -1.5 * scale, 1.5 * scale, out=f)
    return f


def _fold(f: np.ndarray) -> np.ndarray:
    """Sum all tiles of a whitened plane into one TILE_PX×TILE_PX accumulator."""
    h, w = f.shape
    ph, pw = -h % TILE_PX, -w % TILE_PX
    if ph or pw:
        f = np.pad(f, ((0, ph), (0, pw)))
    H, W = f.shape
    return f.reshape(H // TILE_PX, TILE_PX, W // TILE_PX, TILE_PX).sum(axis=(0, 2), dtype=np.float64)


def _peak_z(surface: np.ndarray, dy: int, dx: int) -> float:
    """Peak height in standard deviations of the surface *away from* the peak (its own shoulders excluded)."""
    rolled = np.roll(surface, (PEAK_EXCLUDE - dy, PEAK_EXCLUDE - dx), axis=(0, 1))
    keep = np.ones(surface.shape, dtype=bool)
    keep[: 2 * PEAK_EXCLUDE + 1, : 2 * PEAK_EXCLUDE + 1] = False
    rest = rolled[keep]
    std = float(rest.std())
    return float((surface[dy, dx] - rest.mean()) / std) if std > 1e-12 and np.isfinite(std) else 0.0


def _sync(acc: np.ndarray) -> tuple[float, int, int]:
    """Find the tile's cyclic offset in a folded accumulator; return (z-score, dy, dx)."""
    surface = np.fft.irfft2(np.fft.rfft2(acc) * _layout().sync_fft_conj, s=acc.shape)
    dy, dx = divmod(int(np.argmax(surface)), TILE_PX)
    return _peak_z(surface, dy, dx), dy, dx


def _oriented(acc: np.ndarray) -> tuple[tuple[float, int, int], np.ndarray, bool]:
    """The sync of a folded tile as it is and mirrored left to right; (sync, tile in the embedded
    orientation, mirrored), whichever peak is higher.

    Why the fold can be flipped instead of the picture: whitening and folding commute with a mirror (every
    filter is symmetric, and a mirrored fold is the fold of the mirrored plane up to a cyclic shift, which
    the sync search finds anyway), so a mirrored picture costs one more small correlation, not a decode."""
    direct = _sync(acc)
    flipped_acc = np.ascontiguousarray(acc[:, ::-1])
    flipped = _sync(flipped_acc)
    return (flipped, flipped_acc, True) if flipped[0] > direct[0] else (direct, acc, False)


def _lattices(planes: list[np.ndarray], keep: int = 3, min_score: float = geometry.MIN_LATTICE_SCORE,
              weak: bool = False) -> list[geometry.Lattice]:
    """The changed geometries worth trying, most likely first: the lattices the pooled autocorrelation of
    the search planes shows, less the identity (the decoders try "as embedded" first, before any search)."""
    shapes = [p.shape for p in planes]
    shape = max(set(shapes), key=shapes.count)  # a video's frames share one; stray sizes do not vote
    powers = [geometry.power_spectrum(p, TILE_PX) for p in planes if p.shape == shape]
    return [lat for lat in geometry.estimate(powers, shape, TILE_PX, keep, min_score, weak) if not lat.is_identity()]


def _fold_as(luma: np.ndarray, lattice: geometry.Lattice | None) -> np.ndarray:
    """Resample the luma to the embedded geometry, whiten it there (the band-pass then fits the mark), fold."""
    if lattice is None:
        return _fold(_whiten(luma))
    canonical, valid = geometry.to_canonical(luma, lattice, max(CANONICAL_MAX_PIXELS, luma.size))
    return _fold(cv2.multiply(_whiten(canonical), valid))


def _search_plane(luma: np.ndarray) -> np.ndarray:
    """The whitened plane the geometry search uses: only the window its autocorrelation reads is whitened,
    which for a 1080p picture is a third of the work."""
    return _whiten(np.ascontiguousarray(geometry.window(luma)), SEARCH_SMOOTH)


def _checked_luma(rgb: np.ndarray) -> np.ndarray:
    check_frame(rgb)
    return _luma(rgb)


def _picture(luma: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The part of the frame that holds the picture: plain borders (letterbox or pillarbox bars, a canvas
    the picture was placed on) are cut off first, so the search sees only the picture and its window is
    centred on it. `box` (y0, y1, x0, x1) reuses one found before (a video's frames share their bars)."""
    y0, y1, x0, x1 = box if box is not None else geometry.content_box(luma)
    return luma if (y0, y1, x0, x1) == (0, luma.shape[0], 0, luma.shape[1]) else np.ascontiguousarray(luma[y0:y1, x0:x1])


def _hypotheses(luma: np.ndarray) -> Iterator[geometry.Lattice | None]:
    """The geometries to try, most likely first; None is "as embedded".

    The search plane folded as it is tells cheaply whether the picture kept its geometry (most outputs are
    read back at their own size): then "as embedded" goes first and the estimate is never computed.
    Otherwise the lattices the autocorrelation shows go first (the runners-up screened down to one) and
    "as embedded" last, which spares a rescaled or rotated picture one full-size whitening when a lattice
    finds the mark, and bounds an unmarked picture to three full folds.
    """
    plane = _search_plane(luma)
    if _oriented(_fold(plane))[0][0] >= SURE_THRESHOLD:
        yield None
        yield from _lattices([plane])
    else:
        lattices = _lattices([plane])
        yield from lattices[:1]  # the estimate's best: a real mark's lattice nearly always
        yield from _screened(plane, lattices[1:])
        yield None


def _screened(plane: np.ndarray, lattices: list[geometry.Lattice]) -> list[geometry.Lattice]:
    """Of several lattices, the one whose cheap fold (the search plane, already whitened, resampled at most
    to SCREEN_MAX_PIXELS) shows the highest sync peak. A real mark's lattice towers over the spurious ones
    a busy unmarked picture offers, and each full-size fold skipped saves a whole whitening."""
    if len(lattices) < 2:
        return lattices
    def quick_z(lattice: geometry.Lattice) -> float:
        canonical, valid = geometry.to_canonical(plane, lattice, SCREEN_MAX_PIXELS)
        return _oriented(_fold(cv2.multiply(canonical, valid)))[0][0]
    return [max(lattices, key=quick_z)]


def decode(rgb: np.ndarray, known: Iterable[str] = ()) -> Detection:
    """Look for the mark in one RGB uint8 frame (any crop offset, rescale, small rotation or stretch, a
    mirror image, a picture placed inside plain borders).

    Geometries are tried until one shows an unmistakable sync peak; else the strongest peak is decoded.
    `known`: mark ids to test a mark too weak to read against (`match_known`; `verify` passes the ids in
    this user's manifest store).
    """
    found, best = _decode_one(_picture(_checked_luma(rgb)))
    if found.detected or not known:
        return found
    sync, acc, lattice, mirrored = best
    return match_known([(sync[0], acc, sync, lattice, mirrored)], known) or found


def _decode_one(luma: np.ndarray) -> tuple[Detection, tuple]:
    best = None
    for lattice in _hypotheses(luma):
        sync, acc, mirrored = _oriented(_fold_as(luma, lattice))
        if best is None or sync[0] > best[0][0]:
            best = (sync, acc, lattice, mirrored)
        if sync[0] >= SURE_THRESHOLD:  # no other geometry can do better than an unmistakable peak
            break
    if best[0][0] < DETECT_THRESHOLD and min(luma.shape) >= 2 * COARSE_MIN_SCALE * TILE_PX:
        coarse = _coarse_lattice(luma)
        if coarse is not None:
            sync, acc, mirrored = _oriented(_fold_as(luma, coarse))
            if sync[0] > best[0][0]:
                best = (sync, acc, coarse, mirrored)
    sync, acc, lattice, mirrored = best
    found = decode_folded(acc, sync, lattice, mirrored)
    if found.detected or lattice is None or sync[0] < DETECT_THRESHOLD:
        return found, best
    return _refined(luma, best) or found, best


def _coarse_lattice(luma: np.ndarray) -> geometry.Lattice | None:
    """A large upscale's lattice, read from a half-size search plane; None unless its cheap fold shows a
    peak of COARSE_SCREEN_Z.

    Why: at 1.8x or 2x the mark's cells are 7 to 8 px wide and live below the band the search plane keeps
    (its whitening is tuned to find marks at 0.3x to 1.5x), and the central window holds few tiles. On a
    smooth generated frame upscaled 2x, the true lattice gave a sync z of 15 while the search found none.
    Half size brings the mark back into the band and doubles the tiles in the window. Tried only when no
    geometry showed a clear peak (an unmarked picture pays one small whitening and FFT pair)."""
    side = 2 * geometry.ACF_MAX_SIDE
    h, w = luma.shape
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    window = luma[y0 : y0 + side, x0 : x0 + side]
    half = cv2.resize(window, (window.shape[1] // 2, window.shape[0] // 2), interpolation=cv2.INTER_AREA)
    plane = _whiten(half, SEARCH_SMOOTH)
    top = geometry.MAX_SCALE / 2.0  # at half size, the largest scale searched at full size
    powers = [geometry.power_spectrum(plane, TILE_PX, top)]
    best = None
    for lattice in geometry.estimate(powers, plane.shape, TILE_PX, top=top):
        if 2 * lattice.scale < COARSE_MIN_SCALE:
            continue  # the search at full size covers these
        canonical, valid = geometry.to_canonical(plane, lattice, SCREEN_MAX_PIXELS)
        z = _oriented(_fold(cv2.multiply(canonical, valid)))[0][0]
        if z >= COARSE_SCREEN_Z and (best is None or z > best[0]):
            best = (z, lattice)
    return geometry.Lattice(best[1].matrix * 2.0, best[1].strength) if best else None


def _nudged(lattice: geometry.Lattice, scale: float, degrees: float) -> geometry.Lattice:
    a = np.radians(degrees)
    turn = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # same sense as Detection.angle_deg
    return geometry.Lattice(scale * turn @ lattice.matrix, lattice.strength)


def _refined(luma: np.ndarray, best: tuple) -> Detection | None:
    """A clear sync peak whose payload failed: the lattice's estimate may be a little off (a small picture
    holds few lattice peaks, e.g. 230 px after a 0.45x downscale), and the cells then blur. Nudge its
    scale, then its angle, keeping whichever fold shows the higher sync peak, and decode that once more."""
    sync, acc, lattice, mirrored = best
    for scale, degrees in REFINE_STEPS:
        trial = _nudged(lattice, scale, degrees)
        t_sync, t_acc, t_mirrored = _oriented(_fold_as(luma, trial))
        if t_sync[0] > sync[0]:
            sync, acc, lattice, mirrored = t_sync, t_acc, trial, t_mirrored
    if lattice is best[2]:
        return None
    found = decode_folded(acc, sync, lattice, mirrored)
    return found if found.detected else None
