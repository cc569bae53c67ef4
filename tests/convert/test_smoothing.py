import math

import numpy as np
import pytest

from masquerade.convert.smoothing import MatrixSmoother, OneEuroFilter, matrix_to_params, params_to_matrix

FPS = 30


def _jitter(track: np.ndarray) -> float:
    """Mean absolute second difference over frames: what the eye sees as shimmer."""
    return float(np.abs(np.diff(track, 2, axis=0)).mean())


def _run(f: OneEuroFilter, samples, times) -> np.ndarray:
    return np.stack([f(x, t) for x, t in zip(samples, times)])


def test_one_euro_removes_landmark_jitter_without_losing_the_motion():
    rng = np.random.default_rng(0)
    t = np.arange(300) / FPS
    base = rng.uniform(100, 400, (478, 2))
    motion = np.stack([60 * np.sin(2 * np.pi * t / 4), 30 * np.sin(2 * np.pi * t / 3)], 1)  # up to ~95 px/s
    clean = base[None] + motion[:, None, :]
    noisy = (clean + rng.normal(0, 1.0, clean.shape)).astype(np.float32)
    out = _run(OneEuroFilter(min_cutoff=1.0, beta=0.01), noisy, t)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert _jitter(out) * 3 <= _jitter(noisy)
    assert np.abs(out - clean)[15:].mean() < 4.0  # still on the moving face, a few px of lag at most


def _step_response(beta: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    values = np.r_[np.full(30, 100.0), np.full(30, 200.0)] + rng.normal(0, 1.0, 60)
    f = OneEuroFilter(min_cutoff=1.0, beta=beta)
    return np.array([f(np.array([v]), i / FPS)[0] for i, v in enumerate(values)])[30:]


def test_fast_step_is_followed_within_a_few_frames_thanks_to_beta():
    adaptive = _step_response(beta=0.01)
    assert np.all(np.abs(adaptive[4:] - 200) < 5)  # within 5 px of a 100 px jump by the 5th frame
    fixed = _step_response(beta=0.0)  # a plain low-pass at the same cutoff lags far behind
    assert np.abs(fixed[4] - 200) > 25


def test_time_steps_come_from_the_timestamps():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    for i in range(10):
        f(np.zeros(2), i / FPS)
    next_frame = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    for i in range(10):
        next_frame(np.zeros(2), i / FPS)
    # after a one-second gap (dropped frames, variable rate) the filter trusts the new sample far more
    after_gap = f(np.full(2, 50.0), 9 / FPS + 1.0)
    after_frame = next_frame(np.full(2, 50.0), 10 / FPS)
    assert after_gap[0] > 40 and after_frame[0] < 12
    # a repeated timestamp changes nothing
    assert np.array_equal(f(np.full(2, 500.0), 9 / FPS + 1.0), after_gap)


def test_reset_and_shape_checks():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.01)
    f(np.zeros((478, 2)), 0.0)
    assert np.array_equal(f(np.ones((478, 2)) * 7, 0.1), f(np.ones((478, 2)) * 7, 0.1))
    with pytest.raises(ValueError):
        f(np.zeros((5, 2)), 0.2)
    f.reset()
    first = np.full((5, 2), 3.0)
    assert np.array_equal(f(first, 5.0), first)  # the first sample after a reset passes straight through
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0.0)


def test_matrix_params_round_trip():
    rng = np.random.default_rng(2)
    for _ in range(50):
        p = (rng.uniform(0.2, 4.0), rng.uniform(-math.pi, math.pi), rng.uniform(-500, 500), rng.uniform(-500, 500))
        m = params_to_matrix(*p)
        assert m.shape == (2, 3)
        assert np.allclose(matrix_to_params(m), p, rtol=0, atol=1e-12)
        assert np.allclose(params_to_matrix(*matrix_to_params(m)), m, rtol=0, atol=1e-12)


def test_matrix_smoother_stays_a_similarity_and_does_not_break_at_the_angle_wrap():
    rng = np.random.default_rng(3)
    smoother = MatrixSmoother(size=256, min_cutoff=1.0, beta=0.01)
    steady = params_to_matrix(1.3, 0.4, 20.0, -35.0)
    for i in range(5):
        assert np.allclose(smoother(steady, i / FPS), steady, atol=1e-9)  # a still face is left as it is
    smoother.reset()
    raw_dev, out_dev = [], []
    dev = lambda a: abs(math.remainder(a - math.pi, 2 * math.pi))  # noqa: E731  (distance from π, wrap-aware)
    for i in range(60):  # upside-down face whose angle jitters across ±π
        raw = params_to_matrix(0.8 + rng.normal(0, 0.01), math.pi + rng.normal(0, 0.05),
                               100 + rng.normal(0, 1), 50 + rng.normal(0, 1))
        raw_angle = matrix_to_params(raw)[1]
        assert abs(abs(raw_angle) - math.pi) < 0.3  # the raw angle really does flip between ±π
        out = smoother(raw, i / FPS)
        assert out[0, 0] == pytest.approx(out[1, 1], abs=1e-12) and out[0, 1] == pytest.approx(-out[1, 0], abs=1e-12)
        scale, angle, _, _ = matrix_to_params(out)
        raw_dev.append(dev(raw_angle))
        out_dev.append(dev(angle))
        assert abs(scale - 0.8) < 0.05
        assert out_dev[-1] < 0.2  # never averaged through 0 (a naive angle filter would swing to ~0 here)
    assert np.mean(out_dev[5:]) < 0.6 * np.mean(raw_dev[5:])  # and steadier than the input
