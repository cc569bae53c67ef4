"""Reading the watermark back: find the mark's geometry, fold the tiles, find the offset, decode the payload.

What the mark is and why it is built so is in `watermark`; this module finds it again after re-uploads.
The order of work, the budget and the false-alarm argument are in docs/provenance.md ("How the mark
survives re-uploads"). In short:
- The luma is whitened (band-pass, local contrast normalised, edges clipped) and folded modulo the tile
  period, so every tile adds its evidence; a known sync pattern finds the crop offset, in the fold as it
  is and mirrored left to right (`_oriented`: a mirror image costs one more small correlation).
- Plain borders around the picture (bars, a canvas) are cut off first (`geometry.content_box`); a changed
  size, angle or aspect is read from the autocorrelation (`geometry.estimate`) and undone by resampling.
- The payload is read blind (soft Viterbi, then a list of likely payloads and an equalized second pass
  for the CRC to judge); when that fails, the strongest folds can be tested against the mark ids this
  user's manifest store knows (`known`), which needs far less signal than reading 48 unknown bits.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Iterator

import cv2
import numpy as np

from . import ecc, geometry
from .payload import FORMATS, PayloadFormat, format_of, payload_bits
from .watermark import (CELL_PX, TILE_CELLS, TILE_PX, Detection, _band_pass, _layout, _luma, check_frame,
                        code_bit_of_cell)

# Sync-peak z-score above which a frame counts as marked, *and* the CRC-16 must match: on 1,000 unmarked
# images and frames (bench/watermark.py) under 1% reach this score (the fold is tried mirrored too) and
# none passes the CRC, so a false alarm needs two independent coincidences (below 0.01 x 96 x 2^-16 per
# picture: LIST_SIZE, EQUALIZED_LIST_SIZE, for each payload version, and all again at the nudged geometry
# of `_refined`).
DETECT_THRESHOLD = 5.0
SEARCH_SMOOTH = CELL_PX / 8.0  # lighter high cut for the geometry search (see `_whiten`)
SURE_THRESHOLD = 9.0  # a sync peak this high ends the search over geometries early
# Messages the list Viterbi decoder offers the CRC when the best one fails it (only for a sync peak above
# DETECT_THRESHOLD): heavy H.264 leaves the right payload a few places down the list. Each extra candidate
# is one more 2^-16 chance for an unmarked picture, so at most 16 x 0.3% x 2^-16 (about 1e-6) per picture.
LIST_SIZE = 16
CANONICAL_MAX_PIXELS = 1_000_000  # a resampled hypothesis beyond this (a 0.3x lattice) is cropped centrally
SCREEN_MAX_PIXELS = 400_000  # the cheap fold that picks which lattice gets a full one (`_screened`)
# The equalizer's radial frequency bands (cycles per pixel of the tile as embedded), and the list of payloads
# its pass offers the CRC: a second pass behind a clear sync peak, so it adds EQUALIZED_LIST_SIZE chances.
EQUALIZER_BANDS = np.array([0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.17, 0.20, 0.25, 0.8])
EQUALIZED_LIST_SIZE = 8
# A clear peak whose payload failed: nudges of the lattice's (scale factor, angle in degrees) tried in turn
REFINE_STEPS = ((1.004, 0.0), (0.996, 0.0), (1.0, 0.3), (1.0, -0.3))
# Testing a weak mark against the marks this user's store knows (`known`): the correlation of the soft code
# bits (plain and equalized: two tests) with one known codeword, in standard deviations, must reach
# KNOWN_THRESHOLD (unmarked content gives N(0, 1) per test: P(z >= 7) = 1.3e-12, times the known ids, the
# candidates and the two readings tested), behind a sync peak of
# at least KNOWN_SYNC_MIN, and beat every other known id by KNOWN_MARGIN (ids of one model share 40% of
# their code bits, so a neighbour of the true id scores about 0.4 of it).
# A large upscale (`_coarse_lattice`): the smallest scale it looks for, and the cheap fold's peak it needs
COARSE_MIN_SCALE, COARSE_SCREEN_Z = 1.4, 4.5
KNOWN_THRESHOLD = 7.0
KNOWN_SYNC_MIN = 4.0
KNOWN_MARGIN = 2.0
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


def _soft(aligned: np.ndarray, version: int) -> np.ndarray:
    """Soft value per code bit of payload `version` from a folded tile aligned to the embedded offset
    (> 0: the bit is 1)."""
    lay = _layout()
    cells = aligned.reshape(TILE_CELLS, CELL_PX, TILE_CELLS, CELL_PX).mean(axis=(1, 3)).reshape(-1)
    return np.bincount(code_bit_of_cell(version), cells[lay.pay_idx] * lay.chips[lay.pay_idx],
                       minlength=FORMATS[version].code_bits)


@lru_cache(maxsize=1)
def _bands() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radial frequency band of every rfft2 bin of a tile, the sync tile's spectrum, its energy per band."""
    fy = np.fft.fftfreq(TILE_PX)[:, None]
    fx = np.fft.rfftfreq(TILE_PX)[None, :]
    band = np.digitize(np.hypot(fx, fy), EQUALIZER_BANDS) - 1
    sync = np.conj(_layout().sync_fft_conj)
    energy = np.array([float(np.sum(np.abs(sync[band == b]) ** 2)) for b in range(len(EQUALIZER_BANDS) - 1)])
    return band, sync, energy


