"""The steps of convert, one small class each, and the registry `build_steps` makes the list from.

In order: detect, track, select, smooth, align, model, upscale, eyes, occlude, colour, sharpen, paste (see `pipeline` for the
contract). Each entry of `STEPS` is a factory `(StepContext) -> Step | None`; None leaves the step out for
this run (no smoothing for stills, no sharpening at amount 0). The backends inside the steps come from
their own registries (`faces.detectors`, `color.color`, `blend.blend`), so the names a user picks reach
them without any name being written into the loop.

Adding a step is one class and one line in `STEPS` at its place. The identity upscaler (`upscale.py`), for
example, is a `TensorStep` whose `apply` maps the model's faces N×3×s×s to N×3×S×S, registered between
"model" and "colour"; everything after it (colour, sharpen, paste) then works at S with no further change.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..faces import create_detector, resize_crop
from ..faces.align import TEMPLATE_NAME, alignment_matrix, invert, transform_points, warp_to_crop, warp_to_frame
from ..faces.masks import hull_mask
from . import blend, color
from .config import ConvertConfig
from .eyes import make_eyes
from .pipeline import BaseStep, Batch, FaceStep, FaceWork, FrameWork, Step
from .occlusion import make_occlude
from .smoothing import OneEuroFilter
from .tracking import FaceTracker, select
from .upscale import make_upscale

LiveTrack = namedtuple("LiveTrack", "id hits mean_size")
"""A track as it was at one frame, for the selection by size (the tracker itself moves on in a batch)."""


@dataclass
class StepContext:
    """What a factory may use to build its step for one run."""

    model: Any  # has .swap(faces, direction) and .config (size, coverage)
    config: ConvertConfig
    video: bool  # a clip with time (tracking, smoothing) rather than independent stills
    faceset_size: int  # side of the crops the model was trained from (the face set's), before resize_crop
    reference: Callable[[list, np.ndarray], list[int]] | None = None  # --reference picker, if any
    upscaler: Any = None  # a loaded identity upscaler for the target side; None: look beside the model
    occlusion: Any = None  # a loaded occlusion mask net (`models.occlusion`); None: look beside the model


# -- before the model -----------------------------------------------------------------------------------
class DetectFaces(BaseStep):
    """Every face in the frame, from the detector named in the config (`faces.detectors`)."""

    name, sees_warmup = "detect", True

    def __init__(self, ctx: StepContext):
        self.detector = create_detector(ctx.config.detector, video=ctx.video, max_faces=ctx.config.max_faces)

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            item.detections = self.detector.detect(item.frame.image)

    def close(self) -> None:
        self.detector.close()


class TrackFaces(BaseStep):
    """Video: stable ids over time (`FaceTracker`); each track keeps its own state for later steps."""

    name, sees_warmup = "track", True

    def __init__(self, ctx: StepContext):
        self.tracker = FaceTracker()

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            tracked = self.tracker.update(item.detections)
            item.candidates = [(tid, det, self.tracker.tracks[tid].state) for tid, det in tracked]
            item.live = [LiveTrack(t.id, t.hits, t.mean_size) for t in self.tracker.tracks.values()]


class LeftToRight(BaseStep):
    """Stills and sparse preview frames: no history, so faces are numbered left to right in each frame."""

    name, sees_warmup = "track", True

    def __init__(self, ctx: StepContext):
        pass

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            ordered = sorted(item.detections, key=lambda d: d.box[0])
            item.candidates = [(i, det, {}) for i, det in enumerate(ordered)]
            item.live = [LiveTrack(i, 3, det.size) for i, det in enumerate(ordered)]


class SelectFaces(BaseStep):
    """`--face`: largest, all, or the N-th person (see `tracking.select`)."""

    name, sees_warmup = "select", True

    def __init__(self, ctx: StepContext):
        face = ctx.config.face
        self.policy = int(face) if str(face).isdigit() else face

    def choose(self, item: FrameWork) -> list[int]:
        return select(item.live, [(tid, det) for tid, det, _ in item.candidates], self.policy)

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            chosen = set(self.choose(item))
            item.faces = [FaceWork(tid, det, state, det.landmarks) for tid, det, state in item.candidates
                          if tid in chosen]


class SelectByReference(SelectFaces):
    """`--reference PHOTO`: the one face that looks like the person in the photo."""

    def __init__(self, ctx: StepContext):
        self.picker = ctx.reference

    def choose(self, item: FrameWork) -> list[int]:
        return self.picker([(tid, det) for tid, det, _ in item.candidates], item.frame.image)


class SmoothLandmarks(BaseStep):
    """One-Euro filter on each track's landmarks over the frames' timestamps (steadier faces in video)."""

    name, sees_warmup = "smooth", True

    def __init__(self, ctx: StepContext):
        self.min_cutoff, self.beta = ctx.config.smooth_min_cutoff, ctx.config.smooth_beta

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            for face in item.faces:
                smoother = face.state.setdefault("smoother", OneEuroFilter(min_cutoff=self.min_cutoff, beta=self.beta))
                face.landmarks = smoother(face.landmarks, item.frame.timestamp)


class AlignFaces(BaseStep):
    """Cut each face out along the template exactly as training saw it: warp at the face set's crop size,
    then `resize_crop` to the model's size (the function the face set cache uses)."""

    name = "align"

    def __init__(self, ctx: StepContext):
        self.base, self.size = int(ctx.faceset_size), int(ctx.model.config.size)
        self.coverage = ctx.model.config.coverage
        self.template = getattr(ctx.model.config, "template", TEMPLATE_NAME)  # the one its face sets were made with

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            for face in item.faces:
                face.matrix = alignment_matrix(face.landmarks, self.base, self.coverage, self.template)
                face.base = self.base
                face.source = warp_to_crop(item.frame.image, face.matrix, self.base)
                face.crop = resize_crop(face.source, self.size)
                points = transform_points(face.landmarks, face.matrix_for(self.size))
                face.hull = hull_mask(points, self.size).astype(np.float32) * np.float32(1 / 255)


