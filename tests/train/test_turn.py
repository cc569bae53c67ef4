"""The 3-D turn augmentation: faces turned by the landmarks' depth read as turned to the face mesh, the
expression measures follow the turned face, and a run without it draws exactly the numbers it always did."""

import math

import numpy as np
import pytest
import torch

from masquerade.evaluate.metrics import head_pose
from masquerade.faces import create_detector
from masquerade.faces.head_depth import measure, typical_depth
from masquerade.train.augment import AugmentDraw, AugmentSettings, _landmark_depth, apply, draw, turn_landmarks


def test_the_shipped_depth_profile_is_what_the_sample_portraits_measure():
    shipped = typical_depth()
    assert shipped.shape == (478,) and abs(float(shipped.mean())) < 1e-3
    assert np.abs(measure() - shipped).max() < 5e-3  # the JSON is `measure()`'s output (rounded; CPUs differ a little)
    assert shipped[1] < shipped[234] - 0.3 and shipped[1] < shipped[454] - 0.3  # nose tip well before the cheek edges


def _turned(face: torch.Tensor, landmarks: torch.Tensor, yaw: float, pitch: float):
    one = torch.ones(1)
    d = AugmentDraw(torch.zeros(1), one, torch.zeros(1, 2), one, torch.zeros(1), one, one, None,
                    torch.tensor([[math.radians(yaw), math.radians(pitch)]]))
    return apply(face, d, landmarks)


@pytest.fixture(scope="module")
def crop(faceset_a):
    from masquerade.faceset import FaceSet

    t = FaceSet.open(faceset_a).load_tensors(size=128)
    px = torch.cat([t.faces[:1], t.masks[:1], torch.zeros(1, 1, 128, 128, dtype=torch.uint8)], 1)
    return px, t.landmarks[:1]


@pytest.mark.parametrize("yaw, pitch", [(12.0, 0.0), (-12.0, 0.0), (0.0, 12.0), (0.0, -12.0)])
def test_a_turned_face_reads_as_turned_to_the_face_mesh(crop, yaw, pitch):
    """The mesh, run on the augmented pixels, sees the head turned the asked way by a good share of the angle
    (the pixels move like the face's surface; its outline and shading do not turn, so it reads as less)."""
    import cv2

    px, lms = crop
    detector = create_detector(video=False)
    poses = []
    for y, p in ((0.0, 0.0), (yaw, pitch)):
        image = (_turned(px, lms, y, p).targets[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        image = cv2.copyMakeBorder(cv2.resize(image, (256, 256)), 96, 96, 96, 96, cv2.BORDER_REPLICATE)
        poses.append(head_pose(detector.detect(image)[0].points3d))
    detector.close()
    moved = poses[1] - poses[0]
    asked = np.array([yaw, pitch])
    axis = int(np.argmax(np.abs(asked)))
    assert 0.35 * abs(asked[axis]) < np.sign(asked[axis]) * moved[axis] < 1.3 * abs(asked[axis]), moved
    assert abs(moved[1 - axis]) < 3.0 and abs(moved[2]) < 3.0, moved


def test_the_turned_landmarks_move_with_the_pixels_and_give_the_measures(crop):
    from masquerade.faces.expression_reference import MEASURES, measures

    px, lms = crop
    plain, turned = _turned(px, lms, 0.0, 0.0), _turned(px, lms, 12.0, 0.0)
    assert torch.allclose(plain.landmarks, lms, atol=1e-3)  # no turn: the points stay put
    shift = (turned.landmarks - lms)[0]
    assert float(shift.norm(dim=1).max()) > 2.0  # pixels at 128 px
    before, after = measures(lms.numpy())[0], measures(turned.landmarks.numpy())[0]
    yaw = MEASURES.index("yaw")
    assert abs(after[yaw] - before[yaw]) > 3.0  # the yaw measure sees the turn (degrees-like)
    # the target's face moved where its landmarks did: the turned target, sampled back at the turned points,
    # matches the original at the original points better than it does at the original points
    def at(img, pts):
        g = (pts / 128 * 2 - 1 + 1 / 128).view(1, 1, -1, 2)
        return torch.nn.functional.grid_sample(img, g, align_corners=False)[0, :, 0]
    original = px[:, :3].float() / 255
    err_moved = (at(turned.targets, turned.landmarks[0]) - at(original, lms[0])).abs().mean()
    err_still = (at(turned.targets, lms[0]) - at(original, lms[0])).abs().mean()
    assert err_moved < 0.8 * err_still, (err_moved, err_still)


def test_the_first_order_turn_is_near_the_exact_rotation(crop):
    _, lms = crop  # 128 px crop
    yaw, pitch = math.radians(12.0), math.radians(-12.0)
    a = np.array([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]])
    b = np.array([[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)], [0, -math.sin(pitch), math.cos(pitch)]])
    pts = lms[0].double().numpy()
    centre = pts.mean(0)
    p = np.column_stack([pts - centre, _landmark_depth(lms)[0].double().numpy()])
    exact = (p @ (a @ b).T)[:, :2] + centre
    first = turn_landmarks(lms, torch.tensor([[yaw, pitch]]))[0].numpy()
    # what first order leaves out (a (1 − cos) shrink toward the centre, a sin·sin shear when both angles are
    # large) stays within 4% of the face's width, the size of the similarity jitter; the pixels leave it out alike
    width = float(np.ptp(pts[:, 0]))
    assert np.abs(first - exact).max() < 0.04 * width and np.abs(exact - pts).max() > 0.08 * width


