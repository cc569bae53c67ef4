"""Alignment jitter: how much the aligned crop shakes from frame to frame on real clips. Prints one JSON object.

    .venv/bin/python bench/jitter.py [--frames N]

For each real clip in ../shared/data/faces, MediaPipe (video mode, as convert runs it) finds the landmarks
of every frame once; then the crop is fitted on the same landmarks with template v1 (58 points, 32 of them
eyelid contours) and with every template `faces.align.TEMPLATES` still aligns with (v2: 13 rigid points; v3:
190 weighted upper-face points). Jitter is the mean size of the second difference of the crop's four corners
in the frame (acceleration: steady head motion costs nothing, shaking does), in % of the crop's side. It is
reported over all frames and over blink frames (eye openness below 60% of the clip's median, ±2 frames).
A crop that does not move with blinks shakes no more on blink frames than elsewhere:
- `blink_ratio`: blink-frame jitter / other-frame jitter per clip (the mean over clips weighs a clip with one
  blink like one with twenty; man_d19 has a single blink, during which he also moves his head and drops a
  grin, so every point of his face, chin and forehead included, accelerates 2-3x: no crop can score 1 there);
- `blink_ratio_pooled`: every blink frame of every clip counted once, each divided by its own clip's
  other-frame jitter (so a noisy clip does not dominate); the fairer summary.
`smoothed` repeats it after convert's One-Euro filter. `framing_vs_v2`: how far each template's crop sits
from v2's on the same frames (centre offset and side change, % of side; mean of per-clip means, and the
largest per-clip mean). Lower jitter is better. Skips (prints a note in the JSON) when the clips are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, real_clips  # noqa: E402

from masquerade.convert.smoothing import OneEuroFilter  # noqa: E402
from masquerade.faces import create_detector  # noqa: E402
from masquerade.faces.align import (TEMPLATES, V1_INDICES, alignment_matrix, invert, template_points,  # noqa: E402
                                    transform_points, umeyama)
from masquerade.media import read_frames  # noqa: E402

SIZE = 256
CORNERS = np.array([[0, 0], [SIZE, 0], [0, SIZE], [SIZE, SIZE]], np.float64)
V1 = "v1_58_points"
V2 = "mediapipe-mean-v2-rigid"
METHODS = [V1, *TEMPLATES]


def landmarks_of(path: Path, limit: int | None) -> tuple[list[np.ndarray | None], list[float]]:
    detector = create_detector(video=True, max_faces=1)
    marks, times = [], []
    try:
        for frame in read_frames(path):
            if limit and frame.index >= limit:
                break
            found = detector.detect(frame.image)
            marks.append(max(found, key=lambda d: d.size).landmarks.astype(np.float64) if found else None)
            times.append(frame.timestamp)
    finally:
        detector.close()
    return marks, times


def eye_openness(points: np.ndarray) -> float:
    right = np.linalg.norm(points[159] - points[145]) / np.linalg.norm(points[33] - points[133])
    left = np.linalg.norm(points[386] - points[374]) / np.linalg.norm(points[362] - points[263])
    return float((right + left) / 2)


def fit(points: np.ndarray, method: str) -> np.ndarray:
    if method == V1:
        return umeyama(points[V1_INDICES], template_points(SIZE, indices=V1_INDICES))
    return alignment_matrix(points, SIZE, "face", method)


def corner_track(marks: list[np.ndarray], method: str) -> np.ndarray:
    """Per frame: the crop's corners in frame pixels, divided by the crop's side there (N×4×2)."""
    out = []
    for points in marks:
        corners = transform_points(CORNERS, invert(fit(points, method))).astype(np.float64)
        out.append(corners / np.linalg.norm(corners[1] - corners[0]))
    return np.stack(out)


def acceleration(track: np.ndarray) -> np.ndarray:
    """|second difference| of the corners (in % of the crop side) at every middle frame."""
    return np.linalg.norm(track[2:] - 2 * track[1:-1] + track[:-2], axis=2).mean(axis=1) * 100


def framing(marks: list[np.ndarray], method: str) -> tuple[float, float]:
    """Mean centre offset and side change of `method`'s crop against v2's, in % of v2's side."""
    offsets, sides = [], []
    for points in marks:
        a = transform_points(CORNERS, invert(fit(points, method))).astype(np.float64)
        b = transform_points(CORNERS, invert(fit(points, V2))).astype(np.float64)
        side = np.linalg.norm(b[1] - b[0])
        offsets.append(np.linalg.norm(a.mean(0) - b.mean(0)) / side * 100)
        sides.append((np.linalg.norm(a[1] - a[0]) / side - 1) * 100)
    return float(np.mean(offsets)), float(np.mean(sides))


