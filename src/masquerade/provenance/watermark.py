"""Invisible, keyed spread-spectrum watermark in the luma of every synthetic frame, found again after
re-uploads that change size, angle and aspect.

Why this design (the attacks it must survive are in `attacks`; numbers in docs/provenance.md):
- The mark is a periodic tile (period `TILE_PX`) of smooth "cells" (`CELL_PX` pixels) carrying pseudo-random
  ±1 chips. Cells this large live at low-mid spatial frequencies, which JPEG, H.264 and a 0.5x downscale
  keep. 6 px cells (192 px tiles) survived H.264 CRF 35 better, but lost to 4 px on textured and on
  small pictures (a 300x451 photo, a 25% crop of a 480p frame at 0.75x), which matter more for stills.
- Because the tile repeats, its autocorrelation has peaks on a lattice whose basis vectors are the tile's
  current size, angle and aspect (`geometry`): one FFT pair measures a rescale, rotation or stretch, with no
  sweep. The decoder resamples the whitened luma back to the embedded geometry and *folds* it modulo the
  tile period, so every tile adds its evidence. A crop only rotates the folded tile cyclically; a known sync
  pattern (a quarter of the cells) finds that rotation with one small FFT correlation.
- The other cells carry a K=7 rate-1/3 convolutional codeword (`ecc`) of the 88-bit payload: a 4-bit
  version, the first 32 bits of the model hash, a 36-bit random nonce chosen per output file, and a CRC-16
  keyed with Masquerade's tag. Model prefix + nonce form the *mark id*, which the signed manifest records
  as its soft binding, so a stripped file leads back to its manifest in the local store (`store`).
- Strength is uniform, set by a PSNR target (`TARGET_PSNR_DB`): it measured better than texture masking here,
  because flat areas carry the mark with the least host noise once the decoder normalises local contrast.
- Detection needs both a sync peak (a z-score) above a threshold calibrated on unmarked images *and* a
  matching CRC, so random content passes only by a double coincidence. Behind a clear sync peak, a list
  Viterbi decoder offers the CRC the next few payloads too: after heavy H.264 the right one is often
  second to fifth (`LIST_SIZE`).
- Decoding is budgeted per core: "as embedded" is tested first on a cheap plane and ends the search when
  unmistakable; otherwise the estimated lattices go first; a spurious small-scale lattice on unmarked
  content is cropped (`CANONICAL_MAX_PIXELS`) rather than resampled to ten times the picture.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

import cv2
import numpy as np

from . import ecc, geometry

CELL_PX = 4
TILE_CELLS = 32
TILE_PX = CELL_PX * TILE_CELLS
N_CELLS = TILE_CELLS * TILE_CELLS
N_SYNC = N_CELLS // 4
VERSION, VERSION_BITS = 2, 4
HASH_BITS = 32  # model hash prefix
NONCE_BITS = 36  # per output file
CRC_BITS = 16
TAG = 0xA5C3  # Masquerade's tag, the CRC's initial value: other marks with this layout fail the CRC
ID_BITS = VERSION_BITS + HASH_BITS + NONCE_BITS
PAYLOAD_BITS = ID_BITS + CRC_BITS
CODE_BITS = ecc.coded_length(PAYLOAD_BITS)
TARGET_PSNR_DB = 42.4  # lands at >= 42 dB after rounding to integers
# Sync-peak z-score above which a frame counts as marked, *and* the CRC-16 must match: on 1,000 unmarked
# images and frames (bench/watermark.py) about 0.3% reach this score and none passes the CRC, so a false
# alarm needs two independent coincidences (about 0.003 x LIST_SIZE x 2^-16 per picture).
DETECT_THRESHOLD = 5.0
SEARCH_SMOOTH = CELL_PX / 8.0  # lighter high cut for the geometry search (see `_whiten`)
POOLS_DECODED = 4  # video: the strongest pools that get a full (Viterbi + CRC) decode
SURE_THRESHOLD = 9.0  # a sync peak this high ends the search over geometries early
# Messages the list Viterbi decoder offers the CRC when the best one fails it (only for a sync peak above
# DETECT_THRESHOLD): heavy H.264 leaves the right payload a few places down the list. Each extra candidate
# is one more 2^-16 chance for an unmarked picture, so at most 16 x 0.3% x 2^-16 (about 1e-6) per picture.
LIST_SIZE = 16
CANONICAL_MAX_PIXELS = 1_000_000  # a resampled hypothesis beyond this (a 0.3x lattice) is cropped centrally
SCREEN_MAX_PIXELS = 400_000  # the cheap fold that picks which lattice gets a full one (`_screened`)
PEAK_EXCLUDE = 6  # pixels around the sync peak left out of the noise estimate
ALGORITHM = "org.masquerade.watermark.2"  # the soft-binding algorithm name recorded in manifests

_KEY = b"masquerade-watermark-key-v1"


@dataclass(frozen=True)
class Detection:
    """What the decoder found: payload bits (best guess even when not detected) and the evidence."""

    detected: bool
    score: float  # sync correlation peak as a z-score; unmarked content stays well below DETECT_THRESHOLD
    bits: np.ndarray  # PAYLOAD_BITS decoded 0/1 bits
    version: int
    model_hash: str  # 8 hex chars (32 bits) carried by the mark
    nonce: int
    crc_ok: bool
    shift: tuple[int, int]
    scale: float = 1.0  # size of the picture relative to the marked original (0.5: halved)
    angle_deg: float = 0.0  # rotation found (counter-clockwise positive)

    @property
    def mark_id(self) -> str:
        """Model prefix + nonce: the key of this file's manifest in the local manifest store."""
        return mark_id(self.model_hash, self.nonce)


