"""Stage 3: swap faces in media. Building blocks: colour matching, blending, smoothing, tracking."""

from .config import ConvertConfig
from .run import ConvertSummary, convert

__all__ = ["ConvertConfig", "ConvertSummary", "convert"]
