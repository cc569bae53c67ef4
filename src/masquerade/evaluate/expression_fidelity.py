"""Expression fidelity of a swap: does the output's mouth open and do its eyes blink when the source's do?

Identity metrics cannot see a swap that renders the target's *mean* face in every frame (mouth half open,
eyes always open): it is still recognisably the target. These measures can. Per frame, the
mouth and eye openings and the mouth corners' lift of source and output (`faces.landmark_measures`, from
MediaPipe's 478 landmarks).

Over a clip: the Pearson correlation of source and output for each measure (1 = the output follows the
source; ~0 = it ignores it; `smile_corr` for the corner lift, which tells a smile from pursed lips), the mean
absolute difference, and blink agreement (the share of the source's blinks during which the output closes
its eyes too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from ..faces.landmark_measures import BLINK_RATIO, closed_frames, openings

BLINK_TOLERANCE = 2  # frames of slack when matching an output blink to a source blink


def correlation(source: np.ndarray, output: np.ndarray, eps: float = 1e-9) -> float:
    """Pearson correlation over frames where both are known.

    A constant output against a moving source scores 0 (it follows nothing). A constant source gives NaN
    (nothing to follow) unless the output is identical to it, which scores 1.
    """
    s, o = np.asarray(source, np.float64), np.asarray(output, np.float64)
    ok = np.isfinite(s) & np.isfinite(o)
    s, o = s[ok], o[ok]
    if len(s) < 3:
        return float("nan")
    if s.std() < eps:
        return 1.0 if np.allclose(s, o) else float("nan")
    if o.std() < eps:
        return 0.0
    return float(np.corrcoef(s, o)[0, 1])


def blinks(eye: np.ndarray, ratio: float = BLINK_RATIO, bridge: int = 1) -> list[tuple[int, int]]:
    """Runs of closed frames as (first, last) frame index pairs; runs at most `bridge` open frames apart are
    one blink (landmark noise on half-closed lids would otherwise split it)."""
    closed = closed_frames(eye, ratio)
    runs, start = [], None
    for i, c in enumerate(closed):
        if c and start is None:
            start = i
        elif not c and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(closed) - 1))
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] - 1 <= bridge:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def blink_agreement(source_eye: np.ndarray, output_eye: np.ndarray, ratio: float = BLINK_RATIO,
                    tolerance: int = BLINK_TOLERANCE) -> float:
    """Share of the source's blinks during which (± `tolerance` frames) the output's eyes close too; NaN
    when the source never blinks."""
    src = blinks(source_eye, ratio)
    if not src:
        return float("nan")
    out_closed = closed_frames(output_eye, ratio)
    hit = 0
    for a, b in src:
        lo, hi = max(0, a - tolerance), min(len(out_closed), b + tolerance + 1)
        hit += bool(out_closed[lo:hi].any())
    return hit / len(src)


@dataclass
class ExpressionScores:
    mouth_corr: float  # Pearson correlation of mouth opening, source vs output
    eye_corr: float
    smile_corr: float  # Pearson correlation of the mouth corners' lift (`faces.landmark_measures.corner_lift`)
    mouth_error: float  # mean |source - output| mouth opening (face-size units)
    eye_error: float
    blink_agreement: float  # share of source blinks the output reproduces (NaN: the source never blinks)
    source_blinks: int
    output_blinks: int
    frames: int  # frames where both source and output have a face
    per_frame: dict[str, list[float]] = field(default_factory=dict)  # source/output openings and corner lift

    def to_dict(self, per_frame: bool = False) -> dict:
        d = asdict(self)
        if not per_frame:
            d.pop("per_frame")
        return d


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.abs(a[ok] - b[ok]).mean()) if ok.any() else float("nan")


def expression_scores(source: Sequence[np.ndarray | None], output: Sequence[np.ndarray | None]) -> ExpressionScores:
    """Compare per-frame landmarks (478×2, any pixel frame; None = no face) of a source clip and its swap."""
    if len(source) != len(output):
        raise ValueError(f"source has {len(source)} frames but output has {len(output)}")
    (sm, se, sl), (om, oe, ol) = openings(source), openings(output)
    return scores_from_openings(sm, se, om, oe, sl, ol)


def scores_from_openings(sm: np.ndarray, se: np.ndarray, om: np.ndarray, oe: np.ndarray,
                         sl: np.ndarray | None = None, ol: np.ndarray | None = None) -> ExpressionScores:
    """The same from per-frame openings and corner lifts (`faces.landmark_measures.openings`; NaN = no face; no lifts
    given: `smile_corr` is NaN): what a streaming pass keeps instead of every frame's landmarks."""
    sm, se, om, oe = (np.asarray(v, np.float64) for v in (sm, se, om, oe))
    sl, ol = (np.full(len(sm), np.nan) if v is None else np.asarray(v, np.float64) for v in (sl, ol))
    if not len(sm) == len(se) == len(om) == len(oe) == len(sl) == len(ol):
        raise ValueError("source and output openings must cover the same frames")
    both = np.isfinite(sm) & np.isfinite(om)
    r = lambda a: [round(float(v), 5) for v in a]  # noqa: E731  (NaN stays NaN)
    return ExpressionScores(
        mouth_corr=correlation(sm, om), eye_corr=correlation(se, oe), smile_corr=correlation(sl, ol),
        mouth_error=_mean_abs(sm, om), eye_error=_mean_abs(se, oe),
        blink_agreement=blink_agreement(se, oe), source_blinks=len(blinks(se)), output_blinks=len(blinks(oe)),
        frames=int(both.sum()),
        per_frame={"source_mouth": r(sm), "output_mouth": r(om), "source_eye": r(se), "output_eye": r(oe),
                   "source_lift": r(sl), "output_lift": r(ol)},
    )
