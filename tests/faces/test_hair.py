"""Hair over the edge of a face: strands painted over a real portrait's temples are found and taken out of its
mask; the face as filmed loses only its own fringe, nothing below the nose; the middle is never touched."""

import numpy as np
import pytest

from masquerade.faces.hair import hair_map, without_hair
from masquerade.faces.masks import hull_mask

SIZE = 128


@pytest.fixture(scope="module")
def face(faceset_a):
    from masquerade.faceset import FaceSet

    t = FaceSet.open(faceset_a).load_tensors(size=SIZE)
    return (np.ascontiguousarray(t.faces[0].permute(1, 2, 0).numpy()), t.masks[0, 0].numpy(),
            t.landmarks[0].numpy().astype(np.float64))


def _with_strands(crop: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crop with dark strands down both temples, just inside the hull; and where they are."""
    hull = hull_mask(landmarks, SIZE) > 127
    cols = np.nonzero(hull.any(0))[0]
    eyes_y = int(landmarks[[33, 263], 1].mean())
    strands = np.zeros(hull.shape, bool)
    for x in (cols[0] + 2, cols[-1] - 4):
        strands[eyes_y - 20: eyes_y + 12, x: x + 3] = True
    strands &= hull
    out = crop.copy()
    out[strands] = (40, 28, 20)
    return out, strands


def test_strands_over_the_temples_leave_the_mask(face):
    crop, mask, lms = face
    painted, strands = _with_strands(crop, lms)
    found = hair_map(painted, lms)
    assert found[strands].mean() > 0.8
    trimmed = without_hair(painted[None], mask[None], lms[None])[0]
    assert (trimmed[strands] == 0).mean() > 0.8
    assert (trimmed[~found] == mask[~found]).all()  # nothing else changed


def test_a_clean_face_keeps_its_mask_and_the_middle_is_never_touched(face):
    crop, mask, lms = face
    found = hair_map(crop, lms)
    hull = hull_mask(lms, SIZE) > 127
    assert found.sum() < 0.2 * hull.sum()  # the portrait's own fringe and temple hair go (15% of this hull)
    assert not found[int(np.ceil(lms[1, 1])):].any()  # below the nose tip nothing does (a jaw in shadow is skin)
    dark = crop.copy()
    centre = lms[[1, 13, 168]].mean(0).astype(int)  # nose tip, lips, between the eyes
    dark[centre[1] - 6: centre[1] + 6, centre[0] - 6: centre[0] + 6] = 0  # something dark mid-face
    assert not hair_map(dark, lms)[centre[1] - 6: centre[1] + 6, centre[0] - 6: centre[0] + 6].any()


def test_the_training_bank_takes_the_hair_out_of_its_masks_only_when_asked(faceset_a):
    import torch

    from masquerade.faceset import FaceSet
    from masquerade.train.data import load_bank

    fs = FaceSet.open(faceset_a)
    plain, trimmed = (load_bank(fs, 64, torch.device("cpu"), hair_out=h) for h in (False, True))
    for keep in (slice(0, 3), slice(4, None)):  # faces and priority maps as they were: only the masks change
        assert torch.equal(plain.pixels[:, keep], trimmed.pixels[:, keep])
    less = trimmed.pixels[:, 3] < plain.pixels[:, 3]
    assert less.any() and (trimmed.pixels[:, 3] <= plain.pixels[:, 3]).all()  # the portrait's fringe: out
