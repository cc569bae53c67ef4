"""The one per-frame loop of convert: frames go through a list of steps in batches, then to a sink.

Why one loop: video, stills, folders, previews, Ray segments and `evaluate` all swap faces the same way,
so they all call `run_frames(frames, steps, sink)` with steps from `steps.build_steps`; a new kind of work
(an occlusion mask, an enhancer, another detector) is one more step, not one more copy of the loop. The loop
can also run in stages (`run_frames(..., in_stages=True)`, see `stages`): the same steps over the same
batches in the same order, groups of them on threads of their own.

The contract of a step (`Step`): `step(batch)` reads and writes the records of one `Batch` in place and
returns nothing. A batch holds up to `batch_size` consecutive frames (`FrameWork`), in order; each frame
holds the faces chosen for swapping (`FaceWork`). Steps run one after the other over the whole batch, so a
step that keeps state over time (a tracker, a smoother) must walk the frames in order, and a step that
needs another step's view of time (the selection needs the tracks as they were at *that* frame) reads it
from the frame's record, never from the other step's object.

Pixels: frames are RGB uint8. Crops, faces and masks are uint8 S×S×3 / float32 S×S in [0, 1]. Between the
model and the first face step the faces travel as tensors (`Batch.face_tensor`, N×3×s×s float in [0, 1],
one row per face of `Batch.faces()`); a `tensor` step (an upscaler, say) may replace them with N×3×S×S.
The first face step after that turns them into pixels once (`Batch.to_pixels`), at whatever size they have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np

from ..records import Detection, Frame


@dataclass
class FaceWork:
    """One face of one frame on its way through the swap."""

    track: int  # track id (video) or left-to-right index (stills)
    detection: Detection
    state: dict[str, Any]  # per-track state kept by steps across frames (a smoother, ...)
    landmarks: np.ndarray | None = None  # frame pixels; smoothed when the smooth step ran
    matrix: np.ndarray | None = None  # frame -> aligned crop of side `base` (the face set's crop size)
    base: int = 0  # side of the crop `matrix` maps to
    crop: np.ndarray | None = None  # the model's input: the original aligned face, s×s×3 uint8
    hull: np.ndarray | None = None  # landmark-hull mask at the model's size, s×s float32 0..1
    source: np.ndarray | None = None  # the original aligned face at the face set's size, for other sizes
    face: np.ndarray | None = None  # the swapped face, S×S×3 uint8 (S = s unless a step resized it)
    mask: np.ndarray | None = None  # where to use it: model mask ∩ hull (∩ the occlusion sources), S×S float32 0..1
    model_mask: np.ndarray | None = None  # the decoder's own mask at S, before the hull (for `--mask`)
    visible: np.ndarray | None = None  # the occlude step's visible-face map at S (1 = face, 0 = in front of it)
    target: np.ndarray | None = None  # the original face at the output size S (colour matching's target)

    def matrix_for(self, size: int) -> np.ndarray:
        """frame -> crop of side `size`, the crop being `resize_crop` of the one `matrix` cuts (and the model's
        faces resized back up the same way)."""
        from ..faces.align import resized_matrix

        return resized_matrix(self.matrix, self.base, size)


@dataclass
class FrameWork:
    """One frame: what was found in it, which faces are swapped, and the output image."""

    frame: Frame
    warmup: bool = False  # True: follow faces through this frame (trackers, smoothers), swap nothing, no output
    detections: list[Detection] = field(default_factory=list)
    candidates: list[tuple[int, Detection, dict]] = field(default_factory=list)  # (track id, detection, state)
    live: list[Any] = field(default_factory=list)  # the tracks alive at this frame (for selection by size)
    faces: list[FaceWork] = field(default_factory=list)  # chosen for swapping, in track order
    image: np.ndarray | None = None  # the output; None until a step writes it (then the input is passed)

    @property
    def output(self) -> np.ndarray:
        return self.frame.image if self.image is None else self.image


@dataclass
class Batch:
    """Consecutive frames that go through each step together (the model sees all their faces at once)."""

    items: list[FrameWork]
    face_tensor: Any = None  # torch N×3×S×S float [0, 1] after the model, until `to_pixels`
    mask_tensor: Any = None  # torch N×1×S×S float [0, 1]

    def faces(self) -> list[FaceWork]:
        """Every face of every frame, frame order then track order (the rows of the tensors)."""
        return [face for item in self.items for face in item.faces]

    def to_pixels(self) -> None:
        """Turn the model's tensors into per-face uint8 faces and float masks (once; later calls do nothing).

        Faces whose size differs from the model's input (an upscaler ran) get their hull, target and mask
        at that size too, so face steps always see face, mask and target of one size.
        """
        if self.face_tensor is None:
            return
        from ..faces import resize_crop

        faces = self.face_tensor.float().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        masks = self.mask_tensor.float().clamp(0, 1)[:, 0].cpu().numpy()
        self.face_tensor = self.mask_tensor = None
        for work, face, mask in zip(self.faces(), faces, masks):
            size = face.shape[0]
            hull = work.hull if work.hull.shape[0] == size else _resize_mask(work.hull, size)
            if mask.shape[0] != size:
                mask = _resize_mask(mask, size)
            work.face = np.ascontiguousarray(face)
            work.model_mask = mask
            work.mask = np.minimum(mask, hull)
            work.target = work.crop if work.crop.shape[0] == size else resize_crop(work.source, size)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    import cv2

    interp = cv2.INTER_AREA if mask.shape[0] > size else cv2.INTER_LINEAR  # linear: no overshoot past 0..1
    return cv2.resize(mask, (size, size), interpolation=interp)


class Step(Protocol):
    """One stage of the per-frame work; see the module docstring for the contract."""

    name: str  # for timings and the registry
    sees_warmup: bool  # True for steps that carry state over time: they also run on warm-up frames
    own_thread: bool  # True for a costly step the staged loop runs on a thread of its own (convert/stages.py)

    def __call__(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


class BaseStep:
    """Defaults for a step: no warm-up frames, nothing to close."""

    name = "step"
    sees_warmup = False
    own_thread = False

    def __call__(self, batch: Batch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FaceStep(BaseStep):
    """A step that works on one swapped face at a time, in pixels (colour, sharpen, ...)."""

    def __call__(self, batch: Batch) -> None:
        batch.to_pixels()
        for item in batch.items:
            for face in item.faces:
                self.apply(face, item)

    def apply(self, face: FaceWork, item: FrameWork) -> None:
        raise NotImplementedError


class TensorStep(BaseStep):
    """A step on the model's output tensors before they become pixels (an upscaler: N×3×s×s -> N×3×S×S)."""

    def __call__(self, batch: Batch) -> None:
        if batch.face_tensor is not None:
            batch.face_tensor = self.apply(batch.face_tensor)

    def apply(self, faces):
        """faces: float N×3×s×s in [0, 1] on the model's device -> float N×3×S×S in [0, 1]."""
        raise NotImplementedError


