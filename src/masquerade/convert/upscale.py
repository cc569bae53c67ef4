"""The "upscale" step: the target identity's own upscaler turns decoded faces into 256 px faces.

A swap model decodes a soft 64 (or 128) px face; pasted as is, it is stretched to the ~170-300 px the face
covers in the frame. When the model folder holds an identity upscaler for the side being rendered
(`models.upscaler`, trained by `masquerade train-upscaler` on that person's own crops), this step maps the
model's faces N×3×s×s to N×3×256×256 before they become pixels, so colour, sharpen and paste work at 256 px.

`--upscale auto` (the default) uses it when present and silently does without it otherwise; `off` never does.
Where the upscaler comes from, in order: one handed to `make_steps` (Ray workers get it from the driver, as
they cannot see the model folder), else the folder `open_model` recorded on the model (`model.model_dir`).
"""

from __future__ import annotations

from typing import Any

from .pipeline import TensorStep

UPSCALE_CHOICES = ("auto", "off")


def target_side(direction: str) -> str:
    """The identity whose face is rendered: B for a2b (the decoder `models.store.DIRECTIONS` picks)."""
    from ..models.store import DIRECTIONS

    return DIRECTIONS[direction]


def find_beside(model: Any, direction: str):
    """The upscaler JSON for `direction`'s target beside a model opened from a folder, or None."""
    folder = getattr(model, "model_dir", None)
    if folder is None:
        return None
    from ..models.upscaler import find_upscaler

    return find_upscaler(folder, target_side(direction), int(model.config.size))


def load_beside(model: Any, direction: str):
    """The loaded upscaler for `direction`'s target beside `model`, or None when there is none."""
    if find_beside(model, direction) is None:
        return None
    from ..models.upscaler import load_upscaler

    device = getattr(model, "device", None) or "cpu"  # run it where the model runs
    return load_upscaler(model.model_dir, target_side(direction), device, in_size=int(model.config.size))


class Upscale(TensorStep):
    """Decoded faces through the target identity's upscaler (s px -> its out_size, 256)."""

    name = "upscale"

    def __init__(self, upscaler: Any):
        self.upscaler = upscaler

    def apply(self, faces):
        return self.upscaler(faces)


def make_upscale(ctx) -> Upscale | None:
    """The step for this run, or None (`--upscale off`, or no upscaler for the target side)."""
    if ctx.config.upscale == "off":
        return None
    up = ctx.upscaler if ctx.upscaler is not None else load_beside(ctx.model, ctx.config.direction)
    if up is None:
        return None
    from ..errors import ModelMismatchError

    size = int(ctx.model.config.size)
    if up.in_size != size or up.side != target_side(ctx.config.direction):
        raise ModelMismatchError(f"the upscaler for side {up.side!r} takes {up.in_size} px faces, but this run renders "
                                 f"side {target_side(ctx.config.direction)!r} at {size} px; retrain it or use --upscale off")
    return Upscale(up)
