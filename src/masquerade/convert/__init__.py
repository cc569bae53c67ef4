"""Stage 3: swap faces in media. One list of per-frame steps (`steps`) run by one loop (`pipeline`).

The public pieces other front doors use (the Ray segments, `evaluate`): `convert` for whole files,
`open_model` + `make_steps` + `run_frames` to run the same steps over any stream of frames.
"""

from .config import ConvertConfig
from .pipeline import Batch, FaceWork, FrameWork, Step, Timings, run_frames
from .run import ConvertSummary, check_output, convert, faceset_size, make_steps, open_model
from .steps import STEPS, close_steps
from .upscale import target_side

__all__ = [
    "STEPS", "Batch", "ConvertConfig", "ConvertSummary", "FaceWork", "FrameWork", "Step", "Timings",
    "check_output", "close_steps", "convert", "faceset_size", "make_steps", "open_model", "run_frames",
    "target_side",
]
