"""Face sets as training data: open, check against the model, and keep on the device as one uint8 tensor.

Each face is stored as 5 channels (RGB, hull mask, eye/mouth priority) so augmentation moves them together
with one grid_sample. The priority map is drawn once at load from the landmarks.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from ..errors import FaceSetError, ModelMismatchError

if TYPE_CHECKING:
    from ..models.manifest import ModelManifest


class FaceSetLike(Protocol):
    manifest: Mapping[str, Any]  # a `faceset.FaceSetManifest` (or its fields by name: read through `FaceSetManifest.of`)

    def load_tensors(self, size: int) -> Any: ...

FaceSource = "str | os.PathLike[str] | FaceSetLike"

def open_faceset(source: Any) -> FaceSetLike:
    """A face set from a path (via `masquerade.faceset.FaceSet.open`) or an already-open face set."""
    if hasattr(source, "manifest") and hasattr(source, "load_tensors"):
        return source
    from ..faceset import FaceSet

    return FaceSet.open(os.fspath(source))

def check_compatible(a: Mapping[str, Any], b: Mapping[str, Any], size: int, recorded: ModelManifest | None) -> None:
    """Refuse face sets that do not fit each other or the model: the swap only works on identical alignment."""
    for key in ("template", "coverage"):
        if a.get(key) != b.get(key):
            raise ModelMismatchError(
                f"face sets A and B were extracted with different {key}s ({a.get(key)!r} vs {b.get(key)!r}); "
                f"extract both with the same --{key}"
            )
        was = getattr(recorded, key) if recorded is not None else None
        if recorded is not None and was != a.get(key):
            raise ModelMismatchError(
                f"this model was trained on faces with {key} {was!r} but the face sets use "
                f"{a.get(key)!r}; re-extract them with --{key} {was} or train a new model folder"
            )
    from ..faceset import FaceSetManifest

    for name, m in (("A", FaceSetManifest.from_dict(a)), ("B", FaceSetManifest.from_dict(b))):
        if m.size < size:
            raise ModelMismatchError(
                f"face set {name} ({m.id or '?'}) has {m.size} px crops but the model needs at least "
                f"{size} px; re-extract it with --size {size} or larger"
            )

@dataclass
class FaceBank:
    """All faces of one identity on the training device: uint8 N×5×S×S (RGB, mask, eye/mouth priority)."""

    pixels: torch.Tensor
    manifest: dict[str, Any]
    weights: torch.Tensor | None = None  # draw probabilities (balanced sampling, `sampling.py`); None: uniform
    measures: torch.Tensor | None = None  # float32 N×11 expression measures (`faces.expression_reference`), on the device
    # for the 3-D turn and the synthetic blink only (None without them): the faces' landmarks, float32 N×K×2
    # crop pixels at the bank's size; for the turn, their depth over each crop, float32 N×1×G×G (`augment.depth_maps`)
    landmarks: torch.Tensor | None = None
    depth: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.pixels.shape[0]

    @functools.cached_property
    def drawable(self) -> int:
        """How many faces have a draw weight above 0 (all without `weights`): counted once, not per step."""
        return len(self) if self.weights is None else int((self.weights > 0).sum())

def priority_maps(landmarks: np.ndarray, size: int) -> np.ndarray:
    """uint8 N×S×S, 255 over the eyes and mouth (convex hulls, dilated a little so the lids count too)."""
    import cv2

    from ..faces import regions

    kernel = np.ones((max(3, size // 16),) * 2, np.uint8)
    out = np.zeros((len(landmarks), size, size), np.uint8)
    for i, pts in enumerate(landmarks):
        for idx in (regions.LEFT_EYE, regions.RIGHT_EYE, regions.MOUTH):
            p = pts[idx]
            if np.isfinite(p).all():
                cv2.fillConvexPoly(out[i], cv2.convexHull(np.round(p).astype(np.int32)), 255)
        out[i] = cv2.dilate(out[i], kernel)
    return out

def load_bank(faceset: FaceSetLike, size: int, device: torch.device, balance: bool = False,
              turn: bool = False, blink: bool = False, hair_out: bool = False) -> FaceBank:
    """`balance`: draw faces balanced over head yaw, mouth opening and eye state, weights computed once here
    from the stored landmarks (a pure function of the face set, so a resumed run draws exactly as before).
    `turn`: also the faces' landmarks and depth maps, which the 3-D turn augmentation moves pixels by;
    `blink`: also the landmarks, whose lids the synthetic blink closes."""
    t = faceset.load_tensors(size=size)
    faces, masks, lms = t.faces, t.masks, t.landmarks
    if faces.shape[0] == 0:
        raise FaceSetError(f"face set {faceset.manifest.get('id', '?')} has no faces; extract from more footage")
    if faces.shape[-1] != size:
        raise FaceSetError(f"face set returned {faces.shape[-1]} px faces when asked for {size} px")
    if hair_out:  # the decoder's mask learns to leave hair over the face's edge out (`faces.hair`)
        from ..faces.hair import without_hair

        trimmed = without_hair(faces.permute(0, 2, 3, 1).numpy(), masks[:, 0].numpy(), lms.numpy())
        masks = torch.from_numpy(trimmed).unsqueeze(1)
    prio = torch.from_numpy(priority_maps(lms.numpy(), size)).unsqueeze(1)
    pixels = torch.cat([faces, masks, prio], dim=1).to(device).contiguous()
    weights = None
    if balance:
        from .sampling import sampling_weights

        weights = torch.from_numpy(sampling_weights(lms.numpy()))
    from ..faces.expression_reference import measures

    bank = FaceBank(pixels, dict(faceset.manifest), weights, torch.from_numpy(measures(lms.numpy())).to(device))
    if turn or blink:
        bank.landmarks = lms.float().to(device)
    if turn:
        from .augment import depth_maps

        bank.depth = depth_maps(lms, size).to(device)
    return bank
