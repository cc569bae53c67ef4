"""Preview grids (A, A→A, A→B, B, B→B, B→A per row) and the metrics log.

Previews hold synthetic pixels, so they are written through `masquerade.provenance.writer` like every other
synthetic output (watermark + signed manifest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.base import FaceAutoencoder

COLUMNS = ("A", "A→A", "A→B", "B", "B→B", "B→A")


@torch.no_grad()
def preview_grid(net: FaceAutoencoder, a: torch.Tensor, b: torch.Tensor, ea: torch.Tensor | None = None,
                 eb: torch.Tensor | None = None) -> np.ndarray:
    """uint8 RGB (rows·S)×(6·S)×3 for float faces N×3×S×S in [0, 1]; rows = min(len(a), len(b)). `ea`, `eb`:
    the faces' expression measures N×11, for a net with expression channels."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ea, eb = (None if e is None else e[:n] for e in (ea, eb))
    was_training = net.training
    net.eval()
    try:
        cols = [a, net.render(a, "a", ea)[0], net.render(a, "b", ea, "a")[0],
                b, net.render(b, "b", eb)[0], net.render(b, "a", eb, "b")[0]]
    finally:
        net.train(was_training)
    grid = torch.cat([torch.cat([c.float().clamp(0, 1) for c in cols], dim=3)[i] for i in range(n)], dim=1)
    return (grid.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def write_preview(path: Path, rgb: np.ndarray, model_hash: str) -> Path:
    """Watermark, sign and atomically write a preview PNG via the provenance writer."""
    from ..provenance.writer import Provenance, write_synthetic_image

    return write_synthetic_image(path, rgb, Provenance(model_hash=model_hash, source=None))


class MetricsLog:
    """Append-only `metrics.jsonl`: one JSON object per line, flushed so a crash loses at most one line."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop lines past `step` (written after the checkpoint a resumed run restarts from)."""
        if not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        keep = [ln for ln in lines if _step_of(ln) <= step]
        if len(keep) != len(lines):
            from ..models.store import atomic_write_bytes

            atomic_write_bytes(self.path, "".join(ln + "\n" for ln in keep).encode())


def _step_of(line: str) -> float:
    """A metrics line's step; a torn or blank line (crash mid-write) counts as past any step."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
