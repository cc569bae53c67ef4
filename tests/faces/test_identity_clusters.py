"""Which person a face set is about, from face-recognition embeddings alone (no dlib needed: made-up 128-d points
with the spreads measured on the real clips, each person's faces within ~0.4 of their mean, people ~0.7 apart)."""

from __future__ import annotations

import numpy as np
import pytest

from masquerade.faces.identity import distances_to, main_person


def _person(rng, centre, n, spread=0.3):
    noise = rng.normal(size=(n, 128))
    return centre + spread * noise / np.linalg.norm(noise, axis=1, keepdims=True)


@pytest.fixture()
def two_people():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=128), rng.normal(size=128)
    a, b = 0.5 * a / np.linalg.norm(a), 0.5 * b / np.linalg.norm(b)  # |a - b| ~ 0.7
    faces = np.concatenate([_person(rng, a, 30), _person(rng, b, 18), rng.normal(size=(2, 128))])  # + 2 strays
    return faces.astype(np.float32), a, b


def test_without_a_reference_the_person_with_most_faces_is_chosen(two_people):
    faces, a, b = two_people
    centre = main_person(faces, 0.5)
    assert np.linalg.norm(centre - a) < 0.1
    d = distances_to(faces, centre)
    assert (d[:30] < 0.5).all() and (d[30:] > 0.5).all()


def test_a_reference_chooses_the_smaller_group_and_a_stranger_is_refused(two_people):
    faces, a, b = two_people
    rng = np.random.default_rng(9)
    photo = _person(rng, b, 1, spread=0.45)[0]  # one photo: farther from the faces than their own mean
    centre = main_person(faces, 0.5, reference=photo)
    d = distances_to(faces, centre)
    assert (d[30:48] < 0.5).all() and (d[:30] > 0.5).all() and (d[48:] > 0.5).all()
    with pytest.raises(ValueError):
        main_person(faces, 0.5, reference=rng.normal(size=128) * 2)
