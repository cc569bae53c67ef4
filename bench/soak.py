"""Soak: SIGKILL `masquerade train` and `masquerade convert` at random points; count what survives. Prints one
JSON object.

    .venv/bin/python bench/soak.py [--kills 30] [--steps 60] [--convert-kills 8] [--frames 60] [--seed 1]

train: a tiny model folder (32 px `lite`, started in the earlier layout so migration is killed too) is
trained to `--steps` with `--save-every 1 --keep 2`, killed `--kills` times (mostly 0-40 ms after a random
1-3 further saves, one in five at a random moment of start-up) and resumed each time. Reported: kills,
resumes that succeeded, snapshots found corrupt after any kill (must be 0), bytes of partial files left
after the final clean run (must be 0), and whether the final weights equal an uninterrupted run's.
convert: a generated clip is converted with that model and killed mid-video; reported: outputs found at
the final path after a kill (must be 0), leftover bytes after the next complete run (must be 0).
Everything runs in a temp folder with its own MASQUERADE_HOME (signing keys); CPU only, one thread per
process. Other agents may load the machine: times are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

MICRO = dict(size=32, e_dims=8, ae_dims=32, d_dims=8)


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MASQUERADE_HOME": str(home)}


def _partial_bytes(folder: Path) -> int:
    from masquerade.outputs import is_partial

    total = 0
    for p in folder.rglob("*"):
        if is_partial(p) and p.is_file():
            total += p.stat().st_size
        elif is_partial(p) and p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


def _newest(model_dir: Path) -> int:
    from masquerade.models.store import list_snapshots

    try:
        return max((s for s, _, _ in list_snapshots(model_dir)), default=0)
    except FileNotFoundError:
        return 0


def _corrupt(model_dir: Path, seen: set[str]) -> int:
    """Snapshots (either layout) whose files do not verify; each counted once over the whole soak."""
    from masquerade.models.store import DamagedSnapshot, list_snapshots, verify_snapshot

    bad = 0
    for step, path, legacy in list_snapshots(model_dir):
        try:
            verify_snapshot(path, step, legacy, need_state=True)
        except (DamagedSnapshot, FileNotFoundError):
            key = f"{path}:{step}"
            if key not in seen:
                seen.add(key)
                bad += 1
    return bad


def _setup(work: Path, env: dict[str, str]) -> tuple[Path, Path, Path]:
    """Two face sets from generated clips, and a 1-step micro model in the earlier layout."""
    os.environ["MASQUERADE_HOME"] = env["MASQUERADE_HOME"]
    from masquerade.extract import ExtractConfig, extract
    from masquerade.models.store import find_snapshot
    from masquerade.samples import make_clip, write_clip
    from masquerade.train import TrainConfig, train

    sets = []
    for name, seed in (("astronaut", 1), ("grace_hopper", 2)):
        clip = write_clip(work / f"{name}.mp4", make_clip(name, frames=24, seed=seed))
        sets.append(work / f"fs_{name}")
        extract([clip], sets[-1], ExtractConfig(size=128))
    first = work / "first"
    train(sets[0], sets[1], first, TrainConfig(model="lite", model_options=dict(MICRO), batch_size=4, steps=1,
                                               device="cpu", precision="fp32", save_every=1, preview_every=0))
    seed = work / "seed"
    seed.mkdir()
    for f in find_snapshot(first, need_state=True).path.iterdir():
        shutil.copyfile(f, seed / f.name)
    return sets[0], sets[1], seed


def soak_train(fs_a: Path, fs_b: Path, seed: Path, work: Path, env: dict, kills_wanted: int, steps: int,
               rng: random.Random) -> dict:
    from safetensors.torch import load_file

    from masquerade.models.store import find_snapshot

    def cmd(model_dir: Path) -> list[str]:
        return [sys.executable, "-m", "masquerade", "train", str(fs_a), str(fs_b), "-o", str(model_dir),
                "--steps", str(steps), "--save-every", "1", "--keep", "2", "--batch-size", "4",
                "--precision", "fp32", "--device", "cpu", "--preview-every", "0"]

    reference, crashed = shutil.copytree(seed, work / "reference"), shutil.copytree(seed, work / "crashed")
    t0 = time.perf_counter()
    ref = subprocess.run(cmd(reference), env=env, capture_output=True, text=True)
    if ref.returncode:
        raise SystemExit(f"uninterrupted run failed:\n{ref.stderr[-2000:]}")
    uninterrupted_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    seen: set[str] = set()
    kills = landed = launches = failed = corrupt = lost = max_partial = 0
    high = _newest(crashed)
    errors: list[str] = []
    while launches < 4 * kills_wanted + 10:
        launches += 1
        proc = subprocess.Popen(cmd(crashed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if kills < kills_wanted:
            kills += 1
            if rng.random() < 0.2:
                deadline, target = time.monotonic() + rng.uniform(0.05, 2.0), None
            else:
                deadline, target = time.monotonic() + 300, _newest(crashed) + rng.randint(1, 3)
            while proc.poll() is None and time.monotonic() < deadline:
                if target is not None and _newest(crashed) >= target:
                    time.sleep(rng.uniform(0, 0.04))
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            landed += 1
        elif proc.returncode != 0:
            failed += 1
            errors.append(err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}")
        corrupt += _corrupt(crashed, seen)
        max_partial = max(max_partial, _partial_bytes(crashed))
        newest = _newest(crashed)
        lost += newest < high
        high = max(high, newest)
        if proc.returncode == 0 and newest == steps and kills >= kills_wanted:
            break
    a = load_file(str(find_snapshot(reference).weights))
    b = load_file(str(find_snapshot(crashed).weights))
    diff = max(float((a[k] - b[k]).abs().max()) for k in a) if a.keys() == b.keys() else float("inf")
    return {
        "steps": steps, "kills_tried": kills, "kills_landed": landed, "launches": launches,
        "resumes_succeeded": launches - failed, "resumes_failed": failed,  # every launch resumes the folder
        "failures": errors[:3], "snapshots_corrupt": corrupt, "snapshot_steps_lost": lost,
        "partial_bytes_max_between_kills": max_partial, "bytes_left_behind": _partial_bytes(crashed),
        "final_step": _newest(crashed), "final_max_abs_diff_vs_uninterrupted": diff,
        "uninterrupted_s": round(uninterrupted_s, 1), "soak_s": round(time.perf_counter() - t0, 1),
    }


def soak_convert(model_dir: Path, work: Path, env: dict, kills_wanted: int, frames: int, rng: random.Random) -> dict:
    from masquerade.samples import make_clip, write_clip

    clip = write_clip(work / "clip.mp4", make_clip("astronaut", frames=frames, size=(640, 360), fps=30.0, seed=7))
    out_dir = work / "converted"
    out_dir.mkdir()

    def run(name: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "masquerade", "convert", str(clip), "-m", str(model_dir), "-o",
               str(out_dir / name), "--device", "cpu"]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_for(proc: subprocess.Popen, seen) -> float | None:
        while proc.poll() is None:
            if seen():
                return time.monotonic()
            time.sleep(0.01)
        return None

    def partial_there() -> bool:
        return any("masq-partial" in p.name for p in out_dir.iterdir())

    proc = run("reference.mp4")
    started = wait_for(proc, partial_there)
    finished = wait_for(proc, (out_dir / "reference.mp4").exists)
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"uninterrupted convert failed:\n{err[-2000:]}")
    encode_s = max(0.2, (finished or time.monotonic()) - (started or time.monotonic()))

    from masquerade.provenance import made_by_masquerade

    landed = half_written = completed = 0
    left_after_kill = []
    for i in range(kills_wanted):
        final = out_dir / f"killed_{i}.mp4"
        proc = run(final.name)
        if wait_for(proc, partial_there) is not None:
            time.sleep(rng.uniform(0, 0.95 * encode_s))  # somewhere in decoding, swapping, encoding, signing
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            landed += 1
        proc.communicate()
        if final.exists():  # only a finished, signed file may ever appear there
            completed += 1
            half_written += not made_by_masquerade(final)
        left_after_kill.append(_partial_bytes(out_dir))
    proc = run("after.mp4")
    _, err = proc.communicate()
    return {
        "frames": frames, "kills_tried": kills_wanted, "kills_landed": landed,
        "half_written_outputs_at_final_path": half_written, "finished_before_the_kill": completed,
        "partial_bytes_max_after_a_kill": max(left_after_kill, default=0),
        "next_run_ok": proc.returncode == 0, "bytes_left_behind": _partial_bytes(out_dir),
        "uninterrupted_encode_s": round(encode_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--convert-kills", type=int, default=8)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="masq-soak-") as tmp:
        work = Path(tmp)
        env = _env(work / "home")
        fs_a, fs_b, seed = _setup(work, env)
        out = {"bench": "soak", "machine": machine(),
               "note": "shared 2-core box with other agents running: times are pessimistic"}
        out["train"] = soak_train(fs_a, fs_b, seed, work, env, args.kills, args.steps, rng)
        out["convert"] = soak_convert(work / "crashed", work, env, args.convert_kills, args.frames, rng)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
