"""Per-face work of convert: find and follow faces, align, run the model, and paste the result back.

Every face goes through the same list of steps (`CROP_STEPS` in crop space, then `paste`), so adding a
step is one function in one list. Stateful parts (tracker, smoothers) live on the `Swapper` for one clip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..faces import create_detector
from ..faces.align import alignment_matrix, transform_points, warp_to_crop, warp_to_frame
from ..faces.masks import hull_mask
from ..records import Detection
from . import blend, color
from .config import ConvertConfig
from .smoothing import OneEuroFilter
from .tracking import FaceTracker, select


@dataclass
class FaceJob:
    """One face of one frame on its way through the swap."""

    slot: int  # position of its frame in the current batch
    track: int
    landmarks: np.ndarray  # frame pixels, smoothed
    matrix: np.ndarray  # frame -> model-size crop
    crop: np.ndarray  # the original aligned face, S×S×3 uint8
    hull: np.ndarray  # landmark-hull mask in the crop, S×S float32 0..1
    face: np.ndarray | None = None  # the model's face, S×S×3 uint8
    mask: np.ndarray | None = None  # the model's mask ∩ hull, S×S float32 0..1


def match_color(job: FaceJob, config: ConvertConfig) -> None:
    job.face = color.color[config.color](job.face, job.crop, job.mask)


def sharpen_face(job: FaceJob, config: ConvertConfig) -> None:
    if config.sharpen > 0:
        job.face = blend.sharpen(job.face, config.sharpen)


CROP_STEPS: list[Callable[[FaceJob, ConvertConfig], None]] = [match_color, sharpen_face]


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


class Swapper:
    """Swaps faces frame by frame for one clip (or one still) with one model."""

    def __init__(self, model, config: ConvertConfig, video: bool, timings: Timings,
                 reference: Callable[[list[tuple[int, Detection]], np.ndarray], list[int]] | None = None):
        self.model, self.config, self.video, self.timings = model, config, video, timings
        self.size = int(model.config.size)
        self.coverage = model.config.coverage
        self.detector = create_detector("mediapipe", video=video, max_faces=4)
        self.tracker = FaceTracker()  # each track carries its own landmark smoother in `state`
        self.reference = reference

    def close(self) -> None:
        self.detector.close()

    # -- before the model ------------------------------------------------------------------------------
    def prepare(self, image: np.ndarray, timestamp: float, slot: int) -> list[FaceJob]:
        t = time.perf_counter()
        detections = self.detector.detect(image)
        t = self.timings.add("detect", t)
        policy = int(self.config.face) if str(self.config.face).isdigit() else self.config.face
        if self.video:
            tracks = self.tracker.update(detections)
            chosen = self.reference(tracks, image) if self.reference else select(self.tracker, tracks, policy)
        else:  # stills and sparse preview frames: no history, so choose among this frame's faces alone
            tracks = list(enumerate(sorted(detections, key=lambda d: d.box[0])))
            chosen = self.reference(tracks, image) if self.reference else _select_still(tracks, policy)
        jobs = []
        for track_id, det in tracks:
            if track_id not in chosen:
                continue
            points = det.landmarks
            if self.video and self.config.smooth:
                smoother = self.tracker.tracks[track_id].state.setdefault("smoother", OneEuroFilter(
                    min_cutoff=self.config.smooth_min_cutoff, beta=self.config.smooth_beta))
                points = smoother(points, timestamp)
            matrix = alignment_matrix(points, self.size, self.coverage)
            crop = warp_to_crop(image, matrix, self.size)
            hull = hull_mask(transform_points(points, matrix), self.size).astype(np.float32) / 255.0
            jobs.append(FaceJob(slot, track_id, points, matrix, crop, hull))
        self.timings.add("align", t)
        return jobs

    # -- the model -------------------------------------------------------------------------------------
    def run_model(self, jobs: list[FaceJob]) -> None:
        if not jobs:
            return
        import torch

        t = time.perf_counter()
        batch = torch.from_numpy(np.stack([j.crop for j in jobs])).permute(0, 3, 1, 2).float().div_(255.0)
        faces, masks = self.model.swap(batch, self.config.direction)
        faces = (faces.float().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy())
        masks = masks.float().clamp(0, 1)[:, 0].cpu().numpy()
        for job, face, mask in zip(jobs, faces, masks):
            job.face = np.ascontiguousarray(face)
            job.mask = np.minimum(mask, job.hull)
        self.timings.add("model", t)

    # -- after the model -------------------------------------------------------------------------------
    def finish(self, image: np.ndarray, jobs: list[FaceJob]) -> np.ndarray:
        """Apply the crop steps and paste every face of this frame back; returns a new frame."""
        t = time.perf_counter()
        out = image
        for job in jobs:
            for step in CROP_STEPS:
                step(job, self.config)
            out = paste(out, job, self.config)
        self.timings.add("blend", t)
        return out


def _select_still(tracks: list[tuple[int, Detection]], policy) -> list[int]:
    """`--face` on a single picture: largest, all, or the N-th face from the left."""
    if not tracks:
        return []
    if policy == "all":
        return [i for i, _ in tracks]
    if policy == "largest":
        return [max(tracks, key=lambda t: t[1].size)[0]]
    return [policy] if policy < len(tracks) else []


def _roi(matrix: np.ndarray, size: int, width: int, height: int, margin: int = 4) -> tuple[int, int, int, int]:
    """Frame rectangle covered by the crop (its four corners mapped back), clipped to the frame."""
    from ..faces.align import invert

    corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64), invert(matrix))
    x0, y0 = np.floor(corners.min(0)).astype(int) - margin
    x1, y1 = np.ceil(corners.max(0)).astype(int) + margin
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def paste(image: np.ndarray, job: FaceJob, config: ConvertConfig) -> np.ndarray:
    """Warp the swapped face and its mask back into the frame (only the face's rectangle) and blend."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = _roi(job.matrix, job.face.shape[0], w, h)
    if x1 <= x0 or y1 <= y0:
        return image
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    local = job.matrix @ shift  # ROI pixels -> crop pixels
    face = cv2.warpAffine(job.face, local, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    mask = warp_to_frame(job.mask, local, x1 - x0, y1 - y0)
    face_width = float(np.ptp(job.landmarks[:, 0])) or 1.0
    mask = blend.shape_mask(mask, erode=int(round(config.erode / 100 * face_width)),
                            blur=int(round(config.blur / 100 * face_width)))
    out = image.copy()
    out[y0:y1, x0:x1] = blend.blend[config.blend](image[y0:y1, x0:x1], face, mask)
    return out
