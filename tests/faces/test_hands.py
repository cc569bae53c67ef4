"""Hands as occluders: landmarks -> filled regions, the searched neighbourhood, and MediaPipe on real frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masquerade.faces.hands import FINGERS, HandFinder, hand_region, hands_mask, neighbourhood

CLIPS = Path("../shared/data/occlusion")


def open_hand(cx: float = 100, cy: float = 120, scale: float = 1.0) -> np.ndarray:
    """21 landmarks of an upright open hand (MediaPipe's order), fingers pointing up."""
    pts = [(0, 40)]  # wrist
    pts += [(-18, 30), (-28, 18), (-36, 6), (-42, -4)]  # thumb
    for x in (-12, 0, 12, 24):  # index, middle, ring, pinky: knuckle then three joints up
        pts += [(x, 0), (x, -15), (x, -27), (x, -37)]
    return np.array(pts, np.float32) * scale + np.float32([cx, cy])


def test_a_hand_region_covers_palm_and_every_fingertip_and_little_else():
    pts = open_hand()
    mask = hand_region(pts, 240, 200)
    for tip in (4, 8, 12, 16, 20):
        x, y = np.round(pts[tip]).astype(int)
        assert mask[y, x] == 255, tip
    palm = np.round(pts[[0, 5, 17]].mean(0)).astype(int)
    assert mask[palm[1], palm[0]] == 255
    assert mask[5, 5] == 0 and mask[235, 195] == 0  # far corners stay clear
    x0, y0 = pts.min(0) - 20
    x1, y1 = pts.max(0) + 20
    ys, xs = np.nonzero(mask)
    assert xs.min() >= x0 and xs.max() <= x1 and ys.min() >= y0 and ys.max() <= y1  # dilated a little, no more


def test_between_spread_fingers_the_face_shows_through():
    pts = open_hand(scale=2.0)  # knuckles 24 px apart: the gap between two fingertips is not hand
    mask = hand_region(pts, 400, 300, grow=0.1)
    gap = np.round((pts[4] + pts[8]) / 2).astype(int)  # between thumb tip and index tip
    assert mask[gap[1], gap[0]] == 0
    assert len(FINGERS) == 6


def test_the_searched_square_holds_the_face_and_room_below_it():
    m = neighbourhood((100, 100, 150, 160))  # a 50×60 face
    corners = np.array([[100, 100, 1], [150, 160, 1], [125, 200, 1]], np.float64) @ m.T
    assert (corners >= 0).all() and (corners <= 256).all()  # the face and a hand 40 px below the chin fit


def test_no_hand_in_a_portrait_without_one():
    from masquerade.samples import make_clip

    frame = make_clip("astronaut", frames=1, seed=3).frames[0]
    finder = HandFinder()
    try:
        h, w = frame.shape[:2]
        assert finder.find(frame, (w * 0.3, h * 0.2, w * 0.7, h * 0.6)) == []
    finally:
        finder.close()
    assert hands_mask([], 10, 10).max() == 0


@pytest.mark.skipif(not (CLIPS / "bird.mkv").is_file(), reason="shared occlusion clips not present")
def test_the_real_hand_over_the_mouth_is_found():
    from masquerade.faces import create_detector
    from masquerade.media import read_frames

    frames = [f.image for f in read_frames(CLIPS / "bird.mkv")]
    detector, finder = create_detector("mediapipe"), HandFinder()
    try:
        found = {}
        for i in (5, 30):  # before the hand comes up, and with the fingers on the lips
            face = detector.detect(frames[i])[0]
            found[i] = (face, finder.find(frames[i], face.box))
    finally:
        detector.close()
        finder.close()
    assert found[5][1] == []
    face, hands = found[30]
    assert len(hands) == 1
    mouth = face.landmarks[13]  # upper inner lip
    region = hands_mask(hands, *frames[30].shape[:2])
    assert region[int(mouth[1]), int(mouth[0])] == 255  # the fingers on the mouth are hand, not face
