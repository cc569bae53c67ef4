"""Steady alignment: blinks, brows and speech do not move the crop; v3 frames faces as v2 did; face sets and
models made with v2 keep aligning with v2 (extract onto a v2 set, convert with a v2 model)."""

import numpy as np
import pytest

from masquerade.faces import regions
from masquerade.faces.align import TEMPLATE_NAME, TEMPLATES, alignment_matrix, get_template, invert, transform_points

V2 = "mediapipe-mean-v2-rigid"
CORNERS = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], np.float64)


@pytest.fixture(scope="module")
def detected() -> list[tuple[np.ndarray, object]]:
    """The two sample portraits and MediaPipe's detection of their face (478 landmarks, frame pixels)."""
    from masquerade.faces import create_detector
    from masquerade.samples import portrait

    detector = create_detector(video=False, max_faces=1)
    try:
        return [(image, detector.detect(image)[0]) for image in map(portrait, ("astronaut", "grace_hopper"))]
    finally:
        detector.close()


@pytest.fixture(scope="module")
def faces(detected) -> list[np.ndarray]:
    return [d.landmarks.astype(np.float64) for _, d in detected]


def crop_corners(landmarks: np.ndarray, template: str = TEMPLATE_NAME) -> np.ndarray:
    """The crop's corners in frame pixels (a 256 px "face" crop)."""
    return transform_points(CORNERS, invert(alignment_matrix(landmarks, 256, "face", template))).astype(np.float64)


def blink_frown_and_talk(points: np.ndarray, move_eye_corners: bool) -> np.ndarray:
    """The same face with its eyes shut (lids meet on the corners' line, irises hidden with them), brows
    raised, mouth open and jaw dropped: every point MediaPipe moves for these, moved by several pixels."""
    out = points.copy()
    height = np.linalg.norm(points[152] - points[10])
    for eye, corners in ((regions.RIGHT_EYE, (33, 133)), (regions.LEFT_EYE, (362, 263))):
        line_y = points[list(corners), 1].mean()
        lids = np.setdiff1d(eye, corners)
        out[lids, 1] = line_y
        if move_eye_corners:  # squeezed shut, the corners draw in a little
            out[list(corners)] += (points[list(corners)].mean(0) - points[list(corners)]) * 0.05
    out[468:478, 1] = out[[33, 133, 362, 263], 1].mean()  # irises behind the lids
    out[np.concatenate([regions.LEFT_BROW, regions.RIGHT_BROW]), 1] -= 0.04 * height
    below_nose = np.flatnonzero(points[:, 1] > points[2, 1] + 0.02 * height)  # lips, chin, jaw, lower cheeks
    drop = (points[below_nose, 1] - points[2, 1]) / (points[152, 1] - points[2, 1])
    out[below_nose, 1] += 0.08 * height * np.clip(drop, 0, 1)
    out[regions.LIPS, 0] += 0.02 * height * np.sign(points[regions.LIPS, 0] - points[13, 0])  # a wide mouth
    return out


def test_blinks_brows_and_speech_do_not_move_the_crop(faces):
    for points in faces:
        moved = blink_frown_and_talk(points, move_eye_corners=True)
        assert np.abs(moved - points).max() > 5  # the expression really moves points by several pixels
        before, after = crop_corners(points), crop_corners(moved)
        assert np.abs(after - before).max() < 1e-6  # the newest template uses none of them
        # v2 fits on the eye corners: with them held still it is unmoved too, and moves when they draw in.
        assert np.abs(crop_corners(blink_frown_and_talk(points, False), V2) - crop_corners(points, V2)).max() < 1e-6
        assert np.abs(crop_corners(moved, V2) - crop_corners(points, V2)).max() > 0.1
        # Control: the rigid points do steer the crop (its most trusted one, beside the nose ridge, pushed 3 px).
        pushed = points.copy()
        pushed[get_template().indices[get_template().weights.argmax()]] += 3.0
        assert np.abs(crop_corners(pushed) - before).max() > 0.01


def test_the_newest_template_frames_faces_as_v2_did(faces):
    """Same coverages, face the same size and place: a crop's corners move by about 1% of its side at most."""
    for points in faces:
        new, old = crop_corners(points), crop_corners(points, V2)
        side = np.linalg.norm(old[1] - old[0])
        assert np.linalg.norm(new.mean(0) - old.mean(0)) < 0.01 * side
        assert abs(np.linalg.norm(new[1] - new[0]) / side - 1) < 0.015
        assert np.abs(new - old).max() < 0.015 * side


def test_extract_onto_a_v2_face_set_keeps_aligning_with_v2(clip_a, clip_b, tmp_path):
    """A set made with v2 grows with v2 (every face framed alike); a new set gets the newest template."""
    from masquerade.extract import ExtractConfig, extract, extract_sources, open_job
    from masquerade.faceset import FaceSet

    assert TEMPLATE_NAME != V2 and V2 in TEMPLATES
    config = ExtractConfig(size=128, every_nth=6)
    out = tmp_path / "v2set"
    sources, fs = open_job([clip_a[0]], out, config, template=V2)  # as an older Masquerade made it
    extract_sources(sources, fs, config)
    first = len(FaceSet.open(out))
    extract([clip_b[0]], out, config)  # this version grows it
    grown = FaceSet.open(out)
    assert grown.manifest["template"] == V2 and len(grown) > first > 0
    for r in grown.records:  # landmarks are stored to 0.01 px: compare where the face lands in the crop
        marks = np.asarray(r["landmarks"])
        placed = transform_points(marks, np.asarray(r["matrix"]))
        assert np.abs(placed - transform_points(marks, alignment_matrix(marks, 128, "face", V2))).max() < 0.05
        assert np.abs(placed - transform_points(marks, alignment_matrix(marks, 128, "face"))).max() > 0.3
    fresh = tmp_path / "new"
    extract([clip_b[0]], fresh, config)
    assert FaceSet.open(fresh).manifest["template"] == TEMPLATE_NAME


def test_convert_aligns_with_the_models_template(detected):
    """A model trained on v2 faces is fed v2 crops; an unknown template is refused (tests/convert)."""
    from stubs import PerfectModel

    from masquerade.convert import ConvertConfig
    from masquerade.convert.pipeline import Batch, FaceWork, FrameWork
    from masquerade.convert.run import open_model
    from masquerade.convert.steps import AlignFaces, StepContext
    from masquerade.records import Frame

    image, detection = detected[0]
    frame = Frame(0, 0.0, image, "astronaut.png")
    for template in TEMPLATES:
        model = open_model(PerfectModel(template=template), "cpu")
        step = AlignFaces(StepContext(model, ConvertConfig(), video=False, faceset_size=128))
        face = FaceWork(0, detection, {}, landmarks=detection.landmarks)
        step(Batch([FrameWork(frame, faces=[face])]))
        assert np.allclose(face.matrix, alignment_matrix(detection.landmarks, 128, "face", template), atol=1e-9)
