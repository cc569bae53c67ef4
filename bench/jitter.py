"""Alignment jitter: how much the aligned crop shakes from frame to frame on real clips. Prints one JSON object.

    .venv/bin/python bench/jitter.py [--frames N]

For each real clip in ../shared/data/faces, MediaPipe (video mode, as convert runs it) finds the landmarks
of every frame once; then the crop is fitted two ways on the same landmarks: template v1 (58 points, 32 of
them eyelid contours) and the current rigid fit (`faces.align.RIGID_POINTS`). Jitter is the mean size of
the second difference of the crop's four corners in the frame (acceleration: steady head motion costs
nothing, shaking does), in % of the crop's side. It is reported over all frames and over blink frames
(eye openness below 60% of the clip's median, ±2 frames); a crop that does not move with blinks shakes no
more on blink frames than elsewhere (`blink_ratio` near 1). `smoothed` repeats it after convert's One-Euro
filter. Lower is better. Skips (prints a note in the JSON) when the clips are absent.
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
from masquerade.faces.align import ALIGN_INDICES, V1_INDICES, invert, template_points, transform_points, umeyama  # noqa: E402
from masquerade.media import read_frames  # noqa: E402

SIZE = 256
CORNERS = np.array([[0, 0], [SIZE, 0], [0, SIZE], [SIZE, SIZE]], np.float64)


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


def corner_track(marks: list[np.ndarray], indices: np.ndarray) -> np.ndarray:
    """Per frame: the crop's corners in frame pixels, divided by the crop's side there (N×4×2)."""
    template = template_points(SIZE, indices=indices)
    out = []
    for points in marks:
        matrix = umeyama(points[indices], template)
        corners = transform_points(CORNERS, invert(matrix)).astype(np.float64)
        out.append(corners / np.linalg.norm(corners[1] - corners[0]))
    return np.stack(out)


def jitter(track: np.ndarray, frames: np.ndarray) -> float:
    """Mean |second difference| of the corners (in % of the crop side) at the given middle frames."""
    accel = np.linalg.norm(track[2:] - 2 * track[1:-1] + track[:-2], axis=2).mean(axis=1) * 100
    keep = frames[1:-1]
    return float(accel[keep].mean()) if keep.any() else float("nan")


def measure(marks: list[np.ndarray], times: list[float]) -> dict:
    openness = np.array([eye_openness(p) for p in marks])
    closed = openness < 0.6 * np.median(openness)
    blink = np.convolve(closed.astype(float), np.ones(5), mode="same") > 0
    smoother_marks = []
    smoother = OneEuroFilter(min_cutoff=1.0, beta=0.01)  # convert's defaults
    for points, t in zip(marks, times):
        smoother_marks.append(smoother(points, t))
    result = {"frames": len(marks), "blink_frames": int(blink.sum())}
    for label, data in (("raw", marks), ("smoothed", smoother_marks)):
        for name, indices in (("v1_58_points", V1_INDICES), ("rigid", ALIGN_INDICES)):
            track = corner_track(data, indices)
            every = jitter(track, np.ones(len(data), bool))
            on_blinks = jitter(track, blink)
            off_blinks = jitter(track, ~blink)
            result[f"{label}/{name}"] = {"jitter_pct": round(every, 4), "blink_jitter_pct": round(on_blinks, 4),
                                         "other_jitter_pct": round(off_blinks, 4),
                                         "blink_ratio": round(on_blinks / off_blinks, 3) if off_blinks else None}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=0, help="frames per clip (0: all)")
    args = ap.parse_args()
    out: dict = {"bench": "jitter", "machine": machine(), "unit": "% of crop side per frame^2", "clips": {}}
    clips = real_clips()
    if not clips:
        out["note"] = "no real clips in ../shared/data/faces; nothing measured"
    for path in clips:
        marks, times = landmarks_of(path, args.frames or None)
        kept = [(m, t) for m, t in zip(marks, times) if m is not None]  # jitter over runs of found faces
        out["clips"][path.stem] = measure([m for m, _ in kept], [t for _, t in kept])
    for label in ("raw", "smoothed"):
        for name in ("v1_58_points", "rigid"):
            key = f"{label}/{name}"
            vals = [c[key] for c in out["clips"].values()]
            if vals:
                out.setdefault("mean", {})[key] = {k: round(float(np.mean([v[k] for v in vals])), 4)
                                                   for k in ("jitter_pct", "blink_jitter_pct", "blink_ratio")}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
