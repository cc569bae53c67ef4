"""Reading the watermark from a video: pool the frames' evidence under one geometry, then decode.

Why a module of its own: a clip is read differently from a picture. Its frames share one geometry (one
re-upload rescales them all), so their power spectra are pooled to find it and their folded tiles are
pooled to read the payload; a weak mark's lattice is screened cheaply before every frame is folded under
it; and when the pooled sync is clear but the payload fails, the geometry is refitted (`_refitted`). The
single-picture machinery (whitening, folding, sync) is `reader`'s, the payload's (Viterbi + CRC, the
store-informed match) `fold_decoder`'s.
Figures and the false-alarm argument are in docs/provenance.md.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from . import geometry
from .fold_decoder import decode_folded, match_known
from .reader import (SCREEN_MAX_PIXELS, SURE_THRESHOLD, _checked_luma, _fold, _fold_as, _lattices, _nudged,
                     _oriented, _picture, _search_plane, _sync)
from .watermark import Detection

GEOMETRY_FRAMES = 24  # frames (evenly spread) whose power spectra are pooled for the geometry
# lattices the estimate offers for screening, and the score they need (a weak mark's rank low)
VIDEO_CANDIDATES, VIDEO_MIN_LATTICE_SCORE = 16, 1.5
VIDEO_LATTICES = 2  # the changed geometries (after screening) whose every frame gets a full fold
POOLS_DECODED = 4  # the strongest pools that get a full (Viterbi + CRC) decode
# A pool whose sync is this clear under a changed geometry but whose payload failed gets its geometry
# refitted: the lattice as a pure scale and rotation, nudged by these (scale factor, degrees) in turn. Each
# nudge's decode offers the CRC LIST_SIZE + EQUALIZED_LIST_SIZE payloads per payload version, so 9 x 48 = 432
# chances in 65,536, behind a pooled sync peak that no unmarked clip or pseudo-video came near (highest 5.6
# of 33 and 5.3 of 9).
REFIT_MIN_Z = 6.5
REFIT_STEPS = tuple((scale, degrees) for scale in (0.999, 1.0, 1.001) for degrees in (-0.15, 0.0, 0.15))


def _pool_candidates(lumas: list[np.ndarray], lattice: geometry.Lattice | None) -> list[tuple]:
    """(z, folded tile, sync, lattice, mirrored) for each frame and each pool of frames, under one geometry,
    in both orientations (a video is mirrored as a whole or not at all: pools never mix the two)."""
    folds = [_fold_as(luma, lattice) for luma in lumas]
    candidates = []
    for mirrored in (False, True):
        accs = [np.ascontiguousarray(a[:, ::-1]) for a in folds] if mirrored else folds
        syncs = [_sync(acc) for acc in accs]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (_, dy, dx) in enumerate(syncs):
            groups.setdefault((dy, dx), []).append(i)
        candidates += [(syncs[i][0], accs[i], syncs[i], lattice, mirrored) for i in range(len(accs))]
        pools = [np.sum(accs, axis=0)] + [np.sum([accs[i] for i in m], axis=0)
                                          for m in groups.values() if 1 < len(m) < len(accs)]
        weights = np.array([max(z - 2.0, 0.0) for z, _, _ in syncs])
        if len(accs) > 1 and weights.sum() > 0:
            pools.append(np.tensordot(weights / weights.sum() * len(accs), np.asarray(accs), axes=1))
        for pooled in pools:
            sync = _sync(pooled)
            candidates.append((sync[0], pooled, sync, lattice, mirrored))
    return candidates


def _first_detected(candidates: list[tuple]) -> Detection:
    """Decode the strongest candidates; the first whose CRC holds wins, else the strongest (not detected)."""
    candidates.sort(key=lambda c: -c[0])
    first = None
    for _, acc, sync, lattice, mirrored in candidates[:POOLS_DECODED]:
        found = decode_folded(acc, sync, lattice, mirrored)
        if found.detected:
            return found
        first = first or found
    return first


def decode_frames(frames: Iterable[np.ndarray], known: Iterable[str] = ()) -> Detection:
    """Pool evidence across video frames before deciding.

    Frames are pooled in several ways: all of them (a static mark, e.g. a still camera), each group of
    frames that agree on the tile offset (codecs' motion compensation drags the mark along with moving
    content between key frames, so a single global offset would smear the evidence), and all of them
    weighted by how clearly each shows the mark (heavy compression wipes it from some frames and not
    others). The strongest pools are decoded and the first whose CRC holds wins. Plain borders are cut
    off first (one box for the whole video: the most common among its frames). The geometry as embedded
    goes first; only when it shows no unmistakable mark does the frames' summed power spectrum pick the
    other geometries to try (one rescale for a whole video), each tried on the whole pool. `known`: as
    for `decode`, tested on the strongest pools when no payload can be read.
    """
    lumas = [_checked_luma(frame) for frame in frames]
    if not lumas:
        raise ValueError("decode_frames needs at least one frame")
    boxes = [geometry.content_box(luma) for luma in lumas]
    box = max(set(boxes), key=boxes.count)
    lumas = [_picture(luma, box if luma.shape == lumas[0].shape else None) for luma in lumas]
    candidates = _pool_candidates(lumas, None)
    if max(c[0] for c in candidates) >= SURE_THRESHOLD:
        found = _first_detected(list(candidates))
        if found.detected:
            return found
    planes = [_search_plane(luma) for luma in lumas[:: max(1, len(lumas) // GEOMETRY_FRAMES)]]
    for lattice in _screened_pool(planes, _lattices(planes, VIDEO_CANDIDATES, VIDEO_MIN_LATTICE_SCORE, weak=True)):
        candidates += _pool_candidates(lumas, lattice)
    found = _first_detected(candidates)
    if not found.detected:
        found = _refitted(lumas, candidates) or found
    if found.detected or not known:
        return found
    return match_known(candidates[:POOLS_DECODED], known) or found


def _screened_pool(planes: list[np.ndarray], lattices: list[geometry.Lattice]) -> list[geometry.Lattice]:
    """A video's lattices, best first, at most VIDEO_LATTICES of them: each is screened by the pooled cheap
    fold of a dozen frames' search planes (already whitened), so only the likely ones cost a full fold of
    every frame (a spurious 0.3x lattice would otherwise resample each of 60 frames to 11 times its size)."""
    if len(lattices) <= 1:
        return lattices
    sample = planes[:: max(1, len(planes) // 12)]  # a dozen of them
    def pooled_z(lattice: geometry.Lattice) -> float:
        folds = []
        for plane in sample:
            canonical, valid = geometry.to_canonical(plane, lattice, SCREEN_MAX_PIXELS)
            folds.append(_fold(cv2.multiply(canonical, valid)))
        return _oriented(np.sum(folds, axis=0))[0][0]
    return sorted(lattices, key=pooled_z, reverse=True)[:VIDEO_LATTICES]


def _similarity(lattice: geometry.Lattice) -> geometry.Lattice:
    """The scale-and-rotation lattice nearest to `lattice` (its shear and aspect change dropped)."""
    m = lattice.matrix
    c, s = 0.5 * (m[0, 0] + m[1, 1]), 0.5 * (m[1, 0] - m[0, 1])
    return geometry.Lattice(np.array([[c, -s], [s, c]]), lattice.strength)


def _refitted(lumas: list[np.ndarray], candidates: list[tuple]) -> Detection | None:
    """A clear pooled sync under a changed geometry whose payload failed: refold every frame at small
    nudges of that geometry, taken as a pure scale and rotation, and decode each; the first whose CRC
    holds wins.

    Why: a weak mark's lattice, estimated from the pooled autocorrelation, can carry a small shear (0.7%
    on a 0.75x CRF 35 re-upload of a real clip: cells a few pixels off at the picture's edges), and at
    that strength the payload is lost while the sync, which pools 256 cells, hardly moves (7.1 against 7.2
    at the true geometry, so its peak cannot steer the fit). Re-uploads rescale both axes alike, so the
    nearest similarity is the likelier geometry; the nudges cover what is left of the estimate's error.
    Only the strongest candidate's geometry is refitted, and only behind a peak of REFIT_MIN_Z.

    Every nudge is first decoded with the Viterbi payload alone (2 CRC chances each), and only when none
    holds are the nudges' lists tried: a list offers its CRC paths a burst of bits off the best one, and
    over nine nudges such a near miss passed once (the right nonce, a wrong model hash, at the first nudge;
    tests/provenance/test_prov_reupload.py on a loaded machine), where a later nudge may hold the right
    payload as its best path. Reading every nudge's best path first costs nothing more (the folds, the
    dear part, are made once) and leaves the false-alarm count where it was."""
    best = max(candidates, key=lambda c: c[0])
    z, _, _, lattice, _ = best
    if lattice is None or z < REFIT_MIN_Z:
        return None
    base = _similarity(lattice)
    folded = []
    for scale, degrees in REFIT_STEPS:
        trial = _nudged(base, scale, degrees)
        sync, acc, mirrored = _oriented(np.sum([_fold_as(luma, trial) for luma in lumas], axis=0))
        folded.append((acc, sync, trial, mirrored))
    for listed in (False, True):
        for acc, sync, trial, mirrored in folded:
            found = decode_folded(acc, sync, trial, mirrored, listed=listed)
            if found.detected:
                return found
    return None
