"""The face detector protocol and its registry.

A backend finds faces in an RGB frame and returns `Detection`s with dense landmarks in frame pixels.
Video mode may keep state between frames (tracking); `reset()` starts a new clip.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..records import Detection


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 frame, any order."""
        ...

    def reset(self) -> None:
        """Forget tracking state: the next frame starts a new clip."""
        ...

    def close(self) -> None:
        ...


DetectorFactory = Callable[..., FaceDetector]
detectors: dict[str, DetectorFactory] = {}


def register(name: str) -> Callable[[DetectorFactory], DetectorFactory]:
    def add(factory: DetectorFactory) -> DetectorFactory:
        detectors[name] = factory
        return factory

    return add


def create_detector(name: str = "mediapipe", video: bool = False, max_faces: int = 4,
                    min_score: float = 0.5) -> FaceDetector:
    """Build a registered backend; `video=True` asks for tracking mode where the backend has one."""
    if name not in detectors:
        from ..errors import MasqueradeError

        raise MasqueradeError(f"unknown detector {name!r}; choose one of: {', '.join(sorted(detectors))}")
    return detectors[name](video=video, max_faces=max_faces, min_score=min_score)


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)
