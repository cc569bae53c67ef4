"""Face-recognition embeddings: who is this face? (dlib's 128-d ResNet, shipped in the `eval` extra).

Used to measure a swap (is the result nearer the target identity than the source?) and to pick a person
by a reference photo. The weights ship inside the `face_recognition_models` package; they are located
without importing it (its import needs pkg_resources, which newer setuptools dropped).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import MasqueradeError

SAME_PERSON_DISTANCE = 0.6  # dlib's usual threshold on Euclidean distance between embeddings
SEED_POOL = 3000  # faces compared pairwise to find the person with the most faces


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MasqueradeError("face-recognition embeddings need the eval extra: "
                              "pip install 'masquerade[eval]' (dlib-bin + face_recognition_models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class IdentityEmbedder:
    """128-d embeddings of faces given by a box in an RGB frame (boxes from any detector)."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise MasqueradeError("face-recognition embeddings need the eval extra: pip install 'masquerade[eval]'") from None
        models = _models_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Embedding of the face inside `box` (x0, y0, x1, y1 in pixels of `image`)."""
        image = np.ascontiguousarray(image)
        rect = self._dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._shape(image, rect)
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float32)

    def embed_crop(self, crop: np.ndarray, coverage_box: float = 0.9) -> np.ndarray:
        """Embedding of an aligned face crop, whose face fills about `coverage_box` of the crop."""
        s = crop.shape[0]
        m = (1 - coverage_box) / 2 * s
        return self.embed(crop, (m, m, s - m, s - m))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between embeddings (dlib's measure: < 0.6 means the same person)."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def distances_to(embeddings: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Distance of each row of N×128 `embeddings` from one embedding."""
    return np.linalg.norm(np.asarray(embeddings, np.float32) - np.asarray(centre, np.float32), axis=1)


def main_person(embeddings: np.ndarray, max_distance: float, reference: np.ndarray | None = None,
                rounds: int = 2) -> np.ndarray:
    """The embedding of the person a face set is about: the mean of that person's faces.

    Without a reference, the person with the most faces: the face with the most others within `max_distance`
    (a threshold clustering that needs no number of people) seeds it. With one, the reference photo seeds it:
    the faces within `max_distance` of it, or, when none is (one photo sits farther from a clip's faces than the
    clip's own mean does), within dlib's same-person distance. On the real clips a reference frame was 0.17-0.59
    from its person's faces and 0.65 or more from the other's. Each round then re-centres on the mean of the
    faces near the current centre, so the result stands for the person across the footage, not for one frame.
    Raises ValueError when no face is near the seed (the reference shows someone else)."""
    emb = np.asarray(embeddings, np.float32)
    if reference is None:
        pool = emb[::-(-len(emb) // SEED_POOL)]  # an even sample of a long footage's faces: N² stays small
        gram = pool @ pool.T
        sq = np.diag(gram)
        pair = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
        centre, reach = pool[int(np.argmax((pair < max_distance).sum(1)))], max_distance
    else:
        centre = np.asarray(reference, np.float32)
        near = (distances_to(emb, centre) < max_distance).any()
        reach = max_distance if near else max(max_distance, SAME_PERSON_DISTANCE)
    for _ in range(rounds):
        near = distances_to(emb, centre) < reach
        if not near.any():
            raise ValueError("no face is near the seed")
        centre, reach = emb[near].mean(0), max_distance
    return centre
