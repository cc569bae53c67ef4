"""Plain records passed between stages.

Images are RGB uint8 H×W×3 numpy arrays. Points are float32 (x, y) in pixels of the image they belong to.
A face's `matrix` is the 2×3 similarity transform from frame pixels to aligned-crop pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class MediaInfo:
    """What a media source is, known before decoding it."""

    path: str
    kind: str  # "video" | "image" | "folder"
    width: int
    height: int
    fps: float | None  # None for stills
    frame_count: int | None  # best estimate; None when the container does not say
    has_audio: bool = False


@dataclass(frozen=True)
class Frame:
    """One decoded picture and where it came from."""

    index: int
    timestamp: float  # seconds from the start of the source (0 for stills)
    image: np.ndarray  # H×W×3 uint8 RGB
    source: str  # path of the file the frame came from
    name: str = ""  # for image folders: the file name; empty for video frames


@dataclass(frozen=True)
class Detection:
    """A face found in a frame: box, landmarks and how sure the detector is."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float
    landmarks: np.ndarray  # K×2 float32 in frame pixels (K = 478 for MediaPipe's mesh)
    depth: np.ndarray | None = None  # K float32: the mesh's relative depth, frame pixels, + away from the camera

    @property
    def points3d(self) -> np.ndarray | None:
        """K×3 (x, y, depth) in frame pixels for head pose, None when the detector gives no depth."""
        if self.depth is None:
            return None
        return np.column_stack([self.landmarks, self.depth])

    @property
    def size(self) -> float:
        """Side of the box's bounding square, for min-size filtering and ranking."""
        x0, y0, x1, y1 = self.box
        return float(max(x1 - x0, y1 - y0))


@dataclass(frozen=True)
class AlignedFace:
    """A face cut out of a frame along the canonical template, with its mask and the way back."""

    detection: Detection
    matrix: np.ndarray  # 2×3 float64, frame -> crop
    crop: np.ndarray  # S×S×3 uint8 RGB
    mask: np.ndarray  # S×S uint8, 255 inside the landmark hull
    blur: float  # variance of the Laplacian inside the mask; low = blurry


ProgressFn = Callable[[str, int, "int | None", Mapping[str, float]], None]
"""progress(task, done, total, stats): long loops report through this; front doors render it."""


def no_progress(task: str, done: int, total: int | None, stats: Mapping[str, float]) -> None:
    """Default progress callback: stay silent."""


@dataclass
class Tally:
    """Counts for a stage's summary (frames read, faces kept, rejections by reason)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)
