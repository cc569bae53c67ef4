"""Warm starts measured (issue 15, item 5): steps to a held-out SSIM target from scratch vs `--init-from`.

    .venv/bin/python bench/warmstart.py [--steps 1200] [--source-steps 1500] [--every 100] [--target 0.85]
        [--model lite] [--init-decoders] [--faces DIR] [--work DIR] [--threads N]

Prints ONE JSON object; prints {"skipped": ...} when ../shared/data/faces is absent. Steps:
1. extract woman_d10, woman_d3 and man_d19 at 256 px (or reuse them from `--faces`);
2. train a source model on woman_d10 ↔ man_d19 for `--source-steps`;
3. train the pair woman_d3 ↔ man_d19 for `--steps`, once from scratch and once `--init-from` the source
   (shared encoder + bottleneck; the decoders too with `--init-decoders`), same seed, same settings;
4. from each run's metrics.jsonl (held-out SSIM at the model's size every `--every` steps): the first step at
   which the mean of A→A and B→B reaches `--target`, the first at which both sides do, and the best reached
   and when, plus the whole curves.

Why this pair as the source: the user's common case is a new source face onto a destination they have
trained before (DeepFaceLab's users keep a model per destination and reuse it). man_d19 is in both pairs,
so the source model is trained on the same training split of man_d19 as the target pair (the held-out split
is by file-name hash, identical in both runs): its held-out B faces stay unseen, and the B curve stays honest.
By default only the shared parts are copied (what any other pair could give); `--init-decoders` also copies
the decoders, B's of which already renders man_d19.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import REAL_CLIPS, face_sets, machine  # noqa: E402


def curve(metrics: Path) -> list[dict]:
    """[{step, a, b}] from a model folder's metrics.jsonl (lines with the held-out training-window SSIM of both
    sides), read by the log's one reader, which also reads the key names of older logs."""
    from masquerade.train.curves import read_metrics

    keys = ("val_ssim_gauss11_a", "val_ssim_gauss11_b")
    return [{"step": row["step"], "a": row[keys[0]], "b": row[keys[1]]} for row in read_metrics(metrics)
            if all(k in row for k in keys) and "event" not in row]


def summary(points: list[dict], target: float) -> dict:
    mean = [(p["step"], (p["a"] + p["b"]) / 2) for p in points]
    first_mean = next((s for s, v in mean if v >= target), None)
    first_both = next((p["step"] for p in points if min(p["a"], p["b"]) >= target), None)
    best_step, best = max(mean, key=lambda t: t[1]) if mean else (None, None)
    return {"steps_to_target_mean": first_mean, "steps_to_target_both": first_both,
            "best_mean": None if best is None else round(best, 4), "best_at": best_step,
            "final": points[-1] if points else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1200, help="steps of each target-pair run")
    ap.add_argument("--source-steps", type=int, default=1500, help="steps of the source model (woman_d10 ↔ man_d19)")
    ap.add_argument("--every", type=int, default=100, help="steps between held-out scores")
    ap.add_argument("--target", type=float, default=0.85, help="held-out SSIM to reach (model size)")
    ap.add_argument("--model", default="lite")
    ap.add_argument("--init-decoders", action="store_true", help="copy the source's decoders too")
    ap.add_argument("--faces", type=Path, default=None, help="extract face sets here once and reuse them")
    ap.add_argument("--work", type=Path, default=None, help="keep the models here (default: a temporary folder)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared CPU)")
    args = ap.parse_args()
    names = {"source_a": "woman_d10", "a": "woman_d3", "b": "man_d19"}
    clips = {k: REAL_CLIPS / f"{v}.mp4" for k, v in names.items()}
    if not all(p.is_file() for p in clips.values()):
        print(json.dumps({"bench": "warmstart", "skipped": f"real clips not found under {REAL_CLIPS}"}))
        return

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from masquerade.train import TrainConfig, train

    scratch = tempfile.TemporaryDirectory()
    work = args.work or Path(scratch.name)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sets = face_sets(clips, args.faces or work)
    out: dict = {"bench": "warmstart", "machine": machine(), "model": args.model, "pairs": {
        "source": f"{names['source_a']} <-> {names['b']}", "target": f"{names['a']} <-> {names['b']}"},
        "steps": args.steps, "source_steps": args.source_steps, "every": args.every, "target_ssim": args.target,
        "init_decoders": args.init_decoders, "load_average": [round(v, 1) for v in __import__("os").getloadavg()],
        "note": "held-out SSIM at the model's size, the curve train logs; default training settings (plan auto) in both runs"}

    def run(name: str, a, b, steps: int, **extra) -> dict:
        folder = work / name
        t = time.perf_counter()
        config = TrainConfig(model=args.model, steps=steps, preview_every=args.every, save_every=None, save_seconds=None, seed=0,
                             threads=args.threads, **extra)
        result = train(a, b, folder, config)
        return {"folder": folder, "steps": result.step, "seconds": round(time.perf_counter() - t, 1),
                "samples_per_s": round(result.samples_per_second, 1), "notes": list(result.notes)}

    source = run("source", sets["source_a"], sets["b"], args.source_steps)
    out["source"] = {k: v for k, v in source.items() if k != "folder"}
    out["source"]["held_out"] = summary(curve(source["folder"] / "metrics.jsonl"), args.target)
    for name, extra in (("scratch", {}), ("warm", {"init_from": str(source["folder"]), "init_decoders": args.init_decoders})):
        r = run(name, sets["a"], sets["b"], args.steps, **extra)
        points = curve(r["folder"] / "metrics.jsonl")
        out[name] = {**{k: v for k, v in r.items() if k != "folder"}, **summary(points, args.target), "curve": points}
    s, w = out["scratch"]["steps_to_target_mean"], out["warm"]["steps_to_target_mean"]
    out["speedup_to_target"] = round(s / w, 2) if s and w else None
    # Where the target is out of reach in the budget: when the warm start first matched scratch's best.
    best, best_at = out["scratch"]["best_mean"], out["scratch"]["best_at"]
    hit = next((p["step"] for p in out["warm"]["curve"] if best is not None and (p["a"] + p["b"]) / 2 >= best), None)
    out["warm_steps_to_scratch_best"] = hit
    out["speedup_to_scratch_best"] = round(best_at / hit, 2) if hit and best_at else None
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1, default=str))
    if args.work is None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
