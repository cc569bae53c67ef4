import numpy as np
import pytest

from masquerade.evaluate.metrics import angle_error, expression_error, flicker, head_pose, psnr, ssim
from masquerade.faces import create_detector
from masquerade.faces.align import transform_points
from masquerade.samples import make_clip


@pytest.fixture(scope="module")
def tracked():
    clip = make_clip("grace_hopper", frames=6, max_angle=20, seed=4)
    detector = create_detector()
    marks = [detector.detect(f)[0].landmarks for f in clip.frames]
    return clip, marks


def test_roll_follows_the_known_in_plane_rotation(tracked):
    clip, marks = tracked
    known = np.array([np.degrees(np.arctan2(m[1, 0], m[0, 0])) for m in clip.transforms])
    roll = np.array([head_pose(p, 320, 240)[2] for p in marks])
    # relative to the first frame, the estimated roll tracks the applied rotation
    assert np.abs((roll - roll[0]) - (known - known[0])).max() < 6.0
    assert np.ptp(known) > 15


def test_expression_error_ignores_pose_but_sees_a_moved_mouth(tracked):
    clip, marks = tracked
    assert expression_error(marks[0], marks[3]) < 0.02  # same face, other similarity pose
    moved = marks[0].copy()
    from masquerade.faces import regions

    moved[regions.LIPS, 1] += 6.0  # open the mouth by 6 px
    assert expression_error(marks[0], moved) > 3 * expression_error(marks[0], marks[3])


def test_angle_error_wraps():
    assert np.allclose(angle_error(np.array([179.0, -10.0]), np.array([-179.0, 10.0])), [2.0, 20.0])


def test_ssim_psnr_and_flicker():
    import cv2

    from masquerade.samples import portrait

    rng = np.random.default_rng(0)
    img = cv2.resize(portrait("astronaut"), (64, 64), interpolation=cv2.INTER_AREA)
    assert ssim(img, img) == pytest.approx(1.0)
    assert psnr(img, img) == float("inf")
    noisy = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    assert ssim(img, noisy) < 0.95 and 25 < psnr(img, noisy) < 35
    mask = np.ones((64, 64), bool)
    steady = [img, img, img]
    assert flicker(steady, [mask] * 3) == 0.0
    assert flicker([img, noisy, img], [mask] * 3) > 5.0
    assert transform_points(np.zeros((1, 2)), np.array([[1.0, 0, 2], [0, 1.0, 3]])).tolist() == [[2.0, 3.0]]
