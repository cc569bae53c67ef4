"""Training speed: samples/s and ms/step for each architecture at the default batch size training takes on the
device (larger on a CUDA GPU: `train.config.batch_and_lr`), and where the time
goes (sampling + augmentation vs forward/backward/optimiser). Prints one JSON object.

    python bench/train.py [--models original,hd,lite] [--steps N] [--precision auto|fp32|bf16|bf16-math]
                          [--compile] [--quality-minutes 5] [--read-window 6]
    python bench/train.py --metrics MODEL/metrics.jsonl   # housekeeping's share of a run's wall time

With `auto` on a CPU with native bf16, fp32, bf16 (weights and activations) and bf16 math are timed step by
step in turn on the same batches, and the fastest is reported (as training's `--precision auto` would pick
it), with every precision's rate and share of its own ceiling beside it. `--quality-minutes` adds `lite`'s
held-out SSIM after that budget on the shared real clips (bench/train_real.py).

Each model also reports `scalar_reads_per_step`: the host reads (`aten::_local_scalar_dense` from the PyTorch
profiler, and `.tolist()`/`.numpy()`) per step over `--read-window` plain steps as training runs them, and
`scalar_reads_housekeeping_step` for one step with the guard's check point; CPU Adam's reads of its own step
counters (host memory, none in CUDA's fused Adam) are reported apart. Counts do not depend on the load.

Samples count A and B faces (a batch of 16 per side is 32 samples). Synthetic uint8 faces on the device;
the numbers do not depend on pixel content. On a shared CPU they are noisy: the JSON records the load.

Machines differ 2-3x, so each model's rate comes with `share_of_gemm_ceiling`: the median over steps of the
step's achieved GFLOP/s over a 2048 x 2048 matmul's (best of two) timed just before it, in the same precision
(fp32, or bf16 for bf16 and bf16 math). `original` at batch 16/side should reach 0.85 of it on any CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import gemm_probe  # noqa: E402

from masquerade.models import build_model, model_cost  # noqa: E402
from masquerade.train.augment import AugmentSettings, augment, sample_indices  # noqa: E402
from masquerade.train.autotune import CANDIDATES  # noqa: E402
from masquerade.train.config import TrainConfig, batch_and_lr, native_bf16, resolve_precision  # noqa: E402
from masquerade.train.checkpoint import TrainingState  # noqa: E402
from masquerade.train.guard import Guard  # noqa: E402
from masquerade.train.host_reads import counting_host_reads  # noqa: E402
from masquerade.train.lazy_stats import read_all  # noqa: E402
from masquerade.train.sampling import weighted_indices  # noqa: E402
from masquerade.train.step import StepRunner  # noqa: E402

DEFAULT_STEPS = {"original": 3, "hd": 1, "lite": 15}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_model(name: str, device: torch.device, steps: int, precisions: list[str], compile_: bool,
                read_window: int = 6) -> dict:
    """Time each precision's step on the same batches, interleaved step by step (the load of a shared box hits
    all alike), each beside a GEMM probe in its own arithmetic. Returns one result per precision label."""
    cost = model_cost(build_model(name))
    runs = {}
    for precision in precisions:
        cfg = TrainConfig(model=name, device=device.type, precision=precision, compile=compile_)
        plan = resolve_precision(precision, device)
        if plan.label in runs:  # e.g. auto on a CPU without bf16 is fp32
            continue
        torch.manual_seed(0)
        net = build_model(name).to(device)
        if plan.channels_last:
            net = net.to(memory_format=torch.channels_last)
        runs[plan.label] = {"plan": plan, "runner": StepRunner(net, cfg, device, plan, plan.channels_last),
                            "probe": gemm_probe(device.type, "float32" if plan.label == "fp32" else "bfloat16"),
                            "t_data": 0.0, "t_step": 0.0, "first": None, "ceilings": [], "shares": []}
    batch, s = batch_and_lr(cfg, type(net.config), device)[0], net.config.size
    gen = torch.Generator().manual_seed(0)
    bank = (torch.rand(64, 5, s, s, generator=gen) * 255).to(torch.uint8).to(device)
    aug = AugmentSettings()
    step_gflop = cost["gflop_train"] * 2 * batch
    for i in range(steps + 1):  # step 0 is warm-up (allocations, compile)
        for run in runs.values():
            ceiling = max(run["probe"](), run["probe"]())
            t0 = time.perf_counter()
            a = augment(bank[sample_indices(64, batch, gen).to(device)], gen, aug)
            b = augment(bank[sample_indices(64, batch, gen).to(device)], gen, aug)
            _sync(device)
            t1 = time.perf_counter()
            run["runner"].step(a, b, 1e-4, gan_on=False)
            _sync(device)
            t2 = time.perf_counter()
            if i == 0:
                run["first"] = t2 - t0
                continue
            run["t_data"] += t1 - t0
            run["t_step"] += t2 - t1
            run["ceilings"].append(ceiling)
            run["shares"].append(step_gflop / (t2 - t0) / ceiling)
    out = {}
    for label, run in runs.items():
        run["reads"] = host_reads(run["runner"], bank, gen, batch, read_window) if read_window else {}
        t_data, t_step, shares = run["t_data"], run["t_step"], run["shares"]
        per_step = (t_data + t_step) / steps
        out[label] = {
            "batch_per_side": batch, "size": s, "steps_timed": steps,
            "samples_per_s": round(2 * batch / per_step, 2), "ms_per_step": round(per_step * 1000, 1),
            "ms_data_augment": round(t_data / steps * 1000, 1), "ms_forward_backward_opt": round(t_step / steps * 1000, 1),
            "data_share": round(t_data / (t_data + t_step), 4), "first_step_s": round(run["first"], 2),
            "params_m": round(cost["params"] / 1e6, 2), "gflop_train_per_sample": round(cost["gflop_train"], 2),
            "achieved_gflop_s": round(step_gflop / per_step, 1),
            "gemm_ceiling_gflop_s": round(statistics.median(run["ceilings"]), 1),
            "share_of_gemm_ceiling": round(statistics.median(shares), 3),
            "share_of_gemm_ceiling_range": [round(min(shares), 3), round(max(shares), 3)],
            "precision": label, "channels_last": run["plan"].channels_last, "compile": compile_, **run["reads"],
        }
    return out


def host_reads(runner: StepRunner, bank: torch.Tensor, gen: torch.Generator, batch: int, window: int) -> dict:
    """Host reads per step (`train/host_reads.py`) over `window` plain steps as training runs them (balanced
    sampling, augmentation, the step; losses left on the device), and apart, in one housekeeping step: the
    guard's check point (the losses of the window read in one go, the weights checked finite, a good copy)."""
    weights = torch.full((len(bank),), 1.0 / len(bank), dtype=torch.float64)

    def one_step():
        a, b = (augment(bank[weighted_indices(weights, batch, gen, len(bank)).to(bank.device)], gen)
                for _ in range(2))
        return runner.step(a, b, 1e-4, gan_on=False)

    guard = Guard(TrainingState(runner.net, runner.opt, gen), 0)
    one_step()  # warm-up, outside the count
    with counting_host_reads() as plain:
        stats = [one_step() for _ in range(window)]
    with counting_host_reads() as check:
        stats.append(one_step())
        read_all(stats)
        for i, s in enumerate(stats):
            guard.check(i + 1, s)
        if guard.weights_finite():
            guard.remember(len(stats))
    return {"scalar_reads_per_step": round(plain.total / window, 3), "read_window_steps": window,
            "scalar_reads_housekeeping_step": check.total,
            # CPU only: every torch Adam reads its step counters from host memory (CUDA's fused one does not)
            "adam_counter_reads_per_step": round(plain.adam_counters / window, 3)}