# -- the model ------------------------------------------------------------------------------------------
class RunModel(BaseStep):
    """All faces of the batch through the model at once; leaves faces and masks as tensors on the batch."""

    name = "model"

    def __init__(self, ctx: StepContext):
        self.model, self.direction = ctx.model, ctx.config.direction

    def __call__(self, batch: Batch) -> None:
        faces = batch.faces()
        if not faces:
            return
        import torch

        crops = torch.from_numpy(np.stack([f.crop for f in faces])).permute(0, 3, 1, 2).float().div_(255.0)
        if getattr(self.model, "takes_expression", False):  # what each source face is doing, read off its landmarks
            from ..faces.expression_reference import measures

            points = np.stack([transform_points(f.landmarks, f.matrix) for f in faces])
            batch.face_tensor, batch.mask_tensor = self.model.swap(crops, self.direction,
                                                                   measures=torch.from_numpy(measures(points)))
        else:
            batch.face_tensor, batch.mask_tensor = self.model.swap(crops, self.direction)


# -- after the model ------------------------------------------------------------------------------------
class MatchColour(FaceStep):
    """Recolour the swapped face like the face it replaces (`color.color[--color]`)."""

    name = "colour"

    def __init__(self, ctx: StepContext):
        self.match = color.color[ctx.config.color]

    def apply(self, face: FaceWork, item: FrameWork) -> None:
        face.face = self.match(face.face, face.target, face.mask)


class Sharpen(FaceStep):
    """Unsharp mask on the swapped face (`--sharpen`), for faces softened by upscaling."""

    name = "sharpen"

    def __init__(self, ctx: StepContext):
        self.amount = ctx.config.sharpen

    def apply(self, face: FaceWork, item: FrameWork) -> None:
        face.face = blend.sharpen(face.face, self.amount)


class Paste(FaceStep):
    """Warp each face and its mask back into the frame (only the face's rectangle) and blend it in."""

    name = "paste"

    def __init__(self, ctx: StepContext):
        self.erode, self.blur = ctx.config.erode, ctx.config.blur
        self.blender = blend.blend[ctx.config.blend]

    def apply(self, face: FaceWork, item: FrameWork) -> None:
        item.image = paste(item.output, face, self.blender, self.erode, self.blur)


def _roi(matrix: np.ndarray, size: int, width: int, height: int, margin: int = 4) -> tuple[int, int, int, int]:
    """Frame rectangle covered by the crop (its four corners mapped back), clipped to the frame."""
    corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64), invert(matrix))
    x0, y0 = np.floor(corners.min(0)).astype(int) - margin
    x1, y1 = np.ceil(corners.max(0)).astype(int) + margin
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def paste(image: np.ndarray, face: FaceWork, blender, erode: float, blur: float) -> np.ndarray:
    """`image` with `face.face` blended in where `face.mask` says; erode/blur in % of the face width."""
    import cv2

    h, w = image.shape[:2]
    size = face.face.shape[0]
    matrix = face.matrix_for(size)
    x0, y0, x1, y1 = _roi(matrix, size, w, h)
    if x1 <= x0 or y1 <= y0:
        return image
    local = matrix @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])  # ROI pixels -> crop pixels
    pixels = cv2.warpAffine(face.face, local, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    mask = warp_to_frame(blend.fade_top(face.mask), local, x1 - x0, y1 - y0)  # the forehead fades into the hair
    face_width = float(np.ptp(face.landmarks[:, 0])) or 1.0
    mask = blend.shape_mask(mask, erode=int(round(erode / 100 * face_width)), blur=int(round(blur / 100 * face_width)))
    out = image.copy()
    out[y0:y1, x0:x1] = blender(image[y0:y1, x0:x1], pixels, mask)
    return out


# -- the registry ---------------------------------------------------------------------------------------
StepFactory = Callable[[StepContext], "Step | None"]

STEPS: dict[str, StepFactory] = {
    "detect": DetectFaces,
    "track": lambda ctx: TrackFaces(ctx) if ctx.video else LeftToRight(ctx),
    "select": lambda ctx: SelectByReference(ctx) if ctx.reference is not None else SelectFaces(ctx),
    "smooth": lambda ctx: SmoothLandmarks(ctx) if ctx.video and ctx.config.smooth else None,
    "align": AlignFaces,
    "model": RunModel,
    "upscale": make_upscale,
    "eyes": make_eyes,
    "occlude": make_occlude,
    "colour": MatchColour,
    "sharpen": lambda ctx: Sharpen(ctx) if ctx.config.sharpen > 0 else None,
    "paste": Paste,
}
"""Every step in pipeline order. A new step is one class above and one line here, at its place."""


def build_steps(ctx: StepContext, names: list[str] | None = None) -> list[Step]:
    """The steps for one run, in `STEPS` order (or only `names`, in that order). Close them when done."""
    steps: list[Step] = []
    try:
        for name in names or list(STEPS):
            step = STEPS[name](ctx)
            if step is not None:
                steps.append(step)
    except BaseException:
        close_steps(steps)
        raise
    return steps


def close_steps(steps: list[Step]) -> None:
    """Release what the steps hold (detector graphs, ...); every step is closed even if one fails."""
    errors = []
    for step in steps:
        try:
            step.close()
        except Exception as exc:  # noqa: BLE001 - close the rest, then report the first failure
            errors.append(exc)
    if errors:
        raise errors[0]
