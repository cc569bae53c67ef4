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


def real_clips() -> list[Path]:
    """The real talking-head clips beside the repository, or [] where they are absent (a user's clone)."""
    return sorted(REAL_CLIPS.glob("*.mp4")) if REAL_CLIPS.is_dir() else []
