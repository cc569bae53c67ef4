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
                         help="a2b puts identity B's face on A's head; b2a the other way.",
                         title="Direction", tip="a2b puts person B's face on person A; b2a puts person A's face on person B.")
    face: str = opt("largest", help="Whose face to swap: largest, all, or a person's index (0 = leftmost).",
                    title="Which face", tip="The largest face, all faces, or one person by number counting from the left (0 is the leftmost).")
    reference: Path | None = opt(None, help="Photo of the person to swap (picked by face recognition).", ui=False)
    color: str = opt("rct", choices=registry("masquerade.convert.color", "color"),
                     help="Colour matching: rct (Reinhard, Lab), hist (histogram) or none.",
                     title="Colour matching", tip="How the new face's colours are matched to the scene around it.", group="Look of the new face")
    blend: str = opt("skin", choices=registry("masquerade.convert.blend", "blend"),
                     help="Blending: skin (feathered, the face's colour meeting the frame's skin at its edge), "
                          "alpha (feathered) or poisson (seamless clone).",
                     title="Blending", tip="How the edge of the new face meets the picture: skin matches its colour to the skin around it, alpha is a plain soft fade, poisson a seamless blend.", group="Look of the new face")
    erode: float = opt(2.0, low=-100.0, high=100.0, step=0.5,
                       help="Shrink the mask by this % of the face width (negative grows it).",
                       title="Shrink face area (%)", tip="Make the swapped area smaller by this share of the face width; a negative value makes it larger.", group="Look of the new face")
    blur: float = opt(6.0, low=0.0, high=100.0, step=0.5, help="Feather the mask edge over this % of the face width.",
                      title="Soft edge (%)", tip="Fade the edge of the swapped area over this share of the face width.", group="Look of the new face")
    sharpen: float = opt(0.0, low=0.0, high=10.0, step=0.1, help="Sharpen the upscaled face (0 = off, 0.5 = moderate).",
                         title="Sharpen", tip="Sharpen the new face a little (0 is off, 0.5 is moderate).", group="Look of the new face")
    upscale: str = opt("auto", choices=registry("masquerade.convert.upscale", "UPSCALE_CHOICES"),
                       help="auto: when the model folder holds an identity upscaler for the target (made by `masquerade train-upscaler`), render the face at 256 px with it; off: never (the model's face is stretched to fit).",
                       title="Sharper faces", tip="Auto uses the face sharpener trained on the Train tab when this model has one; off never does.")
    eyes: str = opt("follow", choices=registry("masquerade.convert.eyes", "EYES_CHOICES"),
                    help="follow: where the source's eyes close (a blink, a squint) and the model drew the new face's "
                         "open, slide its lids down as far (a warp of its own pixels); model: the eyes as the model draws them.",
                    title="Eyes", tip="Follow closes the new face's eyes whenever the person in the video closes theirs; model leaves them as drawn.",
                    group="Look of the new face")
    mask: str = opt("auto", help="Mask sources joined by + (hull, model, hands, learned; e.g. hull+model+hands), combined by their minimum, so each one added can only shrink the swapped area. auto: all four, learned where the model has one (docs/occlusion.md).",
                    title="Keep in front", tip="What stays in front of the new face: auto keeps hands and objects the model learnt to spot.", group="Look of the new face")
    smooth: bool = opt(True, flag="--smooth/--no-smooth", help="Steady faces over time (One-Euro filter).",
                       title="Steady faces", tip="Smooth face positions over time so the new face does not jitter.", group="Motion")
    smooth_min_cutoff: float = opt(1.0, low=1e-6, high=1e6, cli=False,
                                   help="One-Euro filter cut-off in Hz: lower is steadier when the face is still.",
                                   title="Steadiness when still", tip="Lower keeps a face that is not moving steadier.", group="Motion")
    smooth_beta: float = opt(0.01, low=0.0, high=1e6, cli=False,
                             help="One-Euro filter speed coefficient: higher lags less when the face moves.",
                             title="Follow speed when moving", tip="Higher follows a moving face with less lag.", group="Motion")
    batch_size: int = opt(8, low=1, high=4096, help="Frames whose faces run through the model together.",
                          title="Frames at once", tip="Frames worked on together: more is faster but needs more memory.", group="Speed")
    pipeline: bool = opt(True, flag="--pipeline/--no-pipeline", ui=False,
                         help="Overlap the work on consecutive frames: face finding, the model and pasting each on a "
                              "thread of its own (same output; more memory: a few batches in flight).")
    device: str = opt("auto", help="auto, cpu, cuda or mps.", ui=False)
    crf: int = opt(18, low=0, high=51, help="H.264 quality of the output video (lower is better and bigger).",
                   title="Video quality (CRF)", tip="Lower means better quality and a bigger file; 18 looks like the original.", group="Output")
    start: float = opt(0.0, low=0.0, help="Convert a video from this many seconds in (a part is written without its sound).",
                       title="Start (seconds)", tip="Swap from this time in the clip on; 0 is the beginning.")
    end: float | None = opt(None, above=0.0, help="Convert a video up to this many seconds in (default: its end).",
                            title="End (seconds)", tip="Swap up to this time in the clip. Leave empty to go to the end.")
    preview: int = opt(0, low=0, high=1000, ui=False,
                       help="Write a side-by-side PNG of N frames (original | swapped) instead.")
    detector: str = opt("mediapipe", choices=registry("masquerade.faces", "detectors"), cli=False, ui=False,
                        label="detector", help="Face detector backend.")
    max_faces: int = opt(4, low=1, high=64, cli=False, help="Faces the detector looks for in each frame.",
                         title="Faces looked for", tip="How many faces to look for in each frame.", group="Speed")

    def validate(self) -> None:
        """Ranges and choices come from the declarations above; `face` is the one rule they cannot say."""
        from ..errors import MasqueradeError

        check(self, MasqueradeError)
        from .occlusion import parse_mask

        parse_mask(self.mask)
        if self.face not in ("largest", "all") and not str(self.face).isdigit():
            raise MasqueradeError(f"--face must be largest, all or a person's index (0, 1, ...), not {self.face!r}")
        if self.end is not None and self.end <= self.start:
            raise MasqueradeError(f"--end ({self.end:g} s) must come after --start ({self.start:g} s)")
