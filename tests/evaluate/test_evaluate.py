"""`evaluate` with a model whose swap is the identity: the output is the source, so identity and pose agree."""

import pytest

from masquerade.evaluate.run import evaluate

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def perfect():
    from stubs import PerfectModel

    return PerfectModel()


def test_evaluate_against_itself_and_against_another_person(clip_a, faceset_a, faceset_b, perfect):
    same = evaluate(perfect, clip_a[0], faceset_a, max_frames=8)
    assert same.frames == 8 and same.frames_with_face == 8
    assert same.identity["cosine_to_target"] > 0.97
    assert same.identity["distance_to_target"] < 0.35
    assert max(same.pose_error_deg.values()) < 2.0
    assert same.expression_error < 0.02
    assert same.watermark_frames_ok == 1.0
    assert abs(same.flicker_delta) < 1.5
    assert same.reconstruction["b"]["ssim"] > 0.95  # the identity model reconstructs perfectly
    other = evaluate(perfect, clip_a[0], faceset_b, max_frames=8)
    assert other.identity["distance_to_target"] > same.identity["distance_to_target"] + 0.3
    assert other.identity["cosine_to_target"] < same.identity["cosine_to_target"] - 0.05
    assert other.identity["retrieval"] == 0.0  # the output is still A, nearer the source than B
