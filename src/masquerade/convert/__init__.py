"""Stage 3: swap faces in media. One list of per-frame steps (`steps`) run by one loop (`pipeline`).

The public pieces other front doors use (the Ray segments, `evaluate`): `convert` for whole files,
`open_model` + `make_steps` + `run_frames` to run the same steps over any stream of frames.

The names load on first use (PEP 562): `masquerade convert --help` reads only `ConvertConfig`'s option
declarations, and importing the whole stage (OpenCV, provenance, the model store) would make the help slow.
"""

from __future__ import annotations

from ..lazy import exports

_WHERE = {
    "ConvertConfig": "config", "Batch": "pipeline", "FaceWork": "pipeline", "FrameWork": "pipeline",
    "Step": "pipeline", "Timings": "pipeline", "run_frames": "pipeline", "ConvertSummary": "run",
    "check_output": "run", "convert": "run", "faceset_size": "run", "make_steps": "run", "model_notes": "run", "open_model": "run",
    "STEPS": "steps", "close_steps": "steps", "target_side": "upscale",
}


__getattr__ = exports(__name__, _WHERE)


__all__ = sorted(_WHERE)