def _equalized(aligned: np.ndarray) -> np.ndarray:
    """The folded tile re-weighted per frequency band by how much mark it shows there (a matched filter
    whose shape is measured, not assumed).

    Why: the fixed whitening suits the mark as embedded, but a strong codec or JPEG at a small size keeps
    only part of the mark's band, and the rest of the band then adds noise alone. The sync cells are known
    (pilots): in each band, their correlation with the fold gives the mark's surviving amplitude, what is
    left over the noise, and the band is weighted by amplitude x mark power / noise power."""
    band, sync, energies = _bands()
    spectrum = np.fft.rfft2(aligned)
    weights = np.zeros(band.shape)
    for b, energy in enumerate(energies):
        if energy < 1e-9:
            continue
        inside = band == b
        gain = float((spectrum[inside] * np.conj(sync[inside])).real.sum()) / energy
        noise = float(np.mean(np.abs(spectrum[inside] - gain * sync[inside]) ** 2)) + 1e-12
        weights[inside] = max(gain, 0.0) * energy / inside.sum() / noise
    return np.fft.irfft2(spectrum * weights, s=aligned.shape)


def _payload(soft: np.ndarray, listed: int, fmt: PayloadFormat) -> tuple[np.ndarray, bool]:
    """The Viterbi payload, or the first of the `listed` most likely ones whose CRC holds."""
    bits = ecc.decode(soft, fmt.total_bits)
    if fmt.crc_ok(bits):
        return bits, True
    for candidate in ecc.decode_list(soft, fmt.total_bits, listed)[1:] if listed > 1 else []:
        if fmt.crc_ok(candidate):
            return candidate, True
    return bits, False


def _decode_folded(acc: np.ndarray, sync: tuple[float, int, int], lattice: geometry.Lattice | None,
                   mirrored: bool = False, listed: bool = True) -> Detection:
    """Payload from a folded tile (already in the embedded orientation) at the sync offset.

    Each payload version is read in turn (`payload.FORMATS`, the current one first). Behind a clear sync
    peak (z >= DETECT_THRESHOLD) a payload that fails its CRC is tried again from the list decoder, then
    from the equalized tile (`_equalized`) with a shorter list; each of those candidates is one more 2^-16
    chance for unmarked content, which the false-alarm bound in docs/provenance.md counts (twice: one per
    version). `listed=False`: only the Viterbi payload of each (two chances a version), for callers that
    try many geometries. Not found: the current version's reading, not detected.
    """
    score, dy, dx = sync
    aligned = np.roll(acc, (-dy, -dx), axis=(0, 1))
    clear = score >= DETECT_THRESHOLD
    equalized = None
    first = None
    for fmt in FORMATS.values():
        bits, crc_ok = _payload(_soft(aligned, fmt.version), LIST_SIZE if clear and listed else 1, fmt)
        if not crc_ok and clear:
            equalized = _equalized(aligned) if equalized is None else equalized
            eq_bits, crc_ok = _payload(_soft(equalized, fmt.version), EQUALIZED_LIST_SIZE if listed else 1, fmt)
            bits = eq_bits if crc_ok else bits
        if crc_ok:
            return _detection(bits, fmt, clear, True, sync, lattice, mirrored)
        first = first or (bits, fmt)
    return _detection(*first, False, False, sync, lattice, mirrored)


