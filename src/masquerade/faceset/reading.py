"""Reading a face set's faces: crops, masks, landmarks at any size, and the training tensors (cached).

Why a class of its own: this is all a reader (training, curation's checks, the UI's gallery) uses, and none
of it writes the face set itself (the tensor cache is derived data beside it, faceset/cache.py). `FaceSet`
(core.py) adds opening and the locked writing methods on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache import FaceTensors, read_cache, write_cache
from .files import decode_png, resized
from .manifest import FaceSetManifest


class FaceReader:
    """The reading half of `FaceSet`: its folder, manifest (as last written) and records."""

    root: Path
    _manifest: FaceSetManifest
    _records: list[dict]

    @property
    def records(self) -> list[dict]:
        """The faces' alignment records, in file order. Read-only: faces are added, set aside and put back
        only by `FaceSet`'s locked methods."""
        return self._records

    @property
    def size(self) -> int:
        """Side of the stored crops in pixels (faceset/manifest.py: required, never guessed)."""
        return self._manifest.size

    def __len__(self) -> int:
        return len(self._records)

    def crop(self, i: int) -> np.ndarray:
        return decode_png(self.root, "faces", self._records[i])

    def mask(self, i: int) -> np.ndarray:
        return decode_png(self.root, "masks", self._records[i])

    def crop_landmarks(self, i: int, size: int | None = None) -> np.ndarray:
        """The face's landmarks in pixels of its aligned crop, or of that crop resized to `size` (`resize_crop`)."""
        from ..faces.align import resized_matrix, transform_points

        r = self._records[i]
        return transform_points(np.asarray(r["landmarks"]), resized_matrix(r["matrix"], self.size, size or self.size))

    def load_tensors(self, size: int | None = None) -> FaceTensors:
        """All faces, masks and crop landmarks resized to `size`, cached beside the face set (faceset/cache.py)."""
        size = int(size or self.size)
        cache = self.root / f"cache_{size}.safetensors"
        cached = read_cache(cache, self._manifest.id, len(self), size)
        if cached is not None:
            return cached
        faces, masks, marks = [], [], []
        for i in range(len(self)):
            faces.append(resized(self.crop(i), size))
            masks.append(resized(self.mask(i), size))
            marks.append(self.crop_landmarks(i, size))
        return write_cache(cache, self._manifest.id, np.stack(faces), np.stack(masks), np.stack(marks))
