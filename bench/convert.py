"""Convert speed: frames/s for 480p and 720p video per model, split by stage. Prints one JSON object.

    .venv/bin/python bench/convert.py [--frames 48] [--models original,lite,hd] [--device auto] [--repeats 1]
Models are freshly initialised (speed does not depend on training); the faces come from a generated clip,
and from the real clips in ../shared/data/faces when present (all of them, at their own size).

Each clip is converted with the sequential frame loop and with the staged one (`--pipeline`, the default),
alternating `--repeats` times, so both see the same load on a shared machine; `pipeline_speedup` is the
ratio of their summed frames/s, and `loadavg` (1, 5, 15 min, before and after) says how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, real_clips  # noqa: E402

from masquerade.convert import ConvertConfig, convert  # noqa: E402
from masquerade.faces.align import TEMPLATE_NAME  # noqa: E402
from masquerade.models import build_model, resolve_device  # noqa: E402
from masquerade.models.manifest import ModelManifest  # noqa: E402
from masquerade.models.store import SwapModel  # noqa: E402
from masquerade.samples import make_clip, write_clip  # noqa: E402


def fresh_model(name: str, device: str) -> SwapModel:
    net = build_model(name)
    return SwapModel(net, ModelManifest.for_net(name, net.config, TEMPLATE_NAME, "face"), "b3c0" * 16,
                     resolve_device(device))


def timed(path: Path, model: SwapModel, output: Path, frames: int, staged: bool) -> dict:
    """One conversion of the clip's first `frames` frames: frames/s and ms per frame by stage (the stages of
    the staged loop overlap, so its stage times add up to more than its wall time)."""
    t0 = time.perf_counter()
    s = convert(path, model, output, ConvertConfig(pipeline=staged), max_frames=frames)
    dt = time.perf_counter() - t0
    return {"frames": s.frames, "faces": s.faces_swapped, "frames_per_s": round(s.frames / dt, 2),
            "ms_per_frame": {k: round(1000 * v / max(s.frames, 1), 1) for k, v in s.stage_seconds.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--models", default="original,lite,hd")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=1, help="sequential/staged pairs per clip, interleaved")
    args = ap.parse_args()
    out: dict = {"bench": "convert", "machine": machine(), "device": str(resolve_device(args.device)),
                 "loadavg_before": [round(v, 2) for v in os.getloadavg()], "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = {}
        for label, size in (("480p", (854, 480)), ("720p", (1280, 720))):
            clip = make_clip("astronaut", frames=args.frames, size=size, fps=30.0, seed=5)
            clips[f"synthetic_{label}"] = write_clip(work / f"{label}.mp4", clip)
        for path in real_clips():
            clips[f"real_{path.stem}"] = path
        for name in args.models.split(","):
            model = fresh_model(name, args.device)
            for label, path in clips.items():
                convert(path, model, work / "warm.png", ConvertConfig(preview=1))  # load graphs, first-call costs
                runs = {False: [], True: []}
                for _ in range(args.repeats):
                    for staged in (False, True):
                        runs[staged].append(timed(path, model, work / f"{name}_{label}.mp4", args.frames, staged))
                out["results"][f"{name}/{label}"] = {
                    "sequential": runs[False], "pipeline": runs[True],
                    "pipeline_speedup": round(sum(r["frames_per_s"] for r in runs[True])
                                              / max(sum(r["frames_per_s"] for r in runs[False]), 1e-9), 3)}
    out["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    ratios = [r["pipeline_speedup"] for r in out["results"].values()]
    out["pipeline_speedup_geomean"] = round(math.prod(ratios) ** (1 / len(ratios)), 3) if ratios else None
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
