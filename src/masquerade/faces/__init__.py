"""Face building blocks: detectors (registry), landmark regions, the alignment template, warps and masks."""

from . import mediapipe_backend  # noqa: F401  (registers "mediapipe")
from .align import resize_crop
from .detector import FaceDetector, create_detector, detectors

__all__ = ["FaceDetector", "create_detector", "detectors", "resize_crop"]
