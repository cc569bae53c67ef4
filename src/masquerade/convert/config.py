"""Settings of a conversion; every field is a CLI flag of `masquerade convert`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DIRECTIONS = ("a2b", "b2a")


@dataclass(frozen=True)
class ConvertConfig:
    direction: str = "a2b"  # a2b: faces of identity A get B's face
    face: str = "largest"  # largest | all | N (the N-th person, counted left to right)
    reference: Path | None = None  # an image of the person to swap (overrides `face`)
    color: str = "rct"  # colour matcher: rct | hist | none
    blend: str = "alpha"  # alpha | poisson
    erode: float = 2.0  # shrink the mask by this % of the face width before blending (negative grows it)
    blur: float = 6.0  # feather the mask edge over this % of the face width
    sharpen: float = 0.0  # unsharp-mask amount for the upscaled face (0 = off)
    smooth: bool = True  # One-Euro filter on landmarks over time (videos)
    smooth_min_cutoff: float = 1.0  # Hz; lower = steadier when still
    smooth_beta: float = 0.01  # higher = less lag when moving (per pixel/s of landmark speed)
    batch_size: int = 8  # frames whose faces go through the model together
    device: str = "auto"
    crf: int = 18  # H.264 quality of the output video (lower = better, bigger)
    preview: int = 0  # >0: write a side-by-side PNG of this many frames instead of the whole output

    def validate(self) -> None:
        from ..errors import MasqueradeError
        from . import blend, color

        if self.direction not in DIRECTIONS:
            raise MasqueradeError(f"--direction must be a2b or b2a, not {self.direction!r}")
        if self.face not in ("largest", "all") and not str(self.face).isdigit():
            raise MasqueradeError(f"--face must be largest, all or a person's index (0, 1, ...), not {self.face!r}")
        if self.color not in color.color:
            raise MasqueradeError(f"--color must be one of {', '.join(color.color)}, not {self.color!r}")
        if self.blend not in blend.blend:
            raise MasqueradeError(f"--blend must be one of {', '.join(blend.blend)}, not {self.blend!r}")
        if self.batch_size < 1 or self.preview < 0:
            raise MasqueradeError("--batch-size must be at least 1 and --preview at least 0")
