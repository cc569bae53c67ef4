"""The "eyes" step: the swapped face's eyes close as far as the source's do.

Why: a decoder draws only what its person showed it. A target filmed with open eyes (man_d19 closes his in
1 face of 250) gives a decoder that stares through every blink and squint of the source, whatever the
expression code asks: on woman_d3 → man_d19 the swap's eye opening followed hers at a correlation of 0.01,
and training with synthetic blinks did not teach the decoder to close them (docs/quality.md). Closing an eye
needs no new pixels, though: the upper lid slides down over it and the lid's skin stretches
(`faces.eyelids`, the warp training's synthetic blinks use). So after the model (and the upscaler) this step
reads, per eye:

- **the source**: the lid gap over the source person's open level at rest (`SwapModel.open_eyes`, fitted on
  the training faces; for a model without expression channels, the 90th percentile of this track's gaps so
  far). Below `FOLLOW_BELOW` of it an eye counts as closing, linearly to shut at `SHUT_SHARE` (the mesh
  reads shut lids' lashes as a small gap); above, as open (a calm person's lids move a little all the time,
  and a warp can close an eye, not open it);
- **the swap**: the face mesh run on the swapped face (only when a source eye is closing: most frames cost
  nothing), its lid gap against the target person's open level at rest;

and where the swapped eye is open wider than the source's share of the target's open level, slides its lid
down by the difference (`closure`), then reads the result with the mesh once more and corrects the amount by
one secant step (`refined`: the mesh reads a slid lid as more open than its gap). An eye the decoder already
closes far enough is left as drawn, so a model that follows the source's eyes is not closed twice. Faces
turned too far for the lids to be read (`MAX_TURN_DEG`) are left as drawn. Cost: two mesh readings of a
256 px face, and two warps of the lids' rectangle (~2 ms each), per frame in which a source eye is closing
(docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..faces.align import transform_points
from ..faces.landmark_measures import each_eye_opening, yaw_proxy
from .pipeline import FaceStep, FaceWork, FrameWork

EYES_CHOICES = ("follow", "model")
FOLLOW_BELOW = 0.85  # a source eye narrower than this share of its open level at rest is closing
SHUT_SHARE = 0.2  # ... and shut at this share: the mesh reads closed lids' lashes as a gap of about a fifth
SHUT_READ = 0.3  # the share of the drawn gap the mesh reads on an eye this step has shut (0.25-0.36 measured)
MIN_CLOSURE = 0.08  # a smaller correction is left undone (a warp nobody would see, yet a mesh's jitter)
MAX_TURN_DEG = 35.0  # beyond this head turn the far eye's lids are not read well enough to move them
TRACK_FRAMES = 300  # a model without expression channels: the open level is the p90 of this many last frames
TRACK_MIN = 10  # ... once the track has shown at least this many


def wanted_share(source_gap: np.ndarray, open_level: float) -> np.ndarray:
    """Per eye, how open the swapped eye should be, as a share of its person's open level: 1 down to
    `FOLLOW_BELOW` of the source's open level, then linearly to 0 at `SHUT_SHARE` of it and below."""
    share = np.asarray(source_gap, np.float64) / max(open_level, 1e-6)
    return np.clip((share - SHUT_SHARE) / (FOLLOW_BELOW - SHUT_SHARE), 0.0, 1.0)


def closure(wanted: np.ndarray, drawn_gap: np.ndarray, target_open: float | None) -> np.ndarray:
    """Per eye, the share of the swapped eye's lid gap, as the mesh reads it, to close (0 = leave it): to the
    reading `wanted` asks of the target's open level at rest (or of the eye as drawn when that level is not
    known), on a scale from a shut lid's reading (`SHUT_READ`) at 0 to open at 1, so that the swap's readings
    follow the source's in proportion rather than all landing on the shut one."""
    drawn = np.asarray(drawn_gap, np.float64)
    goal = (SHUT_READ + (1.0 - SHUT_READ) * np.asarray(wanted, np.float64)) * (target_open if target_open else drawn)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(drawn > 0, 1.0 - goal / drawn, 0.0)
    c = np.nan_to_num(np.clip(c, 0.0, 1.0))
    return np.where(c >= MIN_CLOSURE, c, 0.0)


def refined(amount: np.ndarray, read_share: np.ndarray) -> np.ndarray:
    """Per eye, the closure that makes the mesh read the eye `1 - amount` as open as drawn, after a first
    warp by `amount` was read at `read_share` of the drawn gap: one secant step on share(closure), which runs
    from 1 at 0 through the reading. Why: the mesh reads a slid lid as more open than its gap (half a gap read
    as 0.70, a shut lid as 0.25-0.33 on a real portrait), and the mesh's reading is what a source's closure
    was measured with. Never less than the first amount nor more than twice it, never past shut."""
    amount, read_share = np.asarray(amount, np.float64), np.nan_to_num(np.asarray(read_share, np.float64), nan=1.0)
    moved = np.maximum(1.0 - read_share, amount / 2)  # a reading that hardly moved: at most twice the amount
    step = amount * amount / np.maximum(moved, 1e-6)  # the goal share is 1 - amount
    return np.where(amount > 0, np.clip(step, amount, 1.0), 0.0)


