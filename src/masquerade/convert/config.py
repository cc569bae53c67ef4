"""Settings of a conversion; every field is a CLI flag of `masquerade convert`."""

from __future__ import annotations

import math
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
    upscale: str = "auto"  # auto: the target identity's upscaler when the model folder has one; off: never
    smooth: bool = True  # One-Euro filter on landmarks over time (videos)
    smooth_min_cutoff: float = 1.0  # Hz; lower = steadier when still
    smooth_beta: float = 0.01  # higher = less lag when moving (per pixel/s of landmark speed)
    batch_size: int = 8  # frames whose faces go through the model together
    device: str = "auto"
    crf: int = 18  # H.264 quality of the output video (lower = better, bigger)
    preview: int = 0  # >0: write a side-by-side PNG of this many frames instead of the whole output
    detector: str = "mediapipe"  # face detector backend (`masquerade.faces.detectors`)
    max_faces: int = 4  # faces the detector looks for in each frame

    def validate(self) -> None:
        from ..errors import MasqueradeError
        from . import blend, color

        if self.direction not in DIRECTIONS:
            raise MasqueradeError(f"--direction must be a2b or b2a, not {self.direction!r}")
        if self.face not in ("largest", "all") and not str(self.face).isdigit():
            raise MasqueradeError(f"--face must be largest, all or a person's index (0, 1, ...), not {self.face!r}")
        from .upscale import UPSCALE_CHOICES

        if self.upscale not in UPSCALE_CHOICES:
            raise MasqueradeError(f"--upscale must be one of {', '.join(UPSCALE_CHOICES)}, not {self.upscale!r}")
        if self.color not in color.color:
            raise MasqueradeError(f"--color must be one of {', '.join(color.color)}, not {self.color!r}")
        if self.blend not in blend.blend:
            raise MasqueradeError(f"--blend must be one of {', '.join(blend.blend)}, not {self.blend!r}")
        from ..faces import detectors

        if self.detector not in detectors:
            raise MasqueradeError(f"detector must be one of {', '.join(sorted(detectors))}, not {self.detector!r}")
        for flag, value, low, high in (("--batch-size", self.batch_size, 1, 4096), ("--crf", self.crf, 0, 51),
                                       ("--preview", self.preview, 0, 1000), ("max_faces", self.max_faces, 1, 64)):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise MasqueradeError(f"{flag} must be a whole number from {low} to {high}, not {value!r}")
        for flag, value, low, high in (("--erode", self.erode, -100.0, 100.0), ("--blur", self.blur, 0.0, 100.0),
                                       ("--sharpen", self.sharpen, 0.0, 10.0),
                                       ("smooth_min_cutoff", self.smooth_min_cutoff, 1e-6, 1e6),
                                       ("smooth_beta", self.smooth_beta, 0.0, 1e6)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                raise MasqueradeError(f"{flag} must be a number from {low:g} to {high:g}, not {value!r}")
