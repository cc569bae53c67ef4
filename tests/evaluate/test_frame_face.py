"""`evaluate` reads one face per frame, the largest, for every measure: identity, pose, expression and the
flicker region all describe the same person when a frame holds several (the flicker region once came from
whichever face the detector listed first)."""

from types import SimpleNamespace

import numpy as np

from masquerade.evaluate.run import face_region, largest


def _face(cx: float, cy: float, half: float) -> SimpleNamespace:
    """A detection stand-in: a square of landmarks around (cx, cy), `size` its side as the detector's is."""
    corners = np.array([[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]])
    return SimpleNamespace(landmarks=corners, size=2 * half)


def test_the_flicker_region_is_the_largest_face_even_when_a_small_one_is_found_first():
    small, big = _face(40, 40, 10), _face(200, 120, 60)
    face = largest([small, big])
    assert face is big
    region = face_region(face, 320, 240)
    assert region.shape == (240, 320)
    assert region[120, 200] == 255  # inside the big face
    assert region[40, 40] == 0  # not the small face found first
    assert (region > 0).sum() > 100 * 100  # about the big face's 120 px square


def test_no_face_is_an_empty_region_and_no_face():
    assert largest([]) is None
    region = face_region(None, 64, 48)
    assert region.shape == (48, 64) and not region.any()
