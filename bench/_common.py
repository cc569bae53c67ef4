"""Helpers shared by the benchmarks: machine description and the optional real clips."""

from __future__ import annotations

import os
import platform
from pathlib import Path

REAL_CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


def machine() -> dict:
    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def gemm_probe(device: str = "cpu", dtype: str = "float32", n: int = 2048):
    """A function that times one n x n matmul and returns its GFLOP/s: the roof a convolution network can
    approach on this machine. Machines differ 2-3x (AVX2 vs AVX-512, clocks), so a rate alone does not say
    whether the code is fast; its share of this roof does. On a shared VM the roof itself swings by 1.5x from
    second to second (measured 80-158 GFLOP/s on the 2-core box), so benches call the probe right beside each
    timed step and compare the two under the same load."""
    import time

    import torch

    dev = torch.device(device)
    a, b = (torch.randn(n, n, device=dev).to(getattr(torch, dtype)) for _ in range(2))

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def probe() -> float:
        sync()
        t0 = time.perf_counter()
        a @ b
        sync()
        return 2 * n ** 3 / (time.perf_counter() - t0) / 1e9

    probe()  # warm-up: thread pool, packing buffers
    return probe


def real_clips() -> list[Path]:
    """The real talking-head clips beside the repository, or [] where they are absent (a user's clone)."""
    return sorted(REAL_CLIPS.glob("*.mp4")) if REAL_CLIPS.is_dir() else []


def face_sets(clips: dict[str, Path], folder: Path) -> dict:
    """key -> the 256 px face set of each clip, extracted into `folder` once and reused by later runs (the
    folder name carries the alignment template, so a new default template makes new sets)."""
    from masquerade.extract import ExtractConfig, extract
    from masquerade.faces.align import TEMPLATE_NAME
    from masquerade.faceset import FaceSet

    sets = {}
    for key, clip in clips.items():
        path = folder / f"faces_{clip.stem}_{TEMPLATE_NAME}"
        if not (FaceSet.is_faceset(path) and FaceSet.open(path).manifest.complete):
            extract([clip], path, ExtractConfig(size=256))
        sets[key] = FaceSet.open(path)
    return sets