def _detection(bits: np.ndarray, fmt: PayloadFormat, detected: bool, crc_ok: bool, sync: tuple[float, int, int],
               lattice: geometry.Lattice | None, mirrored: bool, matched_known: bool = False) -> Detection:
    score, dy, dx = sync
    model_hash, nonce = fmt.fields(bits)
    m = lattice.matrix if lattice is not None else np.eye(2)
    return Detection(
        detected=detected,
        score=score,
        bits=bits,
        version=fmt.version,
        model_hash=model_hash,
        nonce=nonce,
        crc_ok=crc_ok,
        shift=(dy, dx),
        scale=round(float(np.sqrt(abs(np.linalg.det(m)))), 4),
        angle_deg=round(float(np.degrees(np.arctan2(-m[1, 0], m[0, 0]))), 2),
        mirrored=mirrored,
        matched_known=matched_known,
    )


@lru_cache(maxsize=4096)
def _known_code(known_id: str) -> tuple[PayloadFormat, np.ndarray, np.ndarray] | None:
    """(payload version, payload bits, ±1 code bits) of a mark id, or None if it is not one."""
    fmt = format_of(known_id)
    if fmt is None:
        return None
    prefix, _, nonce = known_id.partition("-")
    bits = payload_bits(prefix.ljust(8, "0"), int(nonce, 16), fmt.version)  # only the prefix's digits are used
    return fmt, bits, 2.0 * ecc.encode(bits) - 1.0


def _match_known(candidates: list[tuple], known: Iterable[str]) -> Detection | None:
    """Test the strongest candidates against each mark id this user's store knows.

    Why: reading 48 unknown bits needs far more signal than telling whether one known codeword is there;
    after a half-size H.264 re-encode at CRF 30 a talking head keeps too little mark for the first and
    plenty for the second (docs/provenance.md). The statistic is the correlation of the normalised soft
    code bits with the known codeword (N(0, 1) on unmarked content); only the marks this user made can be
    found this way, which is also where the store can name their manifests."""
    codes = {k: c for k in dict.fromkeys(known) if (c := _known_code(k)) is not None}
    if not codes:
        return None
    versions = sorted({fmt.version for fmt, _, _ in codes.values()})
    ids = [k for v in versions for k in codes if codes[k][0].version == v]  # in the order of the scores below
    signs = {v: np.stack([codes[k][2] for k in ids if codes[k][0].version == v]) for v in versions}
    best = None
    for z, acc, sync, lattice, mirrored in candidates:
        if z < KNOWN_SYNC_MIN:
            continue
        aligned = np.roll(acc, (-sync[1], -sync[2]), axis=(0, 1))
        for tile in (aligned, _equalized(aligned)):  # the equalized reading scores ~1 z higher after a strong
            scores = []  # codec, the plain one at times; each version's ids are tested on its own code bits
            for v in versions:
                soft = _soft(tile, v)
                soft = (soft - soft.mean()) / (soft.std() + 1e-12)
                scores.append(signs[v] @ soft / np.sqrt(soft.size))
            scores = np.concatenate(scores)
            order = np.argsort(-scores)
            top = float(scores[order[0]])
            runner_up = float(scores[order[1]]) if len(order) > 1 else 0.0
            if top >= KNOWN_THRESHOLD and top - runner_up >= KNOWN_MARGIN and (best is None or top > best[0]):
                best = (top, ids[order[0]], sync, lattice, mirrored)
    if best is None:
        return None
    _, known_id, sync, lattice, mirrored = best
    fmt, bits, _ = codes[known_id]
    return _detection(bits.copy(), fmt, True, True, sync, lattice, mirrored, matched_known=True)


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
    `known`: mark ids to test a mark too weak to read against (`_match_known`; `verify` passes the ids in
    this user's manifest store).
    """
    found, best = _decode_one(_picture(_checked_luma(rgb)))
    if found.detected or not known:
        return found
    sync, acc, lattice, mirrored = best
    return _match_known([(sync[0], acc, sync, lattice, mirrored)], known) or found


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
    found = _decode_folded(acc, sync, lattice, mirrored)
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
    found = _decode_folded(acc, sync, lattice, mirrored)
    return found if found.detected else None
