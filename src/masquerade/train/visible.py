"""Which pixels of each training face are really face: the reconstruction losses leave the rest out.

A face set made from real footage holds frames where a hand, a microphone or hair covers part of the face.
Trained on them as they are, a decoder learns to draw the hand into the face. So each training face gets a
visible-face map, 1 where the face shows and 0 where something covers it, and the losses weigh a pixel by it
(`losses.reconstruction_loss(visible=...)`). Two sources, combined by their minimum:
- hands: MediaPipe's hand landmarker on the aligned crop (`faces.hands.HandFinder.find_in_crop`);
- the learned mask net of the model folder (`models.occlusion`), when it exists and measured well
  (`models.occlusion.trusted`): `masquerade train` trains
  it first, so its first run already uses it. Only what it removes *inside* the hull counts (outside the
  hull the losses already weigh pixels as background).

Older face sets need nothing new: the maps are computed from the crops when training starts and cached
beside the model (`model_dir/occlusion/visible-<hash>.safetensors`, keyed by the crops, the mask net and
this module's version), never written into the face set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..models.occlusion import FOLDER, find_mask_net, load_mask_net, read_mask_manifest, trusted

VERSION = 1  # bump when the maps change meaning, so caches are rebuilt


def _key(faces: torch.Tensor, hulls: torch.Tensor, mask_hash: str, hands: bool) -> str:
    h = hashlib.sha256(f"v{VERSION}:{mask_hash}:{int(hands)}:{tuple(faces.shape)}".encode())
    h.update(faces.contiguous().numpy().tobytes())
    h.update(hulls.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def hand_maps(faces: np.ndarray) -> np.ndarray:
    """uint8 N×S×S, 255 over hands found in each crop (N×S×S×3 uint8)."""
    from ..faces.hands import HandFinder, hands_mask

    finder = HandFinder()
    try:
        out = np.zeros(faces.shape[:3], np.uint8)
        for i, crop in enumerate(faces):
            found = finder.find_in_crop(crop)
            if found:
                out[i] = hands_mask(found, *crop.shape[:2])
        return out
    finally:
        finder.close()


def visible_maps(faces: torch.Tensor, hulls: torch.Tensor, model_dir: str | Path | None,
                 hands: bool = True) -> torch.Tensor:
    """uint8 N×1×S×S visible-face maps (255 = face or background, 0 = an occluder over the face) for uint8
    N×3×S×S crops with their N×1×S×S hulls; cached in `model_dir/occlusion/` when a folder is given."""
    from safetensors.torch import load_file, save_file

    from ..atomic import atomic_path

    faces, hulls = faces.cpu(), hulls.cpu()
    manifest = read_mask_manifest(model_dir)
    # a net that measured poorly would mask good faces out
    mask_hash = manifest.weights_sha256 if manifest is not None and trusted(manifest) else ""
    mask_json = find_mask_net(model_dir) if mask_hash else None
    cache = None
    if model_dir is not None:
        cache = Path(model_dir) / FOLDER / f"visible-{_key(faces, hulls, mask_hash, hands)}.safetensors"
        if cache.is_file():
            try:
                return load_file(str(cache))["visible"]
            except Exception:  # noqa: BLE001 - derived data: a damaged cache is rebuilt, never the user's problem
                pass
    occluded = np.zeros((faces.shape[0],) + tuple(faces.shape[-2:]), np.float32)
    if hands:
        occluded = hand_maps(faces.permute(0, 2, 3, 1).numpy()).astype(np.float32) / 255
    if mask_json is not None:
        net = load_mask_net(model_dir, "cpu")
        x = torch.cat([faces.float() / 255, hulls.float() / 255], 1)
        p = torch.cat([net.probabilities(b) for b in x.split(64)])[:, 0].numpy()
        inside = hulls[:, 0].float().numpy() / 255
        occluded = np.maximum(occluded, inside * (1 - p))
    visible = torch.from_numpy(np.round((1 - occluded) * 255).astype(np.uint8))[:, None].contiguous()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            save_file({"visible": visible}, str(tmp))
    return visible
