"""Scaling out: Ray batch jobs for extract and convert (`--ray`), and the multi-GPU training interface.

Nothing here imports Ray at import time; the functions do, when called. Install with
`pip install 'masquerade[scale]'`. See docs/scaling.md.
"""

from .cluster import RayOptions, TaskFailed
from .convert_jobs import RayConvertSummary, ray_convert
from .extract_jobs import ray_extract

__all__ = ["RayConvertSummary", "RayOptions", "TaskFailed", "ray_convert", "ray_extract"]
