"""Settings of a conversion: each field is declared once, with its help and range, and the `convert` command's
flags, the UI's convert settings and `--config FILE.toml`'s [convert] table are generated from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import check, opt, registry

DIRECTIONS = ("a2b", "b2a")


@dataclass(frozen=True)
class ConvertConfig:
    direction: str = opt("a2b", choices=DIRECTIONS,
                         help="a2b puts identity B's face on A's head; b2a the other way.")
    face: str = opt("largest", help="Whose face to swap: largest, all, or a person's index (0 = leftmost).")
    reference: Path | None = opt(None, help="Photo of the person to swap (picked by face recognition).", ui=False)
    color: str = opt("rct", choices=registry("masquerade.convert.color", "color"),
                     help="Colour matching: rct (Reinhard, Lab), hist (histogram) or none.")
    blend: str = opt("skin", choices=registry("masquerade.convert.blend", "blend"),
                     help="Blending: skin (feathered, the face's colour meeting the frame's skin at its edge), "
                          "alpha (feathered) or poisson (seamless clone).")
    erode: float = opt(2.0, low=-100.0, high=100.0, step=0.5,
                       help="Shrink the mask by this % of the face width (negative grows it).")
    blur: float = opt(6.0, low=0.0, high=100.0, step=0.5, help="Feather the mask edge over this % of the face width.")
    sharpen: float = opt(0.0, low=0.0, high=10.0, step=0.1, help="Sharpen the upscaled face (0 = off, 0.5 = moderate).")
    upscale: str = opt("auto", choices=registry("masquerade.convert.upscale", "UPSCALE_CHOICES"),
                       help="auto: when the model folder holds an identity upscaler for the target (made by `masquerade train-upscaler`), render the face at 256 px with it; off: never (the model's face is stretched to fit).")
    smooth: bool = opt(True, flag="--smooth/--no-smooth", help="Steady faces over time (One-Euro filter).")
    smooth_min_cutoff: float = opt(1.0, low=1e-6, high=1e6, cli=False,
                                   help="One-Euro filter cut-off in Hz: lower is steadier when the face is still.")
    smooth_beta: float = opt(0.01, low=0.0, high=1e6, cli=False,
                             help="One-Euro filter speed coefficient: higher lags less when the face moves.")
    batch_size: int = opt(8, low=1, high=4096, help="Frames whose faces run through the model together.")
    device: str = opt("auto", help="auto, cpu, cuda or mps.", ui=False)
    crf: int = opt(18, low=0, high=51, help="H.264 quality of the output video (lower is better and bigger).")
    preview: int = opt(0, low=0, high=1000, ui=False,
                       help="Write a side-by-side PNG of N frames (original | swapped) instead.")
    detector: str = opt("mediapipe", choices=registry("masquerade.faces", "detectors"), cli=False, ui=False,
                        label="detector", help="Face detector backend.")
    max_faces: int = opt(4, low=1, high=64, cli=False, help="Faces the detector looks for in each frame.")

    def validate(self) -> None:
        """Ranges and choices come from the declarations above; `face` is the one rule they cannot say."""
        from ..errors import MasqueradeError

        check(self, MasqueradeError)
        if self.face not in ("largest", "all") and not str(self.face).isdigit():
            raise MasqueradeError(f"--face must be largest, all or a person's index (0, 1, ...), not {self.face!r}")
