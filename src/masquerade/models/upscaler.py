"""The identity upscaler: a small super-resolution net that turns a decoded 64 (or 128) px face into 256 px.

A swap model's decoder outputs a soft 64 px face; convert would otherwise stretch it to the ~170-300 px the
face covers in the frame. Generic super-resolution nets are trained on other people and need downloaded
weights; this one is trained per identity on that person's own 256 px face-set crops (see
`train/upscaler.py`), so the detail it adds — skin texture, the rim of their glasses, their teeth — is theirs.

Layout (fast enough for convert on a CPU: ~15-20 ms per face on two cores, `bench/quality_real.py`):

| part  | layers                                                                             |
|-------|------------------------------------------------------------------------------------|
| in    | pixel-unshuffle to the working size out/4 (64 px for 256; none for a 64 px input)  |
| body  | 3×3 conv → `blocks` residual blocks of `channels` at the working size               |
| up    | two ICNR conv + PixelShuffle(2) stages (`up_channels`), 3×3 conv to RGB             |
| skip  | + the bicubic upsampling of the input: the net learns only the missing detail       |

The last conv starts at zero, so an untrained upscaler is exactly bicubic: it can only start from there.
The heavy work runs at the working size whatever the input size, so 64→256 and 128→256 cost about the same.

On disk (`model_dir/upscalers/`): `{side}_{in}to{out}.json` (config, face set, steps, held-out scores, the
weights' file name and sha256) beside the weights it names, `{side}_{in}to{out}-{sha12}.safetensors`. The
JSON is written last and is the commit point, so a reader never pairs a new JSON with old weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as st_load
from torch import nn

from ..errors import ModelError, ModelMismatchError
from .layers import icnr_
from .manifest import UPSCALER_KIND as KIND
from .manifest import UPSCALER_SCHEMA as SCHEMA_VERSION
from .manifest import UpscalerManifest

FOLDER = "upscalers"


@dataclass
class UpscalerConfig:
    in_size: int = 64
    out_size: int = 256
    channels: int = 32
    blocks: int = 4
    up_channels: tuple[int, int] = (24, 12)

    def __post_init__(self) -> None:
        self.up_channels = tuple(int(c) for c in self.up_channels)  # JSON gives a list
        work = self.out_size // 4
        if self.out_size % 4 or self.in_size < work or self.in_size % work or (self.in_size // work) not in (1, 2, 4):
            raise ValueError(f"an upscaler maps {self.out_size // 4}, {self.out_size // 2} or {self.out_size} px "
                             f"faces to {self.out_size} px, not {self.in_size} px")

    @property
    def unshuffle(self) -> int:
        return self.in_size // (self.out_size // 4)


class _Block(nn.Module):
    """conv-act-conv with an identity skip and no activation after the sum (EDSR-style: keeps colours linear)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    conv = nn.Conv2d(cin, 4 * cout, 3, padding=1)
    icnr_(conv.weight)
    return nn.Sequential(conv, nn.LeakyReLU(0.2), nn.PixelShuffle(2))


