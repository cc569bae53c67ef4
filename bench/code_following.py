"""Does a decoder read its expression code? The target's own faces rendered as itself with the codes of other
faces of that person, shuffled among them, and read back with the face mesh.

Why: two explanations of a swap that ignores the source's expression need telling apart. If the decoder draws
the expression its latent carries, the output follows the face the latent came from; if it reads the code, the
output follows the face the code came from. Session 6 (docs/quality.md) found the second at 3,000 steps, which
moved the work from the network to the code a swap hands it (expression code version 3). `bench/quality_real.py`
reports it per pair as `code_following`; a model without expression channels reports None.
"""

from __future__ import annotations

import numpy as np

FACES = 120  # evenly spread over the face set
READ_SIZE, PAD = 256, 96  # the mesh reads a crop better upscaled and with room around the face
SHOWN = {"mouth": 0, "eyes": 1, "width": 2}  # columns of `faces.expression_reference.measures`


def _read_back(faces, detector) -> np.ndarray:
    """N×11 measures of rendered N×3×S×S faces in [0, 1] (NaN rows where the mesh found no face)."""
    import cv2

    from masquerade.faces.expression_reference import measures

    points = []
    for face in faces:
        img = (face.permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8)
        img = cv2.copyMakeBorder(cv2.resize(img, (READ_SIZE, READ_SIZE), interpolation=cv2.INTER_CUBIC),
                                 PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
        found = detector.detect(img)
        points.append(found[0].landmarks - PAD if found else np.full((478, 2), np.nan, np.float32))
    return measures(np.stack(points))  # ratios: the read's pixel frame does not matter


def code_following(model, faceset, side: str = "b", seed: int = 0) -> dict | None:
    """`faceset`: `side`'s face set (a `FaceSet`). Correlations of the read-back mouth / eyes / width with the code's face and with the latent's face."""
    import torch

    from masquerade.evaluate.expression_fidelity import correlation
    from masquerade.faces.detector import create_detector
    from masquerade.faces.expression_reference import measures

    if not model.takes_expression:
        return None
    tensors = faceset.load_tensors(model.config.size)
    pick = np.linspace(0, len(tensors.faces) - 1, min(FACES, len(tensors.faces))).round().astype(int)
    faces = tensors.faces[pick].float() / 255
    own = measures(tensors.landmarks.numpy()[pick])
    order = np.random.default_rng(seed).permutation(len(pick))
    detector = create_detector("mediapipe", video=False, max_faces=1)
    try:
        drawn = _read_back(model.swap(faces, f"{side}2{side}", measures=torch.from_numpy(own[order]))[0], detector)
    finally:
        detector.close()
    return {"faces": int(np.isfinite(drawn[:, 0]).sum()),
            "follows_code": {k: round(correlation(own[order, i], drawn[:, i]), 3) for k, i in SHOWN.items()},
            "follows_latent": {k: round(correlation(own[:, i], drawn[:, i]), 3) for k, i in SHOWN.items()}}
