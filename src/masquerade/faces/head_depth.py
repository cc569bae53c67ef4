"""A typical face's depth at each of the mesh's 478 points, for turning a face set's 2-D faces a little in 3-D.

Why: a target filmed looking straight at the camera gives its decoder no example of that person with the head
tilted, so a swap keeps the target's usual pose whatever the source does (stop 16 measured a pitch correlation
of 0.18 with the source). Training can show it tilted faces if it can move each landmark as a turned head
would, which needs each point's depth; the face sets store 2-D landmarks only, and depth varies little from
face to face compared with the few degrees a training turn uses. So one typical depth profile is shipped,
measured by `measure` from the package's own sample portraits (the mesh's depth, rotated to face the camera
squarely, in face widths, + away from the camera, zero at the points' mean) and stored as JSON.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import regions

_FILE = Path(__file__).with_name("head_depth.json")


@lru_cache(maxsize=1)
def typical_depth() -> np.ndarray:
    """float32 (478,): depth per mesh point in face widths, + away from the camera, mean 0."""
    return np.asarray(json.loads(_FILE.read_text())["depth"], np.float32)


def head_axes(points3d: np.ndarray) -> np.ndarray:
    """3×3 rotation whose columns are the head's across, down and into-the-head axes in camera coordinates
    (x right, y down, z away), from the mesh's 3-D points (`Detection.points3d`)."""
    p = np.asarray(points3d, np.float64)
    across = p[regions.HEAD_LEFT].mean(0) - p[regions.HEAD_RIGHT].mean(0)
    down = p[regions.CHIN] - p[regions.FOREHEAD]
    x = across / np.linalg.norm(across)
    y = down - x * (down @ x)
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def squared_up(points3d: np.ndarray) -> np.ndarray:
    """K×3 mesh points (x, y, depth) turned to face the camera squarely, in face widths, centred on their mean."""
    p = np.asarray(points3d, np.float64)
    p = (p - p.mean(0)) @ head_axes(p)
    return p / np.ptp(p[:, 0])


def measure() -> np.ndarray:
    """The typical depth, from the sample portraits (what `head_depth.json` holds; rerun to regenerate)."""
    from ..samples import PORTRAITS, portrait
    from .detector import create_detector

    detector = create_detector(video=False)
    try:
        depths = [squared_up(detector.detect(portrait(name))[0].points3d)[:, 2] for name in PORTRAITS]
    finally:
        detector.close()
    depth = np.mean(depths, axis=0)
    return (depth - depth.mean()).astype(np.float32)


if __name__ == "__main__":  # python -m masquerade.faces.head_depth
    _FILE.write_text(json.dumps({"about": "faces.head_depth: mesh depth per point in face widths, + away from the "
                                          "camera, mean 0; measured from the sample portraits",
                                 "depth": [round(float(v), 4) for v in measure()]}) + "\n")