class IdentityUpscaler(nn.Module):
    def __init__(self, config: UpscalerConfig):
        super().__init__()
        self.config = config
        u, c, (c1, c2) = config.unshuffle, config.channels, config.up_channels
        self.unshuffle = nn.PixelUnshuffle(u) if u > 1 else nn.Identity()
        self.head = nn.Conv2d(3 * u * u, c, 3, padding=1)
        self.body = nn.Sequential(*[_Block(c) for _ in range(config.blocks)])
        self.up = nn.Sequential(_up(c, c1), _up(c1, c2))
        self.tail = nn.Conv2d(c2, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×3×s×s in [0, 1] (s = in_size, or any patch of it) → N×3×(s·out/in)² (unclamped)."""
        scale = self.config.out_size // self.config.in_size
        base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        feat = self.head(self.unshuffle(x))
        return base + self.tail(self.up(feat + self.body(feat)))


# -- storage -------------------------------------------------------------------------------------------
def stem(side: str, in_size: int, out_size: int = 256) -> str:
    if side not in ("a", "b"):
        raise ValueError(f"side must be 'a' or 'b', not {side!r}")
    return f"{side}_{in_size}to{out_size}"


def save_upscaler(model_dir: str | os.PathLike, net: IdentityUpscaler, manifest: UpscalerManifest) -> Path:
    """Write weights, then the JSON that names them (`manifest`, with the weights' name, hash and the net's
    config filled in); remove this slot's older weights (ours) afterwards."""
    from .sidecar import save_sidecar

    return save_sidecar(Path(model_dir) / FOLDER, stem(manifest.side, net.config.in_size, net.config.out_size),
                        net, manifest.to_dict(), {})


def find_upscaler(model_dir: str | os.PathLike, side: str, in_size: int | None = None) -> Path | None:
    """The JSON of `side`'s upscaler (for `in_size` when given), or None: convert's `--upscale auto`."""
    folder = Path(model_dir) / FOLDER
    if in_size is not None:
        path = folder / f"{stem(side, in_size)}.json"
        return path if path.is_file() else None
    stem(side, 0)  # validates the side
    found = sorted(folder.glob(f"{side}_*to*.json"))
    return found[0] if len(found) == 1 else None


class Upscaler:
    """A loaded upscaler in eval mode: call it on N×3×s×s [0, 1] faces to get N×3×S×S [0, 1] faces."""

    def __init__(self, net: IdentityUpscaler, manifest: UpscalerManifest, device: torch.device,
                 precision: str = "auto"):
        from .inference_precision import InferencePrecision

        self.net, self.manifest, self.device = net.eval().to(device), manifest, device
        self.side, self.in_size, self.out_size = manifest.side, net.config.in_size, net.config.out_size
        self.runner = InferencePrecision(self.net, device, precision)  # bf16 where native and faster

    @torch.no_grad()
    def __call__(self, faces: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        if faces.ndim != 4 or faces.shape[1] != 3 or faces.shape[-1] != self.in_size or faces.shape[-2] != self.in_size:
            raise ModelMismatchError(f"this upscaler takes N×3×{self.in_size}×{self.in_size} faces, got {tuple(faces.shape)}")
        out = [self.runner(p.to(self.device, torch.float32)).clamp_(0, 1).to(faces.device) for p in faces.split(chunk)]
        return torch.cat(out)


def read_upscaler(model_dir: str | os.PathLike, side: str,
                  in_size: int | None = None) -> tuple[UpscalerManifest, bytes]:
    """(manifest, weights bytes) of `side`'s upscaler, checked against its hash: what `load_upscaler` builds
    from, and what a Ray driver ships to workers that cannot see the model folder."""
    from .sidecar import read_sidecar
    from .store import read_manifest

    model_dir = Path(model_dir)
    if in_size is None:
        try:  # beside a swap model: its input size; a folder of upscalers alone: the side's only one
            in_size = read_manifest(model_dir).size
        except ModelError:
            in_size = None
    path = find_upscaler(model_dir, side, in_size)
    if path is None:
        raise ModelError(f"{model_dir} has no identity upscaler for side {side!r}"
                         f"{f' at {in_size} px' if in_size else ''}; train one with `masquerade train-upscaler`")
    manifest, data = read_sidecar(path, UpscalerConfig, SCHEMA_VERSION, KIND, "an upscaler", "retrain the upscaler")
    try:
        return UpscalerManifest.from_dict(manifest), data
    except ValueError as e:
        raise ModelError(f"{path} is unreadable ({e}); retrain the upscaler") from None


def build_upscaler(manifest: UpscalerManifest, data: bytes, device: str | torch.device = "auto",
                   precision: str = "auto") -> Upscaler:
    """An `Upscaler` from what `read_upscaler` returned; `precision` as `models.inference_precision` reads it."""
    from .store import resolve_device

    net = IdentityUpscaler(UpscalerConfig(**manifest.config))
    try:
        net.load_state_dict(st_load(data))
    except RuntimeError as e:
        raise ModelMismatchError(f"upscaler {manifest.weights}: weights do not fit its config ({e}); "
                                 "retrain the upscaler") from None
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    return Upscaler(net, manifest, dev, precision)


def load_upscaler(model_dir: str | os.PathLike, side: str, device: str | torch.device = "auto",
                  in_size: int | None = None, precision: str = "auto") -> Upscaler:
    """Load `side`'s upscaler from `model_dir/upscalers/`; `in_size` defaults to the swap model's size."""
    return build_upscaler(*read_upscaler(model_dir, side, in_size), device, precision)
