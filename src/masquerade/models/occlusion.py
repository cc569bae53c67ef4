"""The learned occlusion mask: a small U-Net that says which pixels of an aligned crop are the visible face.

Trained per model on the user's own face set with synthetic occluders pasted over it (`train/occlusion.py`,
`train/occluders.py`), so it needs no downloaded weights and no hand-drawn labels. Sized to train in a few
CPU minutes at 128 px and to run in a few ms per face in convert.

| part    | layers                                                                                    |
|---------|-------------------------------------------------------------------------------------------|
| in      | RGB + the landmark hull (4 channels), pixel-unshuffle by 2 (runs at half size: 4x cheaper)  |
| down    | per level two 3×3 convs + LeakyReLU (`channels`), 2×2 max-pool between levels             |
| up      | bilinear ×2, 1×1 conv to the level's width, + the level's skip, one 3×3 conv              |
| out     | 3×3 conv to 4 logits, pixel-shuffle back to full size: > 0 = visible face                 |

Why the hull is an input: convert and training both have it (from the landmarks), so the net need not learn
where a face sits in the crop, only what covers it; on the same 12 minutes of training the held-out IoU rose
from 0.81-0.92 (RGB alone) to the figures in docs/occlusion.md.

Why this shape: on the 2-core box the decoder side of a concatenating U-Net cost more than its encoder;
adding the skips (after a 1×1 projection) and working at half size brings a training step of 16 faces at
128 px to about a fifth of a second, so a couple of minutes train it.

On disk (`model_dir/occlusion/`): `mask.json` (schema_version, config, training record, the weights' file
name and sha256) beside `mask-{sha12}.safetensors`. The JSON is written last and is the commit point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load as st_load
from torch import nn

from ..errors import ModelError, ModelMismatchError
from .manifest import MASK_KIND as KIND
from .manifest import MASK_SCHEMA as SCHEMA_VERSION
from .manifest import MaskNetManifest

FOLDER = "occlusion"
STEM = "mask"


@dataclass
class MaskNetConfig:
    size: int = 128  # side the net sees crops at (any crop is resized to it)
    channels: tuple[int, ...] = (16, 32, 48, 64)

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # JSON gives a list
        if self.size % (2 ** len(self.channels)):
            raise ValueError(f"a mask net with {len(self.channels)} levels needs a size divisible by "
                             f"{2 ** len(self.channels)}, not {self.size}")


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1))


class MaskNet(nn.Module):
    """N×4×s×s in [0, 1] (RGB, landmark hull) → N×1×s×s logits (visible face > 0)."""

    def __init__(self, config: MaskNetConfig):
        super().__init__()
        self.config = config
        ch = config.channels
        self.down = nn.ModuleList([nn.Sequential(_conv(16 if i == 0 else ch[i - 1], c), _conv(c, c))
                                   for i, c in enumerate(ch)])
        self.project = nn.ModuleList([nn.Conv2d(ch[i + 1], ch[i], 1) for i in reversed(range(len(ch) - 1))])
        self.up = nn.ModuleList([_conv(ch[i], ch[i]) for i in reversed(range(len(ch) - 1))])
        self.out = nn.Conv2d(ch[0], 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle((x - 0.5) * 2, 2)  # RGB and hull alike to [-1, 1]
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for project, block, skip in zip(self.project, self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(project(x) + skip)
        return F.pixel_shuffle(self.out(x), 2)


# -- storage -------------------------------------------------------------------------------------------
def save_mask_net(model_dir: str | os.PathLike, net: MaskNet, manifest: MaskNetManifest) -> Path:
    """Write weights, then the JSON that names them (`manifest`, with the weights' name, hash and the net's
    config filled in); remove older weights of ours afterwards."""
    from .sidecar import save_sidecar

    return save_sidecar(Path(model_dir) / FOLDER, STEM, net, manifest.to_dict(), {})


def find_mask_net(model_dir: str | os.PathLike | None) -> Path | None:
    """The mask net's JSON in a model folder, or None."""
    if model_dir is None:
        return None
    path = Path(model_dir) / FOLDER / f"{STEM}.json"
    return path if path.is_file() else None


def read_mask_manifest(model_dir: str | os.PathLike | None) -> MaskNetManifest | None:
    """The mask net's record in a model folder, None when there is none or it is unreadable (training then
    trains a new net and the visible maps leave the old one out; `load_mask_net` says why when asked)."""
    import json

    path = find_mask_net(model_dir)
    if path is None:
        return None
    try:
        return MaskNetManifest.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


TRUST_HULL_KEPT = 0.97  # held-out share of clean faces' hulls the net must keep before it is used by default
TRUST_IOU = 0.85  # ... and its lowest held-out IoU over the training families


def trusted(manifest: MaskNetManifest) -> bool:
    """Whether a mask net measured well enough on its held-out faces to be used without being asked for: a
    net trained only a few steps (a short `--steps` run) would eat faces, so `--mask auto` and the training
    faces' visible maps leave it out until `masquerade train-mask` trains it further."""
    held = manifest.held_out
    ious = [v for k, v in held.items() if k.startswith("iou_")]
    return bool(ious) and held.get("hull_kept_clean", 0.0) >= TRUST_HULL_KEPT and min(ious) >= TRUST_IOU


class OcclusionMask:
    """A loaded mask net in eval mode: `visible(crops, hulls)` for uint8 S×S×3 crops and float S×S hulls in
    [0, 1] -> float32 N×S×S visible-face probabilities."""

    def __init__(self, net: MaskNet, manifest: MaskNetManifest, device: torch.device):
        self.net, self.manifest, self.device = net.eval().to(device), manifest, device
        self.size = net.config.size

    @torch.no_grad()
    def probabilities(self, faces: torch.Tensor) -> torch.Tensor:
        """float N×4×S×S in [0, 1] (RGB + hull, any S) -> float N×1×S×S visible-face probability."""
        s = faces.shape[-1]
        x = faces.float().to(self.device)
        if s != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="area" if s > self.size else "bilinear",
                              align_corners=None if s > self.size else False)
        p = torch.sigmoid(self.net(x))
        if s != self.size:
            p = F.interpolate(p, size=(s, s), mode="bilinear", align_corners=False)
        return p.clamp_(0, 1).cpu()

    def visible(self, crops, hulls) -> "Any":
        import numpy as np

        t = torch.from_numpy(np.ascontiguousarray(np.stack(crops))).permute(0, 3, 1, 2).float().div_(255)
        h = torch.from_numpy(np.ascontiguousarray(np.stack(hulls), dtype=np.float32))[:, None]
        return self.probabilities(torch.cat([t, h], 1))[:, 0].numpy()


def load_mask_net(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> OcclusionMask:
    """The mask net saved in `model_dir/occlusion/`, checked against its hash."""
    from .sidecar import read_sidecar
    from .store import resolve_device

    path = find_mask_net(model_dir)
    if path is None:
        raise ModelError(f"{model_dir} has no occlusion mask; train one with `masquerade train-mask`")
    raw, data = read_sidecar(path, MaskNetConfig, SCHEMA_VERSION, KIND, "an occlusion mask",
                             "run `masquerade train-mask` again")
    manifest = MaskNetManifest.from_dict(raw)
    config = MaskNetConfig(**manifest.config)
    net = MaskNet(config)
    try:
        net.load_state_dict(st_load(data))
    except RuntimeError as e:
        raise ModelMismatchError(f"{path}: weights do not fit its config ({e}); run `masquerade train-mask` again") from None
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    return OcclusionMask(net, manifest, dev)
