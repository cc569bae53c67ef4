import numpy as np
import pytest
import torch

from masquerade.faces.landmark_measures import LEFT_EYE_PAIRS, MOUTH_PAIRS, RIGHT_EYE_PAIRS
from masquerade.faceset import FaceSet
from masquerade.train.sampling import (
    BalanceSettings, balance_summary, face_features, sampling_weights, weighted_indices, yaw_proxy,
)


def face(yaw: float = 0.0, mouth: float = 0.0, eye: float = 0.08, seed: int = 0) -> np.ndarray:
    """Crop landmarks (scale 100 px) with a given yaw proxy, mouth opening and eye opening."""
    pts = np.random.default_rng(seed).uniform(20, 80, (478, 2))
    pts[33], pts[263] = (20.0, 40.0), (80.0, 40.0)  # outer eye corners: face size 60
    pts[234], pts[454] = (0.0, 50.0), (100.0, 50.0)
    pts[1] = (50.0 + 50.0 * np.sin(np.radians(yaw)), 55.0)
    for i, pairs in enumerate((RIGHT_EYE_PAIRS, LEFT_EYE_PAIRS)):
        for j, (up, low) in enumerate(pairs):
            pts[up], pts[low] = (30 + 40 * i + 2 * j, 40.0), (30 + 40 * i + 2 * j, 40.0 + eye * 60)
    for j, (up, low) in enumerate(MOUTH_PAIRS):
        pts[up], pts[low] = (45 + 5 * j, 75.0), (45 + 5 * j, 75.0 + mouth * 60)
    return pts


def share(weights, mask) -> float:
    return float(np.asarray(weights)[mask].sum())


def test_yaw_proxy_reads_the_nose_between_the_cheeks():
    assert yaw_proxy(face(0)) == pytest.approx(0.0, abs=1e-9)
    assert yaw_proxy(face(25)) == pytest.approx(25.0) and yaw_proxy(face(-40)) == pytest.approx(-40.0)
    broken = face(0)
    broken[454] = broken[234]
    assert np.isnan(yaw_proxy(broken))


def test_rare_head_turns_get_the_same_share_of_draws_as_frontal_faces():
    lms = np.stack([face(0, seed=i) for i in range(90)] + [face(30, seed=i) for i in range(10)])
    w = sampling_weights(lms)
    assert w.sum() == pytest.approx(1.0)
    turned = np.arange(100) >= 90
    assert share(w, turned) == pytest.approx(0.5)
    assert share(np.full(100, 0.01), turned) == pytest.approx(0.1)  # what uniform sampling would give


def test_rare_expressions_are_balanced_too():
    mouths = [0.0] * 80 + [0.1] * 15 + [0.3] * 5
    eyes = [0.08] * 95 + [0.01] * 5
    lms = np.stack([face(0, m, e, seed=i) for i, (m, e) in enumerate(zip(mouths, eyes))])
    feats = face_features(lms)
    assert feats.eyes_closed.sum() == 5
    w = sampling_weights(lms, BalanceSettings(eyes=False, max_boost=100))
    m = np.array(mouths)
    assert [share(w, m == v) for v in (0.0, 0.1, 0.3)] == pytest.approx([1 / 3] * 3)
    w_eyes = sampling_weights(lms, BalanceSettings(max_boost=100))
    assert share(w_eyes, feats.eyes_closed) > 0.3  # 5% of the faces, a third or more of the draws
    summary = balance_summary(lms)
    assert summary["mouth"]["faces"] == [0.8, 0.15, 0.05] and summary["mouth"]["draws"][2] > 0.15


def test_one_odd_face_cannot_take_over_and_strength_zero_is_uniform():
    lms = np.stack([face(0, seed=i) for i in range(199)] + [face(60)])
    w = sampling_weights(lms, BalanceSettings(max_boost=6.0))
    assert w[-1] == pytest.approx(w.max()) and w[-1] / w.mean() == pytest.approx(6.0, rel=0.01)
    assert np.allclose(sampling_weights(lms, BalanceSettings(strength=0.0)), 1 / 200)


def test_weights_on_a_real_face_set_are_a_distribution(faceset_a):
    t = FaceSet.open(faceset_a).load_tensors(64)
    w = sampling_weights(t.landmarks.numpy())
    assert w.shape == (len(t),) and np.all(w > 0) and w.sum() == pytest.approx(1.0)


def test_weighted_indices_are_reproducible_distinct_and_follow_the_weights():
    weights = torch.tensor([0.5, 0.25, 0.125, 0.125, 0.0])
    a = weighted_indices(weights, 4, torch.Generator().manual_seed(1))
    b = weighted_indices(weights, 4, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and len(set(a.tolist())) == 4 and 4 not in a.tolist()
    many = weighted_indices(weights, 20_000, torch.Generator().manual_seed(2))  # more than the faces: replacement
    freq = torch.bincount(many, minlength=5).double() / 20_000
    assert torch.allclose(freq, weights.double(), atol=0.02)


def test_weighted_indices_draw_exactly_what_torch_multinomial_draws():
    """The draw without replacement skips multinomial's argument check (a host read per step) but must pick the
    very faces it picked, and leave the generator where it left it: runs and snapshots of earlier versions
    resume onto the same batches."""
    for seed in range(40):
        weights = torch.rand(50, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        weights[::7] = 0
        for batch in (1, 5, 42):  # 42 faces have weight
            ours, theirs = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
            got = weighted_indices(weights, batch, ours, drawable=int((weights > 0).sum()))
            assert torch.equal(got, torch.multinomial(weights, batch, replacement=False, generator=theirs))
            assert torch.equal(ours.get_state(), theirs.get_state())