@dataclass(frozen=True)
class _Layout:
    sync_idx: np.ndarray  # cell indices of the sync pattern
    pay_idx: np.ndarray  # cell indices carrying code bits
    pay_bit: np.ndarray  # which code bit each payload cell carries
    chips: np.ndarray  # ±1 per cell
    sync_fft_conj: np.ndarray  # conj FFT of the band-passed sync tile, for the shift search


def mark_id(model_hash: str, nonce: int) -> str:
    return f"{model_hash[:8].lower()}-{nonce:0{NONCE_BITS // 4}x}"


def new_nonce() -> int:
    """A fresh random nonce for one output file (2^36 values: two of a thousand files made with one model
    share a mark id with odds of about one in 140,000; the store then lists both)."""
    return secrets.randbits(NONCE_BITS)


def _rng() -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(_KEY).digest()[:8], "little"))


def _cells_to_tile(cells: np.ndarray) -> np.ndarray:
    """T×T cell values -> smooth TILE_PX×TILE_PX pixel tile (cyclic, so tiles join seamlessly)."""
    up = np.kron(cells.reshape(TILE_CELLS, TILE_CELLS), np.ones((CELL_PX, CELL_PX))).astype(np.float32)
    big = np.tile(up, (3, 3))
    big = cv2.GaussianBlur(big, (0, 0), CELL_PX / 2.5)
    return np.ascontiguousarray(big[TILE_PX : 2 * TILE_PX, TILE_PX : 2 * TILE_PX])


@lru_cache(maxsize=1)
def _layout() -> _Layout:
    rng = _rng()
    perm = rng.permutation(N_CELLS)
    chips = rng.choice(np.array([-1.0, 1.0]), size=N_CELLS)
    sync_idx, pay_idx = perm[:N_SYNC], perm[N_SYNC:]
    pay_bit = np.arange(pay_idx.size) % CODE_BITS
    sync_cells = np.zeros(N_CELLS)
    sync_cells[sync_idx] = chips[sync_idx]
    sync_tile = _band_pass(np.tile(_cells_to_tile(sync_cells), (3, 3)))[TILE_PX : 2 * TILE_PX, TILE_PX : 2 * TILE_PX]
    return _Layout(sync_idx, pay_idx, pay_bit, chips, np.conj(np.fft.rfft2(sync_tile)))


def _to_bits(value: int, n: int) -> list[int]:
    return [(value >> (n - 1 - i)) & 1 for i in range(n)]


def payload_bits(model_hash: str, nonce: int = 0) -> np.ndarray:
    """Version, the first 32 bits of `model_hash` (hex), the nonce and the CRC as 0/1 bits, MSB first."""
    digits = model_hash.strip().lower() if isinstance(model_hash, str) else ""
    if len(digits) < 8 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"model hash must be a hex string of at least 8 characters, got {model_hash!r}")
    if not 0 <= int(nonce) < (1 << NONCE_BITS):
        raise ValueError(f"nonce must fit in {NONCE_BITS} bits")
    head = _to_bits(VERSION, VERSION_BITS) + _to_bits(int(digits[:8], 16), HASH_BITS) + _to_bits(int(nonce), NONCE_BITS)
    bits = np.array(head, dtype=np.uint8)
    return np.concatenate([bits, ecc.crc(bits, CRC_BITS, init=TAG)])


