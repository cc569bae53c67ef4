import numpy as np
import pytest

from masquerade.evaluate.metrics import angle_delta, expression_error, flicker, head_pose, pose_scores, psnr, ssim_box7
from masquerade.faces.head_depth import head_axes
from masquerade.faces import create_detector
from masquerade.faces.align import transform_points
from masquerade.samples import make_clip


@pytest.fixture(scope="module")
def tracked():
    clip = make_clip("grace_hopper", frames=6, max_angle=20, seed=4)
    detector = create_detector()
    found = [detector.detect(f)[0] for f in clip.frames]
    detector.close()
    return clip, [d.landmarks for d in found], [d.points3d for d in found]


def test_roll_follows_the_known_in_plane_rotation(tracked):
    clip, _, points = tracked
    known = np.array([np.degrees(np.arctan2(m[1, 0], m[0, 0])) for m in clip.transforms])
    roll = np.array([head_pose(p)[2] for p in points])
    # relative to the first frame, the estimated roll tracks the applied rotation
    assert np.abs((roll - roll[0]) - (known - known[0])).max() < 6.0
    assert np.ptp(known) > 15


def _posed(points: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """The same head facing the camera squarely, then turned by `yaw` (toward the image's left) and tilted by
    `pitch` (up), about its own centre (camera axes: y down, z away)."""
    a, b = np.radians(yaw), np.radians(pitch)
    turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    centre = points.mean(0)
    square = (points - centre) @ head_axes(points)  # the head's own coordinates
    return square @ (turn @ tilt).T + centre


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (25.0, 0.0), (-30.0, 0.0), (0.0, 15.0), (20.0, -12.0)])
def test_head_pose_measures_a_known_3d_turn(tracked, yaw, pitch):
    _, _, points = tracked
    assert abs(head_pose(points[0])[0]) < 10  # the sample portrait looks at the camera
    assert np.allclose(head_pose(_posed(points[0], yaw, pitch)), [yaw, pitch, 0.0], atol=1e-6)


def test_the_mesh_depth_is_a_head_in_frame_pixels():
    """Depth scaled like x: the nose tip is nearer than the cheek edges by a share of the face's width, and the
    still detector (mesh on a crop, mapped back) reads the same pose as the video one (mesh on the frame)."""
    from masquerade.faces import regions

    image = make_clip("grace_hopper", frames=1, seed=4).frames[0]
    poses = []
    for video in (False, True):
        detector = create_detector(video=video)
        face = detector.detect(image)[0]
        detector.close()
        width = np.ptp(face.landmarks[:, 0])
        relief = face.depth[regions.HEAD_RIGHT[1]] - face.depth[1]  # cheek edge behind the nose tip
        assert 0.15 * width < relief < 0.8 * width, (relief, width)
        poses.append(head_pose(face.points3d))
    assert np.abs(angle_delta(poses[0], poses[1])).max() < 3.0, poses
    assert np.isnan(head_pose(None)).all()


def test_expression_error_ignores_pose_but_sees_a_moved_mouth(tracked):
    clip, marks, _ = tracked
    assert expression_error(marks[0], marks[3]) < 0.02  # same face, other similarity pose
    moved = marks[0].copy()
    from masquerade.faces import regions

    moved[regions.LIPS, 1] += 6.0  # open the mouth by 6 px
    assert expression_error(marks[0], moved) > 3 * expression_error(marks[0], marks[3])


def test_angle_delta_wraps():
    assert np.allclose(np.abs(angle_delta(np.array([179.0, -10.0]), np.array([-179.0, 10.0]))), [2.0, 20.0])


def test_ssim_psnr_and_flicker():
    import cv2

    from masquerade.samples import portrait

    rng = np.random.default_rng(0)
    img = cv2.resize(portrait("astronaut"), (64, 64), interpolation=cv2.INTER_AREA)
    assert ssim_box7(img, img) == pytest.approx(1.0)
    assert psnr(img, img) == float("inf")
    noisy = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    assert ssim_box7(img, noisy) < 0.95 and 25 < psnr(img, noisy) < 35
    mask = np.ones((64, 64), bool)
    steady = [img, img, img]
    assert flicker(steady, [mask] * 3) == 0.0
    assert flicker([img, noisy, img], [mask] * 3) > 5.0
    assert transform_points(np.zeros((1, 2)), np.array([[1.0, 0, 2], [0, 1.0, 3]])).tolist() == [[2.0, 3.0]]


def test_pose_scores_tell_an_offset_from_a_pose_that_does_not_follow():
    turn = np.column_stack([np.linspace(-20, 20, 30), np.sin(np.linspace(0, 6, 30)) * 8, np.zeros(30)])
    shifted = pose_scores(turn, turn + [0.0, -7.0, 0.0])  # follows every turn, 7 degrees lower
    assert shifted["offset"]["pitch"] == pytest.approx(-7.0) and shifted["error"]["pitch"] == pytest.approx(7.0)
    assert shifted["corr"]["pitch"] == pytest.approx(1.0) and shifted["error"]["yaw"] == 0.0
    assert shifted["motion"]["pitch"] == pytest.approx(0.0, abs=1e-9)  # every movement followed
    still = pose_scores(turn, np.zeros_like(turn) + [0.0, 0.0, 0.0] + np.random.default_rng(0).normal(0, 0.5, turn.shape))
    assert abs(still["corr"]["yaw"]) < 0.5 and still["error"]["yaw"] > 8  # the output's head stays put
    assert still["motion"]["yaw"] > 8  # and no offset explains it away
    nan_row = turn.copy()
    nan_row[3] = np.nan  # a frame without depth is left out, not averaged in
    assert pose_scores(nan_row, turn)["error"]["yaw"] == 0.0
