"""Extraction speed: faces/s on a 1280x720 and a 480x480 clip, per detector backend. Prints one JSON object.

    .venv/bin/python bench/extract.py [--frames 60]
Synthetic clips are always measured; the real clips in ../shared/data/faces are added when present.
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
from masquerade.samples import make_clip, write_clip  # noqa: E402


def measure(clip: Path, backend: str, work: Path) -> dict:
    out = work / f"{clip.stem}-{backend}"
    t0 = time.perf_counter()
    s = extract([clip], out, ExtractConfig(size=256, detector=backend))
    dt = time.perf_counter() - t0
    return {"frames": s.frames_read, "faces": s.faces_kept, "seconds": round(dt, 2),
            "faces_per_s": round(s.faces_kept / dt, 1), "frames_per_s": round(s.frames_read / dt, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    results: dict = {"bench": "extract", "machine": machine(), "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = {}
        for w, h in ((1280, 720), (480, 480)):
            clip = make_clip("astronaut", frames=args.frames, size=(w, h), fps=30.0, seed=3)
            clips[f"synthetic_{w}x{h}"] = write_clip(work / f"synthetic_{w}x{h}.mp4", clip, audio=False)
        for path in real_clips():
            clips[f"real_{path.stem}"] = path
        for backend in sorted(detectors):
            for name, path in clips.items():
                results["results"][f"{backend}/{name}"] = measure(path, backend, work)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
