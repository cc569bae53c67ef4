"""Training speed: samples/s and ms/step for each architecture at its default batch size, and where the time
goes (sampling + augmentation vs forward/backward/optimiser). Prints one JSON object.

    python bench/train.py [--models original,hd,lite] [--steps N] [--precision auto|fp32|bf16] [--compile]

With `auto` on a CPU with native bf16, both fp32 and bf16 math are timed and the faster is reported (as
training's `--precision auto` would pick it), with both rates beside it.

Samples count A and B faces (a batch of 16 per side is 32 samples). Synthetic uint8 faces on the device;
the numbers do not depend on pixel content. On a shared CPU they are noisy: the JSON records the load.

Machines differ 2-3x, so each model's rate comes with `share_of_gemm_ceiling`: the median over steps of the
step's achieved GFLOP/s over a 2048 x 2048 matmul's (best of two) timed just before it, in the same precision
(fp32, or bf16 for bf16 math). `original` at batch 16/side should reach 0.85 of it on any CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import gemm_probe  # noqa: E402

from masquerade.models import build_model, model_cost  # noqa: E402
from masquerade.train.augment import AugmentSettings, augment, sample_indices  # noqa: E402
from masquerade.train.config import TrainConfig, resolve_precision  # noqa: E402
from masquerade.train.step import StepRunner  # noqa: E402

DEFAULT_STEPS = {"original": 3, "hd": 1, "lite": 15}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_model(name: str, device: torch.device, steps: int, precision: str, compile_: bool) -> dict:
    cfg = TrainConfig(model=name, device=device.type, precision=precision, compile=compile_)
    net = build_model(name).to(device)
    cost = model_cost(build_model(name))
    plan = resolve_precision(precision, device)
    probe = gemm_probe(device.type, "float32" if plan.label == "fp32" else "bfloat16")
    channels_last = plan.channels_last
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    runner = StepRunner(net, cfg, device, plan, channels_last)
    batch, s = type(net.config).default_batch_size, net.config.size
    gen = torch.Generator().manual_seed(0)
    bank = (torch.rand(64, 5, s, s, generator=gen) * 255).to(torch.uint8).to(device)
    aug = AugmentSettings()
    t_data = t_step = 0.0
    first_step_s = None
    ceilings, shares = [], []
    step_gflop = cost["gflop_train"] * 2 * batch
    for i in range(steps + 1):  # step 0 is warm-up (allocations, compile)
        ceiling = max(probe(), probe())
        t0 = time.perf_counter()
        a = augment(bank[sample_indices(64, batch, gen).to(device)], gen, aug)
        b = augment(bank[sample_indices(64, batch, gen).to(device)], gen, aug)
        _sync(device)
        t1 = time.perf_counter()
        runner.step(a, b, 1e-4, gan_on=False)
        _sync(device)
        t2 = time.perf_counter()
        if i == 0:
            first_step_s = t2 - t0
            continue
        t_data += t1 - t0
        t_step += t2 - t1
        ceilings.append(ceiling)
        shares.append(step_gflop / (t2 - t0) / ceiling)
    per_step = (t_data + t_step) / steps
    achieved = step_gflop / per_step
    return {
        "batch_per_side": batch, "size": s, "steps_timed": steps,
        "samples_per_s": round(2 * batch / per_step, 2), "ms_per_step": round(per_step * 1000, 1),
        "ms_data_augment": round(t_data / steps * 1000, 1), "ms_forward_backward_opt": round(t_step / steps * 1000, 1),
        "data_share": round(t_data / (t_data + t_step), 4), "first_step_s": round(first_step_s, 2),
        "params_m": round(cost["params"] / 1e6, 2), "gflop_train_per_sample": round(cost["gflop_train"], 2),
        "achieved_gflop_s": round(achieved, 1), "gemm_ceiling_gflop_s": round(statistics.median(ceilings), 1),
        "share_of_gemm_ceiling": round(statistics.median(shares), 3),
        "share_of_gemm_ceiling_range": [round(min(shares), 3), round(max(shares), 3)],
        "precision": plan.label, "channels_last": channels_last, "compile": compile_,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="original,hd,lite")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per model (default: per-model)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.expanduser("~/.cache/masquerade/inductor"))
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    out: dict = {
        "bench": "train", "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_avg_before": os.getloadavg()[0], "results": {},
    }
    for device in devices:
        res = {}
        # On a CPU with native bf16, `auto` times fp32 against bf16 math at run time (train/autotune.py):
        # measure both so the JSON shows what it chooses between.
        both = args.precision == "auto" and resolve_precision("auto", device).cpu_bf16_math
        for name in args.models.split(","):
            steps = args.steps or DEFAULT_STEPS.get(name, 3) * (10 if device.type == "cuda" else 1)
            if both:
                runs = {p: bench_model(name, device, steps, p, args.compile) for p in ("fp32", "bf16")}
                res[name] = {**max(runs.values(), key=lambda r: r["samples_per_s"]),
                             "samples_per_s_by_precision": {r["precision"]: r["samples_per_s"] for r in runs.values()}}
            else:
                res[name] = bench_model(name, device, steps, args.precision, args.compile)
        out["results"][device.type] = res
    out["load_avg_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
