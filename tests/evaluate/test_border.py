"""The colour seam at the paste border (`evaluate.border`): skin to skin across the face's edge."""

from __future__ import annotations

import numpy as np
import pytest

from masquerade.evaluate.border import border_colour


def oval(n: int = 478, centre=(100.0, 100.0), radii=(50.0, 65.0)) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radii[0] * np.cos(t), centre[1] + radii[1] * np.sin(t)], 1)


def test_a_face_pasted_in_another_shade_shows_at_the_border_and_the_same_skin_does_not():
    rng = np.random.default_rng(0)
    skin = np.array([200, 150, 120], np.float64)
    frame = np.clip(skin + rng.normal(0, 3, (200, 200, 3)), 0, 255).astype(np.uint8)  # skin everywhere
    frame[:25] = (40, 30, 20)  # dark hair at the top: not skin, left out
    lm = oval()
    inside = np.zeros((200, 200), bool)
    yy, xx = np.mgrid[:200, :200]
    inside[((xx - 100) / 50) ** 2 + ((yy - 100) / 65) ** 2 <= 1] = True
    orange = frame.copy()
    orange[inside] = np.clip(orange[inside].astype(int) + (18, 0, -18), 0, 255).astype(np.uint8)
    seam, raw, natural = border_colour(frame, orange, lm)
    same = border_colour(frame, frame.copy(), lm)[0]
    assert natural < 1.0 and same < 1e-6  # the same skin on both sides
    assert seam > 5.0 and raw == pytest.approx(seam, abs=1.0)
    shaded = np.clip(frame * np.linspace(1.0, 0.6, 200)[None, :, None], 0, 255).astype(np.uint8)  # light falls off
    seam, raw, natural = border_colour(shaded, shaded.copy(), lm)
    assert seam < 1e-6 and raw == pytest.approx(natural) and natural > 1  # the skin's own change is no seam
    hair_only = frame.copy()
    hair_only[:25] = (200, 40, 40)  # the output changes only what is not skin in the source: not a seam
    assert border_colour(frame, hair_only, lm)[0] < 1.0
    assert np.isnan(border_colour(frame, frame, oval(radii=(1.0, 1.0)))[0])  # a face too small to read
