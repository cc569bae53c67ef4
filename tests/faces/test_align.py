import numpy as np

from masquerade.faces.align import alignment_matrix, invert, template_points, transform_points, umeyama, warp_to_crop, warp_to_frame
from masquerade.faces.align import ALIGN_INDICES


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(30, 2))
    a = np.deg2rad(23.0)
    m = np.array([[1.7 * np.cos(a), -1.7 * np.sin(a), 12.0], [1.7 * np.sin(a), 1.7 * np.cos(a), -4.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(umeyama(src, dst), m, atol=1e-9)
    assert np.allclose(invert(m) @ np.append(dst[0], 1.0), src[0], atol=1e-9)


def test_alignment_maps_the_template_face_onto_itself():
    landmarks = np.zeros((478, 2))
    landmarks[ALIGN_INDICES] = template_points(256, "face") * 0.5 + 40  # the template, scaled and moved
    m = alignment_matrix(landmarks, 256, "face")
    assert np.allclose(transform_points(landmarks[ALIGN_INDICES], m), template_points(256), atol=1e-3)


def test_coverages_nest_and_centre():
    face, whole, head = (template_points(256, c) for c in ("face", "whole_face", "head"))
    spread = [np.ptp(p[:, 0]) for p in (face, whole, head)]
    assert spread[0] > spread[1] > spread[2]  # wider coverage -> smaller face in the crop
    assert abs(face[:, 0].mean() - 128) < 8


def test_warp_round_trip_is_exact_away_from_borders():
    rng = np.random.default_rng(1)
    frame = (rng.uniform(0, 255, (240, 320, 3))).astype(np.uint8)
    import cv2

    frame = cv2.GaussianBlur(frame, (0, 0), 3)  # smooth, so bilinear resampling loses little
    a = np.deg2rad(10)
    m = np.array([[np.cos(a), -np.sin(a), -80.0], [np.sin(a), np.cos(a), -30.0]]) * 1.0
    crop = warp_to_crop(frame, m, 128)
    back = warp_to_frame(crop, m, 320, 240)
    inside = warp_to_frame(np.full((128, 128), 255, np.uint8), m, 320, 240) == 255
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inside.sum() > 5000
    assert np.abs(back[inside].astype(int) - frame[inside].astype(int)).mean() < 1.5


def test_blinks_and_speech_do_not_move_the_alignment():
    """Closing the eyelids and opening the mouth leaves the matrix exactly as it was (rigid points only)."""
    from masquerade.faces import regions
    from masquerade.faces.align import RIGID_POINTS

    rng = np.random.default_rng(2)
    landmarks = rng.uniform(100, 200, size=(478, 2))
    landmarks[ALIGN_INDICES] = template_points(256) * 0.6 + 50
    before = alignment_matrix(landmarks, 256)
    moved = landmarks.copy()
    lids = np.setdiff1d(np.concatenate([regions.LEFT_EYE, regions.RIGHT_EYE]), list(RIGID_POINTS.values()))
    assert len(lids) >= 28  # the eyelid contours are there to move, just not used
    moved[lids, 1] += 6.0  # a blink: every lid point moves down by several pixels
    moved[regions.LIPS, 1] += rng.uniform(-8, 8, len(regions.LIPS))  # speech
    assert np.allclose(alignment_matrix(moved, 256), before, atol=1e-12)
    # Control: a nose that moves does move the crop.
    moved[regions.NOSE, 1] += 6.0
    assert not np.allclose(alignment_matrix(moved, 256), before, atol=1e-3)


def test_resize_crop_is_the_identity_at_size_and_averages_when_shrinking():
    from masquerade.faces import resize_crop

    rng = np.random.default_rng(3)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert resize_crop(crop, 128) is crop
    small = resize_crop(crop, 64)
    block_means = crop.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    assert small.shape == (64, 64, 3) and np.abs(small - block_means).max() <= 0.5 + 1e-9
    assert resize_crop(small, 128).shape == (128, 128, 3)
