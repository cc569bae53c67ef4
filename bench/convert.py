"""Convert speed: frames/s for 480p and 720p video per model, split by stage. Prints one JSON object.

    .venv/bin/python bench/convert.py [--frames 48] [--models original,lite,hd] [--device auto]
Models are freshly initialised (speed does not depend on training); the faces come from a generated clip,
and from the real clips in ../shared/data/faces when present.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--models", default="original,lite,hd")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    out: dict = {"bench": "convert", "machine": machine(), "device": str(resolve_device(args.device)), "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = {}
        for label, size in (("480p", (854, 480)), ("720p", (1280, 720))):
            clip = make_clip("astronaut", frames=args.frames, size=size, fps=30.0, seed=5)
            clips[f"synthetic_{label}"] = write_clip(work / f"{label}.mp4", clip)
        for path in real_clips()[:1]:
            clips[f"real_{path.stem}"] = path
        for name in args.models.split(","):
            model = fresh_model(name, args.device)
            for label, path in clips.items():
                convert(path, model, work / "warm.png", ConvertConfig(preview=1))  # load graphs, first-call costs
                t0 = time.perf_counter()
                s = convert(path, model, work / f"{name}_{label}.mp4", ConvertConfig())
                dt = time.perf_counter() - t0
                out["results"][f"{name}/{label}"] = {
                    "frames": s.frames, "faces": s.faces_swapped, "frames_per_s": round(s.frames / dt, 2),
                    "ms_per_frame": {k: round(1000 * v / max(s.frames, 1), 1) for k, v in s.stage_seconds.items()},
                }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