def measure(marks: list[np.ndarray], times: list[float]) -> tuple[dict, dict]:
    """Per-clip results, and per (label/method) the blink frames' jitter relative to the clip's other frames."""
    openness = np.array([eye_openness(p) for p in marks])
    closed = openness < 0.6 * np.median(openness)
    blink = np.convolve(closed.astype(float), np.ones(5), mode="same") > 0
    smoother_marks = []
    smoother = OneEuroFilter(min_cutoff=1.0, beta=0.01)  # convert's defaults
    for points, t in zip(marks, times):
        smoother_marks.append(smoother(points, t))
    result = {"frames": len(marks), "blink_frames": int(blink.sum())}
    relative: dict = {}
    for label, data in (("raw", marks), ("smoothed", smoother_marks)):
        for method in METHODS:
            accel = acceleration(corner_track(data, method))
            on, off = blink[1:-1], ~blink[1:-1]
            every, on_blinks = float(accel.mean()), float(accel[on].mean()) if on.any() else float("nan")
            off_blinks = float(accel[off].mean())
            result[f"{label}/{method}"] = {"jitter_pct": round(every, 4), "blink_jitter_pct": round(on_blinks, 4),
                                           "other_jitter_pct": round(off_blinks, 4),
                                           "blink_ratio": round(on_blinks / off_blinks, 3) if off_blinks else None}
            relative[f"{label}/{method}"] = accel[on] / off_blinks
    for method in METHODS[1:]:
        if method != V2:
            offset, side = framing(marks, method)
            result[f"framing_vs_v2/{method}"] = {"centre_offset_pct": round(offset, 3),
                                                 "side_change_pct": round(side, 3)}
    return result, relative


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=0, help="frames per clip (0: all)")
    args = ap.parse_args()
    out: dict = {"bench": "jitter", "machine": machine(), "unit": "% of crop side per frame^2", "clips": {}}
    clips = real_clips()
    if not clips:
        out["note"] = "no real clips in ../shared/data/faces; nothing measured"
    pooled: dict = {}
    for path in clips:
        marks, times = landmarks_of(path, args.frames or None)
        kept = [(m, t) for m, t in zip(marks, times) if m is not None]  # jitter over runs of found faces
        out["clips"][path.stem], relative = measure([m for m, _ in kept], [t for _, t in kept])
        for key, values in relative.items():
            pooled.setdefault(key, []).append(values)
    for label in ("raw", "smoothed"):
        for method in METHODS:
            key = f"{label}/{method}"
            vals = [c[key] for c in out["clips"].values()]
            if vals:
                mean = {k: round(float(np.mean([v[k] for v in vals])), 4)
                        for k in ("jitter_pct", "blink_jitter_pct", "blink_ratio")}
                mean["blink_ratio_pooled"] = round(float(np.concatenate(pooled[key]).mean()), 3)
                out.setdefault("mean", {})[key] = mean
    for method in METHODS[1:]:
        key = f"framing_vs_v2/{method}"
        vals = [c[key] for c in out["clips"].values() if key in c]
        if vals:
            out.setdefault("mean", {})[key] = {
                "centre_offset_pct": round(float(np.mean([v["centre_offset_pct"] for v in vals])), 3),
                "side_change_pct": round(float(np.mean([v["side_change_pct"] for v in vals])), 3),
                "largest_clip_centre_offset_pct": max(v["centre_offset_pct"] for v in vals),
                "largest_clip_side_change_pct": max((v["side_change_pct"] for v in vals), key=abs)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