@lru_cache(maxsize=8)
def _payload_tile(model_hash: str, nonce: int) -> np.ndarray:
    lay = _layout()
    code = ecc.encode(payload_bits(model_hash, nonce)).astype(np.float64)
    cells = lay.chips.copy()
    cells[lay.pay_idx] *= 2.0 * code[lay.pay_bit] - 1.0
    tile = _cells_to_tile(cells)
    return tile / np.float32(np.sqrt(np.mean(tile**2)))


@lru_cache(maxsize=2)
def _delta(model_hash: str, nonce: int, height: int, width: int, psnr_db: float) -> np.ndarray:
    """The frame-sized int16 offset (same for R, G, B); cached because every frame of a video shares it."""
    tile = _payload_tile(model_hash, nonce) * np.float32(255.0 / 10 ** (psnr_db / 20.0))
    reps = (-(-height // TILE_PX), -(-width // TILE_PX))
    d = np.rint(np.tile(tile, reps)[:height, :width]).astype(np.int16)
    return np.ascontiguousarray(np.repeat(d[:, :, None], 3, axis=2))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def check_frame(rgb: np.ndarray) -> None:
    """Raise ValueError unless `rgb` is an RGB uint8 H×W×3 array (the boundary convention)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}"
        raise ValueError(f"frames must be RGB uint8 H×W×3 arrays, got {got}")


def embed(rgb: np.ndarray, model_hash: str, psnr_db: float = TARGET_PSNR_DB, nonce: int = 0) -> np.ndarray:
    """Return a watermarked copy of an RGB uint8 frame; the same luma offset goes to R, G and B."""
    check_frame(rgb)
    payload_bits(model_hash, nonce)  # validates both
    delta = _delta(model_hash.strip().lower(), int(nonce), rgb.shape[0], rgb.shape[1], float(psnr_db))
    return cv2.add(np.ascontiguousarray(rgb), delta, dtype=cv2.CV_8U)  # saturating: clips at 0 and 255


def _band_pass(luma: np.ndarray, smooth: float = CELL_PX / 4.0) -> np.ndarray:
    """Keep the band the cells live in; suppress image structure (low) and codec noise (high, `smooth`).

    The low-pass (sigma ~3 px) runs at half resolution: four times cheaper, and only needs to be smooth.
    """
    h, w = luma.shape
    half = cv2.resize(luma, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    low = cv2.resize(cv2.GaussianBlur(half, (0, 0), CELL_PX * 0.35), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(luma, (0, 0), smooth) - low


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


def _crc_ok(bits: np.ndarray) -> bool:
    return bool(np.array_equal(ecc.crc(bits[:ID_BITS], CRC_BITS, init=TAG), bits[ID_BITS:]))


def _decode_folded(acc: np.ndarray, sync: tuple[float, int, int], lattice: geometry.Lattice | None) -> Detection:
    lay = _layout()
    score, dy, dx = sync
    aligned = np.roll(acc, (-dy, -dx), axis=(0, 1))
    cells = aligned.reshape(TILE_CELLS, CELL_PX, TILE_CELLS, CELL_PX).mean(axis=(1, 3)).reshape(-1)
    soft = np.zeros(CODE_BITS)
    np.add.at(soft, lay.pay_bit, cells[lay.pay_idx] * lay.chips[lay.pay_idx])
    bits = ecc.decode(soft, PAYLOAD_BITS)
    crc_ok = _crc_ok(bits)
    if not crc_ok and score >= DETECT_THRESHOLD:  # a clear sync peak but a damaged payload: list decode
        for listed in ecc.decode_list(soft, PAYLOAD_BITS, LIST_SIZE)[1:]:
            if _crc_ok(listed):
                bits, crc_ok = listed, True
                break
    value = int("".join(map(str, bits[:ID_BITS])), 2)
    m = lattice.matrix if lattice is not None else np.eye(2)
    return Detection(
        detected=score >= DETECT_THRESHOLD and crc_ok,
        score=score,
        bits=bits,
        version=value >> (HASH_BITS + NONCE_BITS),
        model_hash=f"{(value >> NONCE_BITS) & 0xFFFFFFFF:08x}",
        nonce=value & ((1 << NONCE_BITS) - 1),
        crc_ok=crc_ok,
        shift=(dy, dx),
        scale=round(float(np.sqrt(abs(np.linalg.det(m)))), 4),
        angle_deg=round(float(np.degrees(np.arctan2(-m[1, 0], m[0, 0]))), 2),
    )


def _lattices(planes: list[np.ndarray]) -> list[geometry.Lattice]:
    """The changed geometries worth trying, most likely first: the lattices the pooled autocorrelation of
    the search planes shows, less the identity (the decoders try "as embedded" first, before any search)."""
    shapes = [p.shape for p in planes]
    shape = max(set(shapes), key=shapes.count)  # a video's frames share one; stray sizes do not vote
    powers = [geometry.power_spectrum(p, TILE_PX) for p in planes if p.shape == shape]
    return [lat for lat in geometry.estimate(powers, shape, TILE_PX) if not lat.is_identity()]


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


def _hypotheses(luma: np.ndarray) -> Iterator[geometry.Lattice | None]:
    """The geometries to try, most likely first; None is "as embedded".

    The search plane folded as it is tells cheaply whether the picture kept its geometry (most outputs are
    read back at their own size): then "as embedded" goes first and the estimate is never computed.
    Otherwise the lattices the autocorrelation shows go first (the runners-up screened down to one) and
    "as embedded" last, which spares a rescaled or rotated picture one full-size whitening when a lattice
    finds the mark, and bounds an unmarked picture to three full folds.
    """
    plane = _search_plane(luma)
    if _sync(_fold(plane))[0] >= SURE_THRESHOLD:
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
        return _sync(_fold(cv2.multiply(canonical, valid)))[0]
    return [max(lattices, key=quick_z)]


def decode(rgb: np.ndarray) -> Detection:
    """Look for the mark in one RGB uint8 frame (any crop offset, rescale, small rotation or stretch).

    Geometries are tried until one shows an unmistakable sync peak; else the strongest peak is decoded.
    """
    luma = _checked_luma(rgb)
    best = None
    for lattice in _hypotheses(luma):
        acc = _fold_as(luma, lattice)
        sync = _sync(acc)
        if best is None or sync[0] > best[0][0]:
            best = (sync, acc, lattice)
        if sync[0] >= SURE_THRESHOLD:  # no other geometry can do better than an unmistakable peak
            break
    sync, acc, lattice = best
    return _decode_folded(acc, sync, lattice)


def _pool_candidates(lumas: list[np.ndarray], lattice: geometry.Lattice | None) -> list[tuple]:
    """(z, folded tile, sync, lattice) for each frame and each pool of frames, under one geometry."""
    accs = [_fold_as(luma, lattice) for luma in lumas]
    syncs = [_sync(acc) for acc in accs]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (_, dy, dx) in enumerate(syncs):
        groups.setdefault((dy, dx), []).append(i)
    candidates = [(syncs[i][0], accs[i], syncs[i], lattice) for i in range(len(accs))]
    pools = [np.sum(accs, axis=0)] + [np.sum([accs[i] for i in m], axis=0)
                                      for m in groups.values() if 1 < len(m) < len(accs)]
    weights = np.array([max(z - 2.0, 0.0) for z, _, _ in syncs])
    if len(accs) > 1 and weights.sum() > 0:
        pools.append(np.tensordot(weights / weights.sum() * len(accs), np.asarray(accs), axes=1))
    for pooled in pools:
        sync = _sync(pooled)
        candidates.append((sync[0], pooled, sync, lattice))
    return candidates


def _first_detected(candidates: list[tuple]) -> Detection:
    """Decode the strongest candidates; the first whose CRC holds wins, else the strongest (not detected)."""
    candidates.sort(key=lambda c: -c[0])
    first = None
    for _, acc, sync, lattice in candidates[:POOLS_DECODED]:
        found = _decode_folded(acc, sync, lattice)
        if found.detected:
            return found
        first = first or found
    return first


def decode_frames(frames: Iterable[np.ndarray]) -> Detection:
    """Pool evidence across video frames before deciding.

    Frames are pooled in several ways: all of them (a static mark, e.g. a still camera), each group of
    frames that agree on the tile offset (codecs' motion compensation drags the mark along with moving
    content between key frames, so a single global offset would smear the evidence), and all of them
    weighted by how clearly each shows the mark (heavy compression wipes it from some frames and not
    others). The strongest pools are decoded and the first whose CRC holds wins. The geometry as embedded
    goes first; only when it shows no unmistakable mark does the frames' summed power spectrum pick the
    other geometries to try (one rescale for a whole video).
    """
    lumas = [_checked_luma(frame) for frame in frames]
    if not lumas:
        raise ValueError("decode_frames needs at least one frame")
    candidates = _pool_candidates(lumas, None)
    if max(c[0] for c in candidates) >= SURE_THRESHOLD:
        found = _first_detected(list(candidates))
        if found.detected:
            return found
    for lattice in _lattices([_search_plane(luma) for luma in lumas]):
        candidates += _pool_candidates(lumas, lattice)
    return _first_detected(candidates)
