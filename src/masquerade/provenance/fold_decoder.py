"""From a folded tile to a detection: soft code bits per payload version, Viterbi + list + CRC, the
equalized second reading, and the test against the mark ids this user's store knows.

Why a module of its own: `reader` (pictures) and `video_reader` (clips) find the mark's geometry and fold
its tiles in their own ways, and both end here with a folded tile and its sync offset. What happens next
depends only on the payload's layouts (`payload`), and is where the false-alarm odds are spent: every
payload a CRC is asked about is one more 2^-16 chance for unmarked content (docs/provenance.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import numpy as np

from . import ecc, geometry
from .payload import FORMATS, PayloadFormat, format_of, payload_bits
from .watermark import CELL_PX, TILE_CELLS, TILE_PX, Detection, _layout, code_bit_of_cell

# Sync-peak z-score above which a frame counts as marked, *and* the CRC-16 must match: on 1,000 unmarked
# images and frames (bench/watermark.py) under 1% reach this score (the fold is tried mirrored too) and
# none passes the CRC, so a false alarm needs two independent coincidences (below 0.01 x 96 x 2^-16 per
# picture: LIST_SIZE, EQUALIZED_LIST_SIZE, for each payload version, and all again at the nudged geometry
# of `_refined`).
DETECT_THRESHOLD = 5.0

# Messages the list Viterbi decoder offers the CRC when the best one fails it (only for a sync peak above
# DETECT_THRESHOLD): heavy H.264 leaves the right payload a few places down the list. Each extra candidate
# is one more 2^-16 chance for an unmarked picture, so at most 16 x 0.3% x 2^-16 (about 1e-6) per picture.
LIST_SIZE = 16
# The equalizer's radial frequency bands (cycles per pixel of the tile as embedded), and the list of payloads
# its pass offers the CRC: a second pass behind a clear sync peak, so it adds EQUALIZED_LIST_SIZE chances.
EQUALIZER_BANDS = np.array([0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.17, 0.20, 0.25, 0.8])
EQUALIZED_LIST_SIZE = 8
# Testing a weak mark against the marks this user's store knows (`known`): the correlation of the soft code
# bits (plain and equalized: two tests) with one known codeword, in standard deviations, must reach
# KNOWN_THRESHOLD (unmarked content gives N(0, 1) per test: P(z >= 7) = 1.3e-12, times the known ids, the
# candidates and the two readings tested), behind a sync peak of
# at least KNOWN_SYNC_MIN, and beat every other known id by KNOWN_MARGIN (ids of one model share 40% of
# their code bits, so a neighbour of the true id scores about 0.4 of it).
KNOWN_THRESHOLD = 7.0
KNOWN_SYNC_MIN = 4.0
KNOWN_MARGIN = 2.0


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


def decode_folded(acc: np.ndarray, sync: tuple[float, int, int], lattice: geometry.Lattice | None,
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


def match_known(candidates: list[tuple], known: Iterable[str]) -> Detection | None:
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
