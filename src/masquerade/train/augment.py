"""Batch augmentation on the training device: similarity jitter, flips, colour jitter and the random warp.

The random warp is what makes the method work: the encoder sees a face bent by a smooth random grid and the
decoder must produce the *unwarped* face, so it cannot copy pixels and has to learn the identity. Every
random number comes from one CPU `torch.Generator` (then moves to the device), so a resumed run draws
exactly the numbers the uninterrupted run would have drawn, on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSettings:
    rotation: float = 10.0  # degrees, ±
    scale: float = 0.05  # ±
    shift: float = 0.05  # fraction of the crop, ±
    flip: bool = True
    brightness: float = 0.08  # ±, added
    contrast: float = 0.15  # ±, relative
    saturation: float = 0.15  # ±, relative
    warp: bool = True
    warp_points: int = 5  # control grid is warp_points × warp_points
    warp_strength: float = 0.035  # std of control-point offsets, fraction of the crop's half-width


@dataclass
class Batch:
    """One identity's augmented batch: float32 in [0, 1] on the device."""

    inputs: torch.Tensor  # N×3×S×S (warped)
    targets: torch.Tensor  # N×3×S×S
    masks: torch.Tensor  # N×1×S×S
    priority: torch.Tensor  # N×1×S×S, 1 over eyes and mouth
    measures: torch.Tensor | None = None  # N×5 expression measures of the (flipped) targets, `faces.expression_code`


def _uniform(gen: torch.Generator, n: int, amount: float) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * 2 - 1) * amount


@dataclass
class AugmentDraw:
    """The random numbers of one batch's augmentation (CPU tensors, one row per face)."""

    angle: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor  # N×2
    flip: torch.Tensor
    bright: torch.Tensor
    contrast: torch.Tensor
    sat: torch.Tensor
    offsets: torch.Tensor | None  # N×2×k×k warp control points, None without the random warp

    def part(self, rows: slice) -> AugmentDraw:
        """The draws of some rows: a data-parallel rank augments only its slice of the global batch."""
        return AugmentDraw(*(None if v is None else v[rows] for v in vars(self).values()))


def draw(gen: torch.Generator, n: int, cfg: AugmentSettings = AugmentSettings()) -> AugmentDraw:
    """Draw every random number of a batch of `n`, on the CPU generator, in a fixed order."""
    angle = _uniform(gen, n, math.radians(cfg.rotation))
    scale = 1 + _uniform(gen, n, cfg.scale)
    shift = torch.stack([_uniform(gen, n, 2 * cfg.shift), _uniform(gen, n, 2 * cfg.shift)], dim=1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    bright, contrast, sat = _uniform(gen, n, cfg.brightness), 1 + _uniform(gen, n, cfg.contrast), 1 + _uniform(gen, n, cfg.saturation)
    k = cfg.warp_points
    offsets = torch.randn(n, 2, k, k, generator=gen) * cfg.warp_strength * 2 if cfg.warp else None
    return AugmentDraw(angle, scale, shift, flip, bright, contrast, sat, offsets)


def augment(pixels: torch.Tensor, gen: torch.Generator, cfg: AugmentSettings = AugmentSettings()) -> Batch:
    """pixels: uint8 N×5×S×S (RGB, mask, priority) on the device → an augmented `Batch`."""
    return apply(pixels, draw(gen, pixels.shape[0], cfg))


def apply(pixels: torch.Tensor, d: AugmentDraw) -> Batch:
    """Augment uint8 N×5×S×S faces with the random numbers `d` (drawn for exactly these N faces)."""
    n, _, s, _ = pixels.shape
    dev = pixels.device
    x = pixels.float().div_(255)
    rgb = x[:, :3]
    # Colour jitter (same for input and target: the net should not learn to undo lighting).
    v = lambda t: t.to(dev).view(n, 1, 1, 1)  # noqa: E731
    gray = (rgb * torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(1, keepdim=True)
    rgb = gray + (rgb - gray) * v(d.sat)
    mean = gray.mean(dim=(2, 3), keepdim=True)
    rgb = ((rgb - mean) * v(d.contrast) + mean + v(d.bright)).clamp_(0, 1)
    x = torch.cat([rgb, x[:, 3:]], dim=1)

    # Similarity + flip as one affine grid (output → input sampling coordinates in [-1, 1]).
    cos, sin = torch.cos(d.angle) * d.scale, torch.sin(d.angle) * d.scale
    theta = torch.stack([torch.stack([cos * d.flip, -sin, d.shift[:, 0]], 1), torch.stack([sin * d.flip, cos, d.shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(dev), [n, 5, s, s], align_corners=False)
    target = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if d.offsets is not None:
        # Smooth displacement field: random control points, bicubic-upsampled to every pixel.
        field = F.interpolate(d.offsets.to(dev), size=(s, s), mode="bicubic", align_corners=True)
        warped_grid = grid + field.permute(0, 2, 3, 1)
        inputs = F.grid_sample(rgb, warped_grid, mode="bilinear", padding_mode="border", align_corners=False)
    else:
        inputs = target[:, :3]
    return Batch(inputs.clamp(0, 1), target[:, :3], target[:, 3:4], target[:, 4:5])


def sample_indices(count: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Random face indices (with replacement across steps, without within a step when possible)."""
    if batch <= count:
        return torch.randperm(count, generator=gen)[:batch]
    return torch.randint(count, (batch,), generator=gen)