def housekeeping_share(metrics: Path) -> dict:
    """Housekeeping's share of the wall time of a training run, from its metrics.jsonl (the `wall_s` and
    `housekeeping_s` of each preview line; lines of older runs have none and are skipped)."""
    lines = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln.strip()]
    timed = [ln for ln in lines if "wall_s" in ln and "housekeeping_s" in ln]
    wall, hk = sum(ln["wall_s"] for ln in timed), sum(ln["housekeeping_s"] for ln in timed)
    return {"metrics": str(metrics), "lines": len(timed), "wall_s": round(wall, 2), "housekeeping_s": round(hk, 2),
            "housekeeping_share": round(hk / wall, 4) if wall else None}


def _quality(minutes: float) -> dict:
    """bench/train_real.py's JSON for `lite` after `minutes` (its own process: a clean thread pool and RNG)."""
    script = Path(__file__).parent / "train_real.py"
    done = subprocess.run([sys.executable, str(script), "--minutes", str(minutes), "--model", "lite"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout[done.stdout.index("{"):])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="original,hd,lite")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per model (default: per-model)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--quality-minutes", type=float, default=0.0,
                    help="also train lite this long on the shared real clips (bench/train_real.py, precision "
                         "auto) and report its held-out SSIM; 0 = skip")
    ap.add_argument("--read-window", type=int, default=6,
                    help="plain steps over which host reads are counted per model (0: skip the count)")
    ap.add_argument("--metrics", type=Path, default=None,
                    help="only report housekeeping's share of the wall time of a run from its metrics.jsonl")
    args = ap.parse_args()
    if args.metrics:
        print(json.dumps(housekeeping_share(args.metrics), indent=1))
        return
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.expanduser("~/.cache/masquerade/inductor"))
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    out: dict = {
        "bench": "train", "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_avg_before": os.getloadavg()[0], "results": {},
    }
    for device in devices:
        res = {}
        # On a CPU with native bf16, `auto` times the candidates at run time (train/autotune.py): measure
        # them all here, interleaved, so the JSON shows what it chooses between.
        both = args.precision == "auto" and device.type == "cpu" and native_bf16(device)
        precisions = [c.label for c in CANDIDATES] if both else [args.precision]
        for name in args.models.split(","):
            steps = args.steps or DEFAULT_STEPS.get(name, 3) * (10 if device.type == "cuda" else 1)
            runs = bench_model(name, device, steps, precisions, args.compile, args.read_window)
            best = max(runs.values(), key=lambda r: r["samples_per_s"])
            res[name] = {**best, "scalar_reads_per_step_by_precision": {
                             k: r.get("scalar_reads_per_step") for k, r in runs.items()},
                         "samples_per_s_by_precision": {k: r["samples_per_s"] for k, r in runs.items()},
                         "share_of_gemm_ceiling_by_precision": {k: r["share_of_gemm_ceiling"] for k, r in runs.items()},
                         "gemm_ceiling_gflop_s_by_precision": {k: r["gemm_ceiling_gflop_s"] for k, r in runs.items()}}
        out["results"][device.type] = res
    if args.quality_minutes:
        out["quality_lite"] = _quality(args.quality_minutes)
    out["load_avg_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
