"""Fixtures for provenance tests: an isolated MASQUERADE_HOME and images that ship in installed packages."""

from __future__ import annotations

import numpy as np
import pytest

from masquerade.provenance import corpus


@pytest.fixture(autouse=True)
def masquerade_home(tmp_path, monkeypatch):
    """Every test gets its own config folder, so keys are made fresh and never touch the real one."""
    home = tmp_path / "home"
    monkeypatch.setenv("MASQUERADE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Natural photos bundled with scikit-image and matplotlib (no downloads)."""
    named = corpus.named_natural_images()
    return {n: named[n] for n in ("astronaut", "coffee", "chelsea", "rocket", "camera", "grace_hopper")}


@pytest.fixture(scope="session")
def synthetic_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:360, 0:480]
    gradient = np.stack([xx * 255 // 479, yy * 255 // 359, (xx + yy) * 255 // 838], -1).astype(np.uint8)
    return {
        "noise": rng.integers(0, 256, (360, 480, 3), dtype=np.uint8),
        "gradient": gradient,
        "flat_grey": np.full((360, 480, 3), 128, np.uint8),
    }
