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
- The other cells carry a K=7 rate-1/3 convolutional codeword (`ecc`) of the payload (`payload`; version 3,
  48 bits: the first 16 bits of the model hash, a 16-bit random nonce chosen per output file, and a CRC-16
  keyed with Masquerade's tag; version 2's 88 bits are still read). Model prefix + nonce form the *mark
  id*, which the signed manifest records as its soft binding, so a stripped file leads back to its
  manifest in the local store (`store`).
- Strength is uniform, set by a PSNR target (`TARGET_PSNR_DB`): it measured better than texture masking here,
  because flat areas carry the mark with the least host noise once the decoder normalises local contrast.
- Detection needs both a sync peak (a z-score) above a threshold calibrated on unmarked images *and* a
  matching CRC, so random content passes only by a double coincidence. Reading it back (the geometry
  search, mirror images, plain borders, list decoding, the store-informed match) is `reader`'s job, and
  pooling a clip's frames `video_reader`'s; their `decode` and `decode_frames` are re-exported here. The
  tile, its sync and its strength are unchanged since version 2 of the payload; version 3 only deals the
  same payload cells over a shorter code (`code_bit_of_cell`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from . import ecc
from .payload import CURRENT, FORMATS, format_of, mark_id, new_nonce, payload_bits  # noqa: F401

CELL_PX = 4
TILE_CELLS = 32
TILE_PX = CELL_PX * TILE_CELLS
N_CELLS = TILE_CELLS * TILE_CELLS
N_SYNC = N_CELLS // 4
# The payload's layouts are `payload`'s (versions 2 and 3); new files get `payload.CURRENT`, whose sizes these are
VERSION, NONCE_BITS, PAYLOAD_BITS = CURRENT.version, CURRENT.nonce_bits, CURRENT.total_bits
TARGET_PSNR_DB = 42.4  # lands at >= 42 dB after rounding to integers
ALGORITHM = CURRENT.algorithm  # the soft-binding algorithm name that manifests of new files record

_KEY = b"masquerade-watermark-key-v1"


@dataclass(frozen=True)
class Detection:
    """What the decoder found: payload bits (best guess even when not detected) and the evidence."""

    detected: bool
    score: float  # sync correlation peak as a z-score; unmarked content stays well below DETECT_THRESHOLD
    bits: np.ndarray  # the decoded 0/1 payload bits of `version` (a best guess when not detected)
    version: int  # the payload version the bits were read as (`payload.FORMATS`)
    model_hash: str  # the model hash prefix the mark carries, hex (8 digits in version 2, 4 in version 3)
    nonce: int
    crc_ok: bool
    shift: tuple[int, int]
    scale: float = 1.0  # size of the picture relative to the marked original (0.5: halved)
    angle_deg: float = 0.0  # rotation found (counter-clockwise positive)
    mirrored: bool = False  # the picture was flipped left to right (a front camera, an editor's "flip")
    matched_known: bool = False  # found by testing the marks this user made (`known`), not read blind

    @property
    def mark_id(self) -> str:
        """Model prefix + nonce: the key of this file's manifest in the local manifest store."""
        return mark_id(self.model_hash, self.nonce, self.version)


@dataclass(frozen=True)
class _Layout:
    sync_idx: np.ndarray  # cell indices of the sync pattern
    pay_idx: np.ndarray  # cell indices carrying code bits
    chips: np.ndarray  # ±1 per cell
    sync_fft_conj: np.ndarray  # conj FFT of the band-passed sync tile, for the shift search


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
    sync_cells = np.zeros(N_CELLS)
    sync_cells[sync_idx] = chips[sync_idx]
    sync_tile = _band_pass(np.tile(_cells_to_tile(sync_cells), (3, 3)))[TILE_PX : 2 * TILE_PX, TILE_PX : 2 * TILE_PX]
    return _Layout(sync_idx, pay_idx, chips, np.conj(np.fft.rfft2(sync_tile)))


def code_bit_of_cell(version: int) -> np.ndarray:
    """Which code bit each payload cell (`_Layout.pay_idx`, in order) carries in `version`: every version
    shares the cells, chips and sync, and deals the payload cells round the code bits in turn, so a shorter
    code gets more cells per bit."""
    return np.arange(N_CELLS - N_SYNC) % FORMATS[version].code_bits


@lru_cache(maxsize=8)
def _payload_tile(model_hash: str, nonce: int, version: int) -> np.ndarray:
    lay = _layout()
    code = ecc.encode(payload_bits(model_hash, nonce, version)).astype(np.float64)
    cells = lay.chips.copy()
    cells[lay.pay_idx] *= 2.0 * code[code_bit_of_cell(version)] - 1.0
    tile = _cells_to_tile(cells)
    return tile / np.float32(np.sqrt(np.mean(tile**2)))


@lru_cache(maxsize=2)
def _delta(model_hash: str, nonce: int, version: int, height: int, width: int, psnr_db: float) -> np.ndarray:
    """The frame-sized int16 offset (same for R, G, B); cached because every frame of a video shares it."""
    tile = _payload_tile(model_hash, nonce, version) * np.float32(255.0 / 10 ** (psnr_db / 20.0))
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


def embed(rgb: np.ndarray, model_hash: str, psnr_db: float = TARGET_PSNR_DB, nonce: int = 0,
          version: int = VERSION) -> np.ndarray:
    """Return a watermarked copy of an RGB uint8 frame; the same luma offset goes to R, G and B.

    `version`: the payload's (`payload.FORMATS`); only tests and benches mark with an earlier one."""
    check_frame(rgb)
    payload_bits(model_hash, nonce, version)  # validates all three
    delta = _delta(model_hash.strip().lower(), int(nonce), version, rgb.shape[0], rgb.shape[1], float(psnr_db))
    return cv2.add(np.ascontiguousarray(rgb), delta, dtype=cv2.CV_8U)  # saturating: clips at 0 and 255


def _band_pass(luma: np.ndarray, smooth: float = CELL_PX / 4.0) -> np.ndarray:
    """Keep the band the cells live in; suppress image structure (low) and codec noise (high, `smooth`).

    The low-pass (sigma ~3 px) runs at half resolution: four times cheaper, and only needs to be smooth.
    """
    h, w = luma.shape
    half = cv2.resize(luma, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    low = cv2.resize(cv2.GaussianBlur(half, (0, 0), CELL_PX * 0.35), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(luma, (0, 0), smooth) - low


# Decoding lives in `reader` (pictures) and `video_reader` (clips); their entry points are this module's too.
from .reader import DETECT_THRESHOLD, decode  # noqa: E402,F401  (reader imports this module)
from .video_reader import decode_frames  # noqa: E402,F401