@dataclass
class Timings:
    """Seconds spent per step (and in decoding and writing), summed over a run."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


Sink = Callable[[FrameWork], None]


def run_frames(frames: Iterable[Frame], steps: list[Step], sink: Sink, batch_size: int = 8,
               timings: Timings | None = None, warmup: Callable[[Frame], bool] | None = None,
               in_stages: bool = False) -> None:
    """Run every frame through `steps` in batches of `batch_size` and hand each to `sink`, in order.

    `sink(item)` gets each non-warm-up frame once all steps ran on its batch; `item.output` is the result.
    `warmup(frame) -> True` marks frames that only steps with `sees_warmup` see (Ray segments warm their
    trackers up on earlier video). Frames are pulled lazily, so memory holds one batch, whatever the length.
    `in_stages`: run groups of steps on threads of their own, overlapping batches (`stages`); the sink still
    runs on this thread and gets the same frames with the same pixels, in the same order.
    """
    timings = timings if timings is not None else Timings()
    if in_stages:
        from .stages import run_frames_in_stages

        run_frames_in_stages(frames, steps, sink, batch_size, timings, warmup)
        return
    for pair in batches(frames, batch_size, timings, warmup):
        run_steps(pair, steps, timings)
        emit(pair, sink, timings)


def batches(frames: Iterable[Frame], batch_size: int, timings: Timings,
            warmup: Callable[[Frame], bool] | None = None) -> Iterator[tuple[Batch, Batch]]:
    """The frames as (every frame, the frames to swap) batches; the two are one object without warm-up frames.
    Time spent pulling frames counts as "decode"."""
    items: list[FrameWork] = []
    t = time.perf_counter()
    for frame in frames:
        timings.add("decode", t)
        items.append(FrameWork(frame, warmup=bool(warmup and warmup(frame))))
        if len(items) >= batch_size:
            yield _pair(items)
            items = []
        t = time.perf_counter()
    if items:
        yield _pair(items)


def _pair(items: list[FrameWork]) -> tuple[Batch, Batch]:
    everything = Batch(items)
    return everything, (Batch([i for i in items if not i.warmup]) if any(i.warmup for i in items) else everything)


def run_steps(pair: tuple[Batch, Batch], steps: list[Step], timings: Timings,
              stopped: Callable[[], bool] | None = None) -> None:
    """Each step over the batch in turn: steps that follow time see warm-up frames too, the others do not.
    `stopped() -> True` leaves the remaining steps out (a staged run that is failing or interrupted)."""
    everything, swapped = pair
    for step in steps:
        if stopped is not None and stopped():
            return
        t = time.perf_counter()
        step(everything if step.sees_warmup else swapped)
        timings.add(step.name, t)


def emit(pair: tuple[Batch, Batch], sink: Sink, timings: Timings) -> None:
    """Hand the swapped frames of a finished batch to the sink, in order ("write" time)."""
    for item in pair[1].items:
        t = time.perf_counter()
        sink(item)
        timings.add("write", t)
