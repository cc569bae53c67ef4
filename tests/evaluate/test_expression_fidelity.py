import numpy as np
import pytest

from masquerade.evaluate.expression_fidelity import blink_agreement, blinks, correlation, expression_scores
from masquerade.faces.landmark_measures import LEFT_EYE_PAIRS, MOUTH_PAIRS, RIGHT_EYE_PAIRS, eye_opening, mouth_opening


def face(mouth: float, eye: float, scale: float = 40.0, shift=(0.0, 0.0), rng=None) -> np.ndarray:
    """478 landmarks with the given mouth and eye openings (face-size units) at a given face size."""
    rng = rng or np.random.default_rng(0)
    pts = rng.uniform(0, 1, (478, 2)) * scale
    pts[33], pts[263] = (0.0, 0.0), (scale, 0.0)
    for i, pairs in enumerate((RIGHT_EYE_PAIRS, LEFT_EYE_PAIRS)):
        for j, (up, low) in enumerate(pairs):
            x = (0.1 + 0.6 * i + 0.05 * j) * scale
            pts[up], pts[low] = (x, 0.0), (x, eye * scale)
    for j, (up, low) in enumerate(MOUTH_PAIRS):
        x = (0.4 + 0.1 * j) * scale
        pts[up], pts[low] = (x, scale), (x, scale + mouth * scale)
    return pts + np.asarray(shift)


def talking(frames: int = 90, seed: int = 1):
    """A source clip: mouth opening and closing at its own pace, eyes open with three blinks."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    mouth = 0.2 + 0.15 * np.sin(t / 4.0) + 0.02 * rng.standard_normal(frames)
    mouth = np.clip(mouth, 0, None)
    eye = np.full(frames, 0.09) + 0.003 * rng.standard_normal(frames)
    for b in (20, 50, 75):
        eye[b:b + 3] = 0.015
    return mouth, eye


def test_openings_are_normalised_by_face_size():
    small, big = face(0.3, 0.08, scale=40), face(0.3, 0.08, scale=120, shift=(50, 20))
    assert mouth_opening(small) == pytest.approx(0.3) and mouth_opening(big) == pytest.approx(0.3)
    assert eye_opening(small) == pytest.approx(0.08) and eye_opening(big) == pytest.approx(0.08)


def test_identical_sequences_score_one():
    mouth, eye = talking()
    seq = [face(m, e) for m, e in zip(mouth, eye)]
    s = expression_scores(seq, seq)
    assert s.mouth_corr == pytest.approx(1.0) and s.eye_corr == pytest.approx(1.0)
    assert s.blink_agreement == 1.0 and s.source_blinks == 3
    assert s.mouth_error == pytest.approx(0.0) and s.frames == len(seq)


def test_output_whose_mouth_ignores_the_source_scores_badly():
    mouth, eye = talking()
    src = [face(m, e) for m, e in zip(mouth, eye)]
    # the "mean face" failure: mouth half-open in every frame, eyes never close
    stuck = [face(0.2 + 0.005 * np.sin(i), 0.09) for i in range(len(mouth))]
    s = expression_scores(src, stuck)
    assert abs(s.mouth_corr) < 0.3 and s.blink_agreement == 0.0 and s.eye_corr < 0.3
    # a mouth moving at another pace (not following the source) is no better
    other, _ = talking(seed=5)
    wrong = [face(m, e) for m, e in zip(np.roll(other, 13), eye)]
    assert expression_scores(src, wrong).mouth_corr < 0.3


def test_a_faithful_but_damped_output_still_correlates():
    mouth, eye = talking()
    src = [face(m, e) for m, e in zip(mouth, eye)]
    out = [face(0.1 + 0.5 * m, 0.01 + 0.8 * e, scale=55) for m, e in zip(mouth, eye)]
    s = expression_scores(src, out)
    assert s.mouth_corr > 0.99 and s.eye_corr > 0.99 and s.blink_agreement == 1.0
    assert s.mouth_error > 0.03  # the damping shows in the absolute error


def test_frames_without_a_face_are_skipped():
    mouth, eye = talking()
    src = [face(m, e) for m, e in zip(mouth, eye)]
    out = [None if i % 7 == 0 else lm for i, lm in enumerate(src)]
    s = expression_scores(src, out)
    assert s.mouth_corr == pytest.approx(1.0) and s.frames == len(src) - len(range(0, len(src), 7))


def test_blink_detection_and_matching_with_tolerance():
    eye = np.full(40, 0.09)
    eye[10:12] = 0.02
    eye[30:33] = 0.02
    assert blinks(eye) == [(10, 11), (30, 32)]
    eye[34] = 0.02  # a lid flutter one open frame after a closure is the same blink
    assert blinks(eye) == [(10, 11), (30, 34)]
    late = np.full(40, 0.09)
    late[13:15] = 0.02  # one frame past the tolerance window's edge is still inside (10..11 + 2)
    assert blink_agreement(eye, late) == 0.5
    assert np.isnan(blink_agreement(np.full(40, 0.09), late))  # a source that never blinks: undefined


def test_correlation_edge_cases():
    assert correlation(np.ones(10), np.ones(10)) == 1.0
    assert np.isnan(correlation(np.ones(10), np.arange(10.0)))
    assert correlation(np.arange(10.0), np.full(10, 3.0)) == 0.0
    assert np.isnan(correlation(np.arange(2.0), np.arange(2.0)))
    with pytest.raises(ValueError):
        expression_scores([face(0.1, 0.1)], [])


def smiling(lift: float, roll_deg: float = 0.0) -> np.ndarray:
    """Landmarks whose mouth corners sit `lift` face sizes above the upper lip's centre, rolled in the frame."""
    pts = face(0.1, 0.09)
    pts[13] = (20.0, 40.0)
    pts[61], pts[291] = (8.0, 40.0 - lift * 40), (32.0, 40.0 - lift * 40)
    a = np.radians(roll_deg)
    return (pts - 20.0) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + 20.0


def test_the_smile_is_read_off_the_corners_lift_and_tells_a_smile_from_pursed_lips():
    from masquerade.faces.landmark_measures import corner_lift

    assert corner_lift(smiling(0.05)) == pytest.approx(0.05) and corner_lift(smiling(-0.03)) == pytest.approx(-0.03)
    assert corner_lift(smiling(0.05, roll_deg=15)) == pytest.approx(0.05)  # a tilted head: the same smile
    lifts = 0.04 * np.sin(np.arange(60) / 5.0)
    src = [smiling(v) for v in lifts]
    follows = expression_scores(src, [smiling(0.7 * v, roll_deg=5) for v in lifts])
    pursed = expression_scores(src, [smiling(-0.5 * abs(v)) for v in lifts])  # corners drawn down, never up
    assert follows.smile_corr > 0.99 and pursed.smile_corr < 0.3