def close_eyes(face: np.ndarray, landmarks: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """`face` (S×S×3 uint8) with each eye's upper lid slid down by `amount` (right eye, left eye; 0 to 1) of
    its gap, `landmarks` (478×2) being the face's own, in its pixels. Only the lids' rectangle is warped
    (`faces.eyelids.lid_box`); pixels outside the lids' bands are copied exactly."""
    import cv2
    import torch

    from ..faces.eyelids import blink_grid, lid_box

    s = face.shape[0]
    x0, y0, x1, y1 = lid_box(landmarks)
    cols = np.arange(max(0, int(np.floor(x0)) - 1), min(s, int(np.ceil(x1)) + 2))
    rows = np.arange(max(0, int(np.floor(y0)) - 1), min(s, int(np.ceil(y1)) + 2))
    if not len(cols) or not len(rows):
        return face
    to_grid = lambda v: (torch.from_numpy(v).float() + 0.5) * (2 / s) - 1  # noqa: E731  pixel centres
    gy, gx = torch.meshgrid(to_grid(rows), to_grid(cols), indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]
    moved = blink_grid(grid, torch.as_tensor(landmarks, dtype=torch.float32)[None],
                       torch.as_tensor(np.asarray(amount, np.float32))[None], s)[0]
    changed = (moved != grid[0]).any(-1).numpy()
    if not changed.any():
        return face
    maps = ((moved + 1) * (s / 2) - 0.5).numpy()
    warped = cv2.remap(face, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = face.copy()
    region = out[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    region[changed] = warped[changed]
    return out


def open_level(model: Any, side: str) -> float | None:
    """`side`'s person's eye opening at rest as `model` knows it (`SwapModel.open_eyes`); None when it does not."""
    read = getattr(model, "open_eyes", None)
    return read(side) if read is not None else None


class FollowEyes(FaceStep):
    """Close each swapped face's eyes as far as its source's are closed (`--eyes follow`, the default)."""

    name = "eyes"
    own_thread = True  # the face mesh on the swapped faces: ~10 ms a closing eye (convert/stages.py)

    def __init__(self, ctx: Any):
        from ..faces.mediapipe_backend import MediaPipeDetector
        from .upscale import target_side

        direction = ctx.config.direction
        self.source_open = open_level(ctx.model, direction[0])
        self.target_open = open_level(ctx.model, target_side(direction))
        self.video = bool(ctx.video)
        self.mesh = MediaPipeDetector(video=False, max_faces=1)

    def source_level(self, gaps: np.ndarray, face: FaceWork) -> float | None:
        """The source person's eye opening at rest: the model's, else this track's p90 so far (video)."""
        if self.source_open:
            return self.source_open
        if not self.video:
            return None
        seen = face.state.setdefault("eye_gaps", [])
        if np.isfinite(gaps).all():
            seen.append(float(gaps.mean()))
            del seen[:-TRACK_FRAMES]
        return float(np.percentile(seen, 90)) if len(seen) >= TRACK_MIN else None

    def apply(self, face: FaceWork, item: FrameWork) -> None:
        size = face.face.shape[0]
        source = transform_points(face.landmarks, face.matrix_for(size))
        gaps = each_eye_opening(source)
        level = self.source_level(gaps, face)
        if level is None or not np.isfinite(gaps).all() or abs(yaw_proxy(source)) > MAX_TURN_DEG:
            return
        wanted = wanted_share(gaps, level)
        if wanted.min() >= 1.0:
            return
        x0, y0 = source.min(0)
        x1, y1 = source.max(0)
        box = (float(x0), float(y0), float(x1), float(y1))
        drawn = self.mesh.mesh_in_box(face.face, box)
        if drawn is None:
            return
        drawn_gaps = each_eye_opening(drawn)
        amount = closure(wanted, drawn_gaps, self.target_open)
        if not amount.any():
            return
        closed = close_eyes(face.face, drawn, amount)
        read = self.mesh.mesh_in_box(closed, box)
        if read is not None:
            amount = refined(amount, each_eye_opening(read) / drawn_gaps)
            closed = close_eyes(face.face, drawn, amount)
        face.face = closed

    def close(self) -> None:
        self.mesh.close()


def make_eyes(ctx: Any) -> FollowEyes | None:
    """The step for this run: None with `--eyes model` (the eyes as the decoder draws them), and for stills
    from a model that knows no open level (nothing to read a single face's closure against)."""
    if ctx.config.eyes != "follow":
        return None
    return FollowEyes(ctx) if ctx.video or open_level(ctx.model, ctx.config.direction[0]) else None
