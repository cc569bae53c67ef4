"""Shared fixtures: synthetic clips of two public-domain portraits and face sets extracted from them.

Session-scoped because extraction takes a few seconds; tests must not modify these folders (copy first).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep signing keys and other per-user state out of the real home directory."""
    monkeypatch.setenv("MASQUERADE_HOME", str(tmp_path_factory.getbasetemp() / "masquerade-home"))


def _clip(name: str, root: Path, frames: int, seed: int):
    from masquerade.samples import make_clip, write_clip

    clip = make_clip(name, frames=frames, seed=seed)
    path = write_clip(root / f"{name}.mp4", clip)
    return path, clip


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_a(media_dir):
    """(path, Clip) of a 24-frame astronaut clip with known transforms and an audio track."""
    return _clip("astronaut", media_dir, 24, seed=1)


@pytest.fixture(scope="session")
def clip_b(media_dir):
    return _clip("grace_hopper", media_dir, 24, seed=2)


def _extract(clip_path: Path, out: Path) -> Path:
    from masquerade.extract import ExtractConfig, extract

    extract([clip_path], out, ExtractConfig(size=128))
    return out


@pytest.fixture(scope="session")
def faceset_a(clip_a, tmp_path_factory) -> Path:
    """Face set (crop size 128, coverage face) of the astronaut clip; read-only for tests."""
    return _extract(clip_a[0], tmp_path_factory.mktemp("fs") / "astronaut")


@pytest.fixture(scope="session")
def faceset_b(clip_b, tmp_path_factory) -> Path:
    return _extract(clip_b[0], tmp_path_factory.mktemp("fs") / "grace_hopper")