def test_without_the_turn_the_draws_are_the_old_ones_and_with_it_they_only_add():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    old, new = draw(g1, 8, AugmentSettings(turn=0.0)), draw(g2, 8, AugmentSettings(turn=12.0))
    assert old.turn is None and new.turn is not None and new.turn.shape == (8, 2)
    assert float(new.turn.abs().max()) <= math.radians(12.0)
    for name in ("angle", "scale", "shift", "flip", "bright", "contrast", "sat", "offsets"):
        assert torch.equal(getattr(old, name), getattr(new, name))


def test_training_batches_carry_the_measures_of_the_turned_faces(faceset_a, sample_pair):
    """The trainer's sampler: with the turn, the expression measures are read off the turned landmarks (the
    decoder is told the head it must draw); without it, they are the bank's, the yaw's sign flipped with the face."""
    from masquerade.faces.expression_reference import MEASURES, YAW
    from masquerade.faceset import FaceSet
    from masquerade.train.data import load_bank

    fs = FaceSet.open(faceset_a)
    assert load_bank(fs, 64, torch.device("cpu")).depth is None  # the maps cost time: only when asked
    bank = load_bank(fs, 64, torch.device("cpu"), turn=True)
    assert bank.depth.shape[0] == len(bank) and bank.landmarks.shape == (len(bank), 478, 2)
    still, turned = sample_pair(bank, 8, turn=12.0)
    assert still.landmarks is None and turned.landmarks is not None
    assert (turned.targets - still.targets).abs().mean() > 0.005  # the pixels moved
    pitch = MEASURES.index("pitch")
    moved = (turned.measures - still.measures).abs()
    assert float(moved[:, YAW].max()) > 2.0 and float(moved[:, pitch].max()) > 0.01
    assert torch.allclose(moved[:, MEASURES.index("mouth")], torch.zeros(8), atol=0.01)  # a turn opens no mouth


@pytest.mark.slow
def test_a_training_run_with_the_turn_loads_the_depth_and_trains(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                 monkeypatch):
    from dataclasses import replace

    from masquerade.train import trainer

    banks = []
    real = trainer.load_bank
    monkeypatch.setattr(trainer, "load_bank", lambda *a: banks.append(real(*a)) or banks[-1])
    result = trainer.train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, steps=3, turn=12.0))
    assert result.step == 3 and len(banks) == 2 and all(b.depth is not None for b in banks)
    banks.clear()
    trainer.train(faceset_a, faceset_b, tmp_path / "plain", replace(tiny_config, steps=1))  # off by default
    assert all(b.depth is None for b in banks)
