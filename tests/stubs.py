"""Test-only stand-ins (importable from any test: pytest puts this folder on sys.path via conftest.py)."""

from __future__ import annotations

from types import SimpleNamespace

from masquerade.faces.align import TEMPLATE_NAME


class PerfectModel:
    """A 'swap model' that returns its input face and a full mask: pasting it back must reproduce the frame."""

    def __init__(self, size: int = 128, template: str = TEMPLATE_NAME):
        self.config = SimpleNamespace(size=size, coverage="face", template=template, architecture="identity-stub")
        self.faceset_size = None  # crops cut at `size` (a folder's model has its face sets' sizes here)
        self.hash = "5eed" * 16
        self.calls = 0

    def swap(self, faces, direction):
        import torch

        self.calls += 1
        return faces.clone(), torch.ones_like(faces[:, :1])
