"""The neutral-referenced expression code (issue 25): every measure read as a deviation from each person's
neutral face in units of that person's range, so two people whose usual faces differ still agree on what
"at rest" and "a full smile" are, and eleven measures tell a smile from pursed lips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masquerade.faces.landmark_measures import LEFT_EYE_PAIRS, MOUTH_PAIRS, RIGHT_EYE_PAIRS
from masquerade.faces.expression_reference import MEASURES, baseline, measures, neutral_baseline
from masquerade.models.expression_input import ExpressionCode

EXPRESSION = [MEASURES.index(k) for k in MEASURES if k not in ("yaw", "pitch")]
SMILE, LIFT, PUCKER = (MEASURES.index(k) for k in ("smile", "corner_lift", "pucker"))


def mesh(smile: float = 0.0, pucker: float = 0.0, mouth: float = 0.0, eye: float = 0.09, width: float = 1.0,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """A frontal face's 478 crop landmarks (face size 60 px) with every point the measures read placed:
    `smile` widens the mouth and lifts its corners, `pucker` narrows it and thickens the lips, `width` is the
    mouth's width at rest (a person's shape), `rng` adds a landmark detector's jitter."""
    pts = np.full((478, 2), 50.0)
    pts[[33, 133, 362, 263]] = [(20, 40), (40, 40), (60, 40), (80, 40)]
    pts[[234, 454, 1]] = [(0, 55), (100, 55), (50, 70)]
    for i, pairs in enumerate((RIGHT_EYE_PAIRS, LEFT_EYE_PAIRS)):
        for j, (up, low) in enumerate(pairs):
            pts[up], pts[low] = (25 + 40 * i + 3 * j, 40 - eye * 30), (25 + 40 * i + 3 * j, 40 + eye * 30)
    pts[[105, 66, 334, 296]] = [(28, 25), (36, 26), (64, 26), (72, 25)]
    half = 16.5 * width * (1 + 0.25 * smile - 0.3 * pucker)
    pts[61], pts[291] = (50 - half, 85 - 6 * smile), (50 + half, 85 - 6 * smile)
    for j, (up, low) in enumerate(MOUTH_PAIRS):
        pts[up], pts[low] = (50 + 5 * (j % 2) - 5 * (j // 2), 85 - mouth * 30), (50 + 5 * (j % 2) - 5 * (j // 2), 85 + mouth * 30)
    lip = 7 * (1 + 0.6 * pucker - 0.2 * smile)
    pts[0], pts[17], pts[152] = (50, 85 - mouth * 30 - lip), (50, 85 + mouth * 30 + lip), (50, 110 + mouth * 60)
    return pts if rng is None else pts + rng.normal(0, 0.25, pts.shape)


def person(rest: dict, expressive: list[dict], shrink: float, shift: tuple[float, float], seed: int) -> np.ndarray:
    """A person's face set: their resting face (repeated with jitter) and a spread of expressions, in another
    crop scale and place (the measures are ratios; a person is not defined by their crop)."""
    rng = np.random.default_rng(seed)
    faces = [mesh(**{**rest, **e}, rng=rng) for e in expressive] + [mesh(**rest, rng=rng) for _ in range(40)]
    return np.stack(faces) * shrink + np.array(shift)


def test_each_persons_neutral_face_reads_as_neutral_and_a_full_smile_as_a_full_smile():
    """a: a calm person, mostly at rest. b: narrower eyes and a wider mouth at rest, in a different crop frame,
    and smiling in most of their faces (at varied strengths): the median face is a smile, the neutral one is not."""
    rng = np.random.default_rng(7)
    calm = [dict(mouth=m) for m in rng.uniform(0, 0.3, 12)] + [dict(smile=s) for s in np.linspace(0.1, 1, 8)]
    smiley = [dict(smile=s, mouth=m) for s, m in zip(rng.uniform(0.3, 1.0, 60), rng.uniform(0, 0.2, 60))]
    people = {"a": person({}, calm, 1.0, (0, 0), 1),
              "b": person(dict(eye=0.06, width=1.15), smiley + [dict(smile=1.0)], 1.7, (-12, 5), 2)}
    code, old = ExpressionCode(version=2), ExpressionCode(version=1)
    for side, faces in people.items():
        code.set_baseline(side, neutral_baseline(measures(faces)))
        old.set_baseline(side, baseline(measures(faces)))
    rest = {"a": mesh(), "b": mesh(eye=0.06, width=1.15) * 1.7 + np.array((-12, 5))}
    full = {"a": mesh(smile=1.0), "b": mesh(smile=1.0, eye=0.06, width=1.15) * 1.7 + np.array((-12, 5))}
    for side in people:
        at_rest = code(torch.from_numpy(measures(rest[side][None])), side)[0]
        assert at_rest[EXPRESSION].abs().max() < 0.35, (side, at_rest)  # the jitter, against the least range
        smiling = code(torch.from_numpy(measures(full[side][None])), side)[0]
        assert 0.7 < float(smiling[SMILE]) < 1.5 and 0.7 < float(smiling[LIFT]) < 1.5, (side, smiling)
    # the older code read b's resting face against his median, a smile: a neutral source asked him to frown
    assert float(old(torch.from_numpy(measures(rest["b"][None])), "b")[0, 2]) < -0.35


def test_a_smile_and_pursed_lips_give_different_codes():
    faces = person({}, [dict(smile=s) for s in np.linspace(0, 1, 10)] + [dict(pucker=p) for p in np.linspace(0, 1, 10)],
                   1.0, (0, 0), 3)
    code = ExpressionCode(version=2)
    code.set_baseline("a", neutral_baseline(measures(faces)))
    smile, pucker = code(torch.from_numpy(measures(np.stack([mesh(smile=1.0), mesh(pucker=1.0)]))), "a")
    assert smile[SMILE] > 0.5 and pucker[SMILE] < -0.5  # the mouth widens for one, narrows for the other
    assert smile[LIFT] > 0.5 and abs(float(pucker[LIFT])) < 0.2  # only the smile lifts the corners
    assert pucker[PUCKER] > 0.5 and smile[PUCKER] < 0
    assert float((smile - pucker).norm()) > 2


def test_the_version_2_code_reads_numpy_and_torch_alike_and_unknown_as_rest():
    faces = person({}, [dict(smile=s, mouth=m) for s, m in zip(np.linspace(0, 1, 10), np.linspace(0.3, 0, 10))],
                   1.0, (0, 0), 4)
    m = measures(faces)
    got = measures(torch.from_numpy(faces))
    np.testing.assert_allclose(got.numpy(), m, atol=1e-5)
    base = neutral_baseline(m)
    assert base.shape == (3, len(MEASURES)) and (base[1:] > 0).all()  # ranges are positive on both sides
    assert base[1, MEASURES.index("eyes")] == pytest.approx(base[0, MEASURES.index("eyes")])  # shut = -1
    code = ExpressionCode(version=2)
    code.set_baseline("b", base)
    assert torch.equal(code(torch.full((2, len(MEASURES)), float("nan")), "b"), torch.zeros(2, len(MEASURES)))
    shut = code(torch.from_numpy(measures(mesh(eye=0.0)[None])), "b")[0, MEASURES.index("eyes")]
    assert float(shut) == pytest.approx(-1.0, abs=0.05)
    typical = neutral_baseline(np.empty((0, len(MEASURES))))  # no faces: the typical face, finite ranges
    assert np.isfinite(typical).all() and (typical[1:] > 0).all()
    with pytest.raises(ValueError):
        ExpressionCode(version=4)
