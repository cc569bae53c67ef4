"""The demo stage: the whole pipeline on material generated from portraits that ship inside packages.

It grows with the pipeline; today it makes two synthetic clips and extracts a face set from each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .extract import ExtractConfig, ExtractSummary, extract
from .records import ProgressFn, no_progress
from .samples import make_clip, write_clip

DEMO_IDENTITIES = {"a": "astronaut", "b": "grace_hopper"}


@dataclass
class DemoResult:
    out_dir: Path
    clips: dict[str, Path] = field(default_factory=dict)
    facesets: dict[str, Path] = field(default_factory=dict)
    extract: dict[str, ExtractSummary] = field(default_factory=dict)


def make_demo_clips(out_dir: Path, frames: int = 48) -> dict[str, Path]:
    """One clip per identity, with varied pose, scale and lighting (the generator the tests use)."""
    clips = {}
    for side, name in DEMO_IDENTITIES.items():
        path = out_dir / "input" / f"{name}.mp4"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_clip(path, make_clip(name, frames=frames, size=(480, 360), fps=24.0, seed=7 if side == "a" else 11))
        clips[side] = path
    return clips


def run_demo(out_dir: str | Path, frames: int = 48, progress: ProgressFn = no_progress) -> DemoResult:
    out_dir = Path(out_dir)
    result = DemoResult(out_dir)
    result.clips = make_demo_clips(out_dir, frames)
    for side, clip in result.clips.items():
        faceset = out_dir / "facesets" / DEMO_IDENTITIES[side]
        result.extract[side] = extract([clip], faceset, ExtractConfig(size=128), progress=progress)
        result.facesets[side] = faceset
    return result
