import numpy as np
import pytest

from masquerade.errors import ModelMismatchError
from masquerade.faces.align import (ALIGN_INDICES, TEMPLATE_NAME, TEMPLATES, alignment_matrix, get_template, invert,
                                    template_points, transform_points, umeyama, warp_to_crop, warp_to_frame)

V2 = "mediapipe-mean-v2-rigid"


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(30, 2))
    a = np.deg2rad(23.0)
    m = np.array([[1.7 * np.cos(a), -1.7 * np.sin(a), 12.0], [1.7 * np.sin(a), 1.7 * np.cos(a), -4.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(umeyama(src, dst), m, atol=1e-9)
    assert np.allclose(umeyama(src, dst, rng.uniform(0.1, 2.0, 30)), m, atol=1e-9)  # exact data: any weights
    assert np.allclose(invert(m) @ np.append(dst[0], 1.0), src[0], atol=1e-9)


def test_weighted_umeyama_ignores_points_of_zero_weight_and_matches_repeated_points():
    rng = np.random.default_rng(4)
    src = rng.uniform(0, 100, size=(20, 2))
    m = np.array([[0.8, -0.3, 5.0], [0.3, 0.8, 7.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    dst[:5] += rng.uniform(-30, 30, (5, 2))  # five points wildly off
    w = np.r_[np.zeros(5), np.ones(15)]
    assert np.allclose(umeyama(src, dst, w), m, atol=1e-9)
    assert not np.allclose(umeyama(src, dst), m, atol=1e-2)
    # An integer weight is the same as repeating the point that many times.
    dst = dst + rng.normal(0, 1, dst.shape)
    w = rng.integers(1, 4, 20)
    assert np.allclose(umeyama(src, dst, w), umeyama(np.repeat(src, w, 0), np.repeat(dst, w, 0)), atol=1e-9)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_alignment_maps_the_template_face_onto_itself(name):
    indices = get_template(name).indices
    landmarks = np.zeros((478, 2))
    landmarks[indices] = template_points(256, "face", template=name) * 0.5 + 40  # the template, scaled and moved
    m = alignment_matrix(landmarks, 256, "face", name)
    assert np.allclose(transform_points(landmarks[indices], m), template_points(256, template=name), atol=1e-3)


def test_the_newest_template_is_the_default_and_unknown_ones_are_refused():
    assert TEMPLATE_NAME == list(TEMPLATES)[-1] and V2 in TEMPLATES  # newest last; v2 sets and models still work
    assert get_template() is TEMPLATES[TEMPLATE_NAME] and np.array_equal(ALIGN_INDICES, get_template().indices)
    for unknown in ("mediapipe-mean-v1", "dlib-68"):
        with pytest.raises(ModelMismatchError, match="re-extract"):
            alignment_matrix(np.zeros((478, 2)), 64, template=unknown)


def test_coverages_nest_and_centre():
    for name in TEMPLATES:
        face, whole, head = (template_points(256, c, template=name) for c in ("face", "whole_face", "head"))
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


def test_resize_crop_is_the_identity_at_size_and_averages_when_shrinking():
    from masquerade.faces import resize_crop

    rng = np.random.default_rng(3)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert resize_crop(crop, 128) is crop
    small = resize_crop(crop, 64)
    block_means = crop.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    assert small.shape == (64, 64, 3) and np.abs(small - block_means).max() <= 0.5 + 1e-9
    assert resize_crop(small, 128).shape == (128, 128, 3)
