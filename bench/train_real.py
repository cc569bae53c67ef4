"""Training on real faces: A→A and B→B SSIM on held-out faces after a fixed time budget. Prints one JSON object.

    .venv/bin/python bench/train_real.py [--minutes 4 | --steps N] [--model lite] [--precision auto]
                                         [--a woman_d3] [--b man_d19] [--work DIR]
Uses the real talking-head clips in ../shared/data/faces (skips cleanly when absent). Every 5th face of each
clip is held out of training; SSIM is measured on those (whole crop, at the model's size).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import REAL_CLIPS, machine  # noqa: E402

from masquerade.evaluate.run import reconstruction  # noqa: E402
from masquerade.extract import ExtractConfig, extract  # noqa: E402
from masquerade.faceset import FaceSet, FaceTensors  # noqa: E402
from masquerade.models import load_model  # noqa: E402
from masquerade.train import TrainConfig, train  # noqa: E402


class Subset:
    """The training part of a face set: same manifest, only the faces at `keep`."""

    def __init__(self, faceset: FaceSet, keep: list[int]):
        self.manifest, self._fs, self._keep = faceset.manifest, faceset, keep

    def load_tensors(self, size: int) -> FaceTensors:
        t = self._fs.load_tensors(size)
        return FaceTensors(t.faces[self._keep], t.masks[self._keep], t.landmarks[self._keep])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--model", default="lite")
    ap.add_argument("--a", default="woman_d3")
    ap.add_argument("--b", default="man_d19")
    ap.add_argument("--steps", type=int, default=None, help="train exactly this many steps (no time budget)")
    ap.add_argument("--precision", default="auto", help="training precision (auto, fp32, bf16, bf16-math)")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep the face sets here and reuse them in later runs (default: a temp dir); the model is always new")
    args = ap.parse_args()
    clips = {k: REAL_CLIPS / f"{v}.mp4" for k, v in (("a", args.a), ("b", args.b))}
    if not all(p.is_file() for p in clips.values()):
        print(json.dumps({"bench": "train_real", "skipped": f"real clips not found under {REAL_CLIPS}"}))
        return
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.work or Path(scratch)
        sets, held = {}, {}
        for side, clip in clips.items():
            if not (Path(tmp) / side / "faceset.json").is_file():
                extract([clip], Path(tmp) / side, ExtractConfig(size=128, every_nth=2))
            fs = FaceSet.open(Path(tmp) / side)
            held[side] = list(range(0, len(fs), 5))
            sets[side] = (fs, Subset(fs, [i for i in range(len(fs)) if i % 5]))
        deadline = time.perf_counter() + (float("inf") if args.steps else args.minutes * 60)
        t0 = time.perf_counter()
        model_dir = Path(tempfile.mkdtemp(dir=scratch)) / "model"
        result = train(sets["a"][1], sets["b"][1], model_dir,
                       TrainConfig(model=args.model, preview_every=0, save_every=None, save_seconds=None, steps=args.steps,
                                   precision=args.precision),
                       should_stop=lambda: time.perf_counter() > deadline)
        model = load_model(model_dir)
        out = {"bench": "train_real", "machine": machine(), "model": args.model, "clips": {k: str(v.name) for k, v in clips.items()},
               "train_faces": {k: len(v[0]) - len(held[k]) for k, v in sets.items()},
               "held_out_faces": {k: len(v) for k, v in held.items()}, "steps": result.step, "precision": result.precision,
               "seconds": round(time.perf_counter() - t0, 1), "samples_per_s": round(result.samples_per_second, 1),
               "ssim_box7_held_out": {k: round(reconstruction(model, sets[k][0], k, held[k])["ssim_box7"], 3) for k in ("a", "b")}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
