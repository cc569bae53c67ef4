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


def face_sets(clips: dict[str, Path], folder: Path) -> dict:
    """key -> the 256 px face set of each clip, extracted into `folder` once and reused by later runs (the
    folder name carries the alignment template, so a new default template makes new sets)."""
    from masquerade.extract import ExtractConfig, extract
    from masquerade.faces.align import TEMPLATE_NAME
    from masquerade.faceset import FaceSet

    sets = {}
    for key, clip in clips.items():
        path = folder / f"faces_{clip.stem}_{TEMPLATE_NAME}"
        if not (FaceSet.is_faceset(path) and FaceSet.open(path).manifest.get("complete")):
            extract([clip], path, ExtractConfig(size=256))
        sets[key] = FaceSet.open(path)
    return sets
