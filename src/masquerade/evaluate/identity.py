"""Identity scores of a swap: is each swapped face nearer the target person than the source person?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces.identity import IdentityEmbedder, cosine, distance


@dataclass(frozen=True)
class IdentityScores:
    cosine_to_target: float  # mean cosine similarity of swapped faces to the target identity
    cosine_to_source: float
    distance_to_target: float  # mean Euclidean embedding distance (dlib: < 0.6 = same person)
    distance_to_source: float
    retrieval: float  # share of swapped faces whose nearer identity is the target
    faces: int


def mean_identity(embeddings: list[np.ndarray]) -> np.ndarray:
    return np.mean(np.stack(embeddings), axis=0)


def identity_scores(swapped: list[np.ndarray], target: np.ndarray, source: np.ndarray) -> IdentityScores:
    """Score swapped-face embeddings against the mean embeddings of the target and the source identity."""
    if not swapped:
        nan = float("nan")
        return IdentityScores(nan, nan, nan, nan, nan, 0)
    dt = [distance(e, target) for e in swapped]
    ds = [distance(e, source) for e in swapped]
    return IdentityScores(
        cosine_to_target=float(np.mean([cosine(e, target) for e in swapped])),
        cosine_to_source=float(np.mean([cosine(e, source) for e in swapped])),
        distance_to_target=float(np.mean(dt)), distance_to_source=float(np.mean(ds)),
        retrieval=float(np.mean([a < b for a, b in zip(dt, ds)])), faces=len(swapped),
    )


def faceset_identity(embedder: IdentityEmbedder, faceset, limit: int = 24) -> np.ndarray:
    """Mean embedding of up to `limit` faces spread over a face set (aligned crops)."""
    idx = np.linspace(0, len(faceset) - 1, min(limit, len(faceset))).round().astype(int)
    return mean_identity([embedder.embed_crop(faceset.crop(int(i))) for i in idx])
