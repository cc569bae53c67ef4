"""Extraction speed. Prints one JSON object.

    .venv/bin/python bench/extract.py [--part all|linear|backends] [--frames 60] [--short 10] [--long 120]

linear:   faces/s on a generated 720p clip of `--long` seconds against one of `--short` seconds at 30 fps.
          Extract's cost per face must not grow with the face set (it appends to a journal instead of
          rewriting alignments.json), so the long clip's rate should be within 10% of the short one's
          (`ratio` = long / short, `within_10pct`). Both clips loop the same 2 s of rendered motion (rendering
          two minutes of 720p frames up front would need ~10 GB), so they cost the same per frame.
backends: faces/s on a 1280x720 and a 480x480 clip per detector backend, and on the real clips in
          ../shared/data/faces when present.
Other processes on a shared machine slow the wall-clock rates unevenly over a long run, so each result also
gives faces per CPU-second of this process (all its threads): `cpu_ratio` is the same comparison made on
work done rather than on time waited, and is the steadier of the two where the CPUs are shared.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, real_clips  # noqa: E402

from masquerade.extract import ExtractConfig, extract  # noqa: E402
from masquerade.faces import detectors  # noqa: E402
from masquerade.media import write_video  # noqa: E402
from masquerade.samples import make_clip, write_clip  # noqa: E402

FPS = 30.0


def measure(clip: Path, backend: str, work: Path, size: int = 256) -> dict:
    out = work / f"{clip.stem}-{backend}"
    t0, c0 = time.perf_counter(), time.process_time()
    s = extract([clip], out, ExtractConfig(size=size, detector=backend))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": s.frames_read, "faces": s.faces_kept, "seconds": round(dt, 2),
            "faces_per_s": round(s.faces_kept / dt, 2), "frames_per_s": round(s.frames_read / dt, 2),
            "cpu_seconds": round(cpu, 2), "faces_per_cpu_s": round(s.faces_kept / cpu, 2)}


def looped_clip(path: Path, seconds: float, motion: list) -> Path:
    """`seconds` of 720p video playing `motion` forwards and backwards (no jump at the seams)."""
    cycle = motion + motion[-2:0:-1]
    count = int(round(seconds * FPS))
    return write_video(path, (cycle[i % len(cycle)] for i in range(count)), FPS)


def linear(work: Path, short: float, long: float) -> dict:
    motion = make_clip("astronaut", frames=int(2 * FPS), size=(1280, 720), fps=FPS, seed=3).frames
    warmup = looped_clip(work / "warmup_720p.mp4", 1.0, motion)
    short_clip = looped_clip(work / "short_720p.mp4", short, motion)
    long_clip = looped_clip(work / "long_720p.mp4", long, motion)
    del motion
    measure(warmup, "mediapipe", work)  # model loading and first-call costs: paid here, not by either clip
    a = measure(short_clip, "mediapipe", work)
    b = measure(long_clip, "mediapipe", work)
    ratio = b["faces_per_s"] / a["faces_per_s"]
    cpu_ratio = b["faces_per_cpu_s"] / a["faces_per_cpu_s"]
    return {f"short_{short:g}s": a, f"long_{long:g}s": b, "ratio": round(ratio, 3), "within_10pct": ratio >= 0.9,
            "cpu_ratio": round(cpu_ratio, 3), "cpu_within_10pct": cpu_ratio >= 0.9}


def backends(work: Path, frames: int) -> dict:
    clips, results = {}, {}
    for w, h in ((1280, 720), (480, 480)):
        clip = make_clip("astronaut", frames=frames, size=(w, h), fps=FPS, seed=3)
        clips[f"synthetic_{w}x{h}"] = write_clip(work / f"synthetic_{w}x{h}.mp4", clip, audio=False)
    for path in real_clips():
        clips[f"real_{path.stem}"] = path
    for backend in sorted(detectors):
        for name, path in clips.items():
            results[f"{backend}/{name}"] = measure(path, backend, work)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("all", "linear", "backends"), default="all")
    ap.add_argument("--frames", type=int, default=60, help="frames of the backend clips")
    ap.add_argument("--short", type=float, default=10.0, help="seconds of the short 720p clip")
    ap.add_argument("--long", type=float, default=120.0, help="seconds of the long 720p clip")
    args = ap.parse_args()
    results: dict = {"bench": "extract", "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "linear"):
            results["linear"] = linear(Path(tmp), args.short, args.long)
        if args.part in ("all", "backends"):
            results["results"] = backends(Path(tmp), args.frames)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
