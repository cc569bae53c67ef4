"""`--reference IMAGE`: swap only the person who looks like the one in a photo (face recognition)."""

from __future__ import annotations

from pathlib import Path

from ..errors import NoFaceError
from ..faces import create_detector
from ..faces.identity import IdentityEmbedder
from ..media import read_image
from .tracking import ReferenceMatcher

# Cosine similarity of dlib embeddings above which a track counts as the reference person.
REFERENCE_THRESHOLD = 0.92


def reference_picker(path: Path) -> ReferenceMatcher:
    """Embed the largest face of the reference photo and return a matcher over this clip's tracks."""
    embedder = IdentityEmbedder()
    image = read_image(path)
    detector = create_detector(video=False)
    try:
        faces = detector.detect(image)
    finally:
        detector.close()
    if not faces:
        raise NoFaceError(f"{path}: no face found in the reference photo")
    face = max(faces, key=lambda d: d.size)
    return ReferenceMatcher(lambda img, det: embedder.embed(img, det.box), embedder.embed(image, face.box),
                            threshold=REFERENCE_THRESHOLD)
