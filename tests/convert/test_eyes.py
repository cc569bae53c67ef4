"""Convert's eyes step: a swapped face's eyes close as far as its source's (a lid warp of its own pixels), read back
by the face mesh on the result; an open source leaves the face as drawn; a wink closes one eye; an eye the
model already drew closed is not closed twice; `--eyes model` leaves the step out."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from masquerade.convert.config import ConvertConfig
from masquerade.convert.eyes import FollowEyes, close_eyes, closure, make_eyes, refined, wanted_share
from masquerade.convert.pipeline import FaceWork, FrameWork
from masquerade.faces.eyelids import blink_landmarks
from masquerade.faces.landmark_measures import each_eye_opening
from masquerade.faces.mediapipe_backend import MediaPipeDetector

SIZE = 256  # the upscaler's size: the eyes step works on faces after it


@pytest.fixture(scope="module")
def face(faceset_a):
    """(crop S×S×3 uint8, its 478 landmarks) of a real portrait's face set."""
    from masquerade.faceset import FaceSet

    t = FaceSet.open(faceset_a).load_tensors(size=SIZE)
    return np.ascontiguousarray(t.faces[0].permute(1, 2, 0).numpy()), t.landmarks[0].numpy().astype(np.float64)


@pytest.fixture(scope="module")
def mesh():
    detector = MediaPipeDetector(video=False, max_faces=1)
    yield lambda image, lms: each_eye_opening(detector.mesh_in_box(image, (*lms.min(0), *lms.max(0))))
    detector.close()


def _step(open_level: float | None, video: bool = False) -> FollowEyes:
    model = SimpleNamespace(open_eyes=lambda side: open_level)
    return FollowEyes(SimpleNamespace(config=ConvertConfig(), model=model, video=video))


def _work(image: np.ndarray, source_landmarks: np.ndarray) -> tuple[FaceWork, FrameWork]:
    """A face whose frame is its own crop (identity alignment), swapped face = `image`."""
    work = FaceWork(0, None, {}, landmarks=source_landmarks, matrix=np.eye(3)[:2], base=SIZE)
    work.face = image
    return work, FrameWork(SimpleNamespace(timestamp=0.0))


def _closed(lms: np.ndarray, right: float, left: float) -> np.ndarray:
    return blink_landmarks(torch.from_numpy(lms)[None], torch.tensor([[right, left]]))[0].double().numpy()


def _follow(face, mesh, right: float, left: float):
    """(the mesh's reading of each eye before, after, the face's work) for a source closing its eyes so far."""
    image, lms = face
    before = mesh(image, lms)
    step = _step(open_level=float(each_eye_opening(lms).mean()))
    work, item = _work(image, _closed(lms, right, left))
    step.apply(work, item)
    step.close()
    return before, mesh(work.face, lms), work


def test_a_source_that_shuts_its_eyes_shuts_the_swapped_faces(face, mesh):
    before, after, _ = _follow(face, mesh, 1.0, 1.0)
    assert (after < 0.45 * before).all(), (before, after)  # below the blink threshold, both eyes


def test_a_wink_closes_one_eye(face, mesh):
    before, after, work = _follow(face, mesh, 1.0, 0.0)
    assert after[0] < 0.45 * before[0] and after[1] > 0.8 * before[1], (before, after)
    image, lms = face
    rows = np.nonzero((work.face != image).any(-1))[0]
    assert rows.max() <= lms[[145, 374], 1].max() + 1  # nothing below the lower lids moved


def test_an_open_source_leaves_the_face_as_drawn(face):
    image, lms = face
    step = _step(open_level=float(each_eye_opening(lms).mean()))
    work, item = _work(image, lms)
    step.apply(work, item)
    step.close()
    assert work.face is image


def test_a_model_without_a_reference_learns_the_open_level_from_the_track(face):
    """No expression channels: stills are left alone; a clip's first frames teach the open level, then a shut
    source shuts the swap."""
    image, lms = face
    still = _step(open_level=None)
    work, item = _work(image, _closed(lms, 1.0, 1.0))
    still.apply(work, item)
    assert work.face is image
    still.close()
    clip = _step(open_level=None, video=True)
    state: dict = {}
    for _ in range(12):  # open eyes
        work, item = _work(image, lms)
        work.state = state
        clip.apply(work, item)
        assert work.face is image
    work, item = _work(image, _closed(lms, 1.0, 1.0))
    work.state = state
    clip.apply(work, item)
    clip.close()
    assert (work.face != image).any()


def test_how_far_to_close():
    level = 0.1
    assert (wanted_share([0.1, 0.12], level) == 1).all()  # open as at rest, or wider: as drawn
    assert wanted_share([0.0, 0.2 * level], level) == pytest.approx([0, 0], abs=1e-9)  # shut (lashes read as a gap)
    half = wanted_share([(0.2 + 0.5 * (0.85 - 0.2)) * level], level)[0]
    assert half == pytest.approx(0.5)
    # the model drew the eye at the target's open level: half-way between its reading shut (0.3) and open
    assert closure(np.array([0.5]), np.array([0.08]), target_open=0.08)[0] == pytest.approx(0.35)
    assert closure(np.array([0.0]), np.array([0.08]), target_open=0.08)[0] == pytest.approx(0.7)  # shut
    # ... already closed that far by the model: nothing more
    assert closure(np.array([0.5]), np.array([0.04]), target_open=0.08)[0] == 0
    # target's level unknown: the share of the eye as drawn
    assert closure(np.array([0.25]), np.array([0.05]), target_open=None)[0] == pytest.approx(0.525)
    # a correction too small to see is left undone
    assert closure(np.array([0.97]), np.array([0.08]), target_open=0.08)[0] == 0


def test_the_second_reading_corrects_the_amount():
    """Asked to close half the gap, the mesh read 0.7 of it: the next amount aims at 0.5 along the secant."""
    assert refined(np.array([0.5]), np.array([0.7]))[0] == pytest.approx(0.25 / 0.3)
    assert refined(np.array([0.5]), np.array([0.4]))[0] == 0.5  # read closed enough already: as it was
    assert refined(np.array([0.3]), np.array([1.0]))[0] == pytest.approx(0.6)  # read as unmoved: at most twice
    assert refined(np.array([0.9]), np.array([0.5]))[0] == 1.0  # never past shut
    assert refined(np.array([0.0]), np.array([0.2]))[0] == 0.0  # an eye left open stays so


def test_only_the_lid_bands_change(face):
    image, lms = face
    out = close_eyes(image, lms, np.array([1.0, 1.0]))
    changed = (out != image).any(-1)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 50
    eyes = lms[[33, 133, 263, 362, 159, 145, 386, 374]]
    assert xs.min() >= eyes[:, 0].min() - 1 and xs.max() <= eyes[:, 0].max() + 1
    assert ys.max() <= eyes[:, 1].max() + 1
    assert close_eyes(image, lms, np.zeros(2)) is image


def test_eyes_model_leaves_the_step_out():
    ctx = SimpleNamespace(config=ConvertConfig(eyes="model"), model=None, video=True)
    assert make_eyes(ctx) is None
    # stills from a model that knows no open level: nothing to read one face's closure against
    blind = SimpleNamespace(open_eyes=lambda side: None)
    assert make_eyes(SimpleNamespace(config=ConvertConfig(), model=blind, video=False)) is None
    step = make_eyes(SimpleNamespace(config=ConvertConfig(), model=blind, video=True))
    assert isinstance(step, FollowEyes)
    step.close()
