"""Batch augmentation on the training device: similarity jitter, flips, colour jitter, 3-D turns, synthetic
blinks (`faces.eyelids`) and the random warp.

The random warp is what makes the method work: the encoder sees a face bent by a smooth random grid and the
decoder must produce the *unwarped* face, so it cannot copy pixels and has to learn the identity. Every
random number comes from one CPU `torch.Generator` (then moves to the device), so a resumed run draws
exactly the numbers the uninterrupted run would have drawn, on any device.

The 3-D turn (`turn`, degrees of yaw and pitch) shows each decoder its person with the head turned and tilted a
little, which a target filmed looking at the camera never shows: without it a swap keeps the target's usual
pose whatever the source does. A small turn moves each point of the face across by its depth times the sine of
the angle, so each face's depth over the crop (its landmarks' typical depth, `faces.head_depth`, interpolated
between them and fading to nothing off the face; `depth_maps`, computed once per face set) moves the pixels of
input and target alike, and the landmarks moved the same way give the expression measures of what the target
now shows. Read back by the face mesh, a 12-degree turn of a face-set crop measures 6-9 degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..faces.eyelids import blink_grid, blink_landmarks


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
    turn: float = 0.0  # degrees, ± yaw and ± pitch of the 3-D turn (needs the faces' landmarks; 0: none)
    blink: float = 0.0  # share of faces whose eyes are closed by a random amount (`faces.eyelids`; needs landmarks)


@dataclass
class Batch:
    """One identity's augmented batch: float32 in [0, 1] on the device."""

    inputs: torch.Tensor  # N×3×S×S (warped)
    targets: torch.Tensor  # N×3×S×S
    masks: torch.Tensor  # N×1×S×S
    priority: torch.Tensor  # N×1×S×S, 1 over eyes and mouth
    measures: torch.Tensor | None = None  # N×11 expression measures of the (flipped) targets, `faces.expression_reference`
    landmarks: torch.Tensor | None = None  # N×K×2 crop pixels, after the blink and the 3-D turn (before flip and jitter)
    visible: torch.Tensor | None = None  # N×1×S×S, 0 where an occluder covers the face (`train/visible.py`); None: all


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
    turn: torch.Tensor | None = None  # N×2 yaw, pitch in radians; None without the 3-D turn
    blink: torch.Tensor | None = None  # N eye closure, 0 (as filmed) to 1 (shut); None without synthetic blinks

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
    # drawn last, and only when on, so a run without it draws exactly the numbers it always did
    turn = torch.stack([_uniform(gen, n, math.radians(cfg.turn)) for _ in range(2)], 1) if cfg.turn > 0 else None
    blink = None
    if cfg.blink > 0:  # likewise: a share of the faces, each closed by 25-100%
        chosen, amount = torch.rand(n, generator=gen) < cfg.blink, 0.25 + 0.75 * torch.rand(n, generator=gen)
        blink = torch.where(chosen, amount, 0.0)
    return AugmentDraw(angle, scale, shift, flip, bright, contrast, sat, offsets, turn, blink)


def augment(pixels: torch.Tensor, gen: torch.Generator, cfg: AugmentSettings = AugmentSettings()) -> Batch:
    """pixels: uint8 N×5×S×S (RGB, mask, priority; a sixth: visible face) on the device → an augmented `Batch`."""
    return apply(pixels, draw(gen, pixels.shape[0], cfg))


_TURN_GRID = 24  # a face's depth map is interpolated on a grid this fine, then upsampled to the crop
_TURN_REACH = 0.08  # that interpolation's width, in crop half-widths (4% of the crop)
_TURN_POINTS = slice(None, None, 2)  # every other mesh point is dense enough for a smooth map, at half the cost


def _landmark_depth(landmarks: torch.Tensor) -> torch.Tensor:
    """N×K depth of each landmark in crop pixels (`faces.head_depth` scaled by the face's width), mean 0."""
    from ..faces.head_depth import typical_depth

    pts = landmarks.float()
    width = (pts[..., 0].amax(1) - pts[..., 0].amin(1)).view(-1, 1)
    return torch.from_numpy(typical_depth()).to(pts.device).view(1, -1) * width


def depth_maps(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """N×1×G×G depth of the face over the crop (normalised coordinates), interpolated smoothly between the
    landmarks and fading to zero away from the face. A pure function of the face set: the bank computes it once."""
    pts = landmarks.float()
    to_norm = lambda t: (t + 0.5) * (2.0 / size) - 1.0  # noqa: E731  pixel centres, align_corners=False
    depth = (_landmark_depth(pts) * (2.0 / size))[:, _TURN_POINTS]
    pts = pts[:, _TURN_POINTS]
    g = torch.linspace(-1, 1, _TURN_GRID, device=pts.device)
    lattice = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).view(1, -1, 2)  # 1×G²×2 (x, y)
    out = []
    for part, z in zip(to_norm(pts).split(256), depth.split(256)):  # bounded memory for large face sets
        w = torch.exp(torch.cdist(lattice.expand(len(part), -1, -1), part) ** 2 * (-0.5 / _TURN_REACH ** 2))
        out.append((w @ z.unsqueeze(-1)) / (w.sum(-1, keepdim=True) + 0.05))  # the 0.05 fades it off the face
    return torch.cat(out).view(-1, 1, _TURN_GRID, _TURN_GRID)


def turn_landmarks(landmarks: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """N×K×2 crop-pixel landmarks as the face shows them turned by `turn` (N×2 yaw, pitch in radians) about
    the points' centre: to first order a point at depth z moves by −z·sin(yaw) across and z·sin(pitch) down.
    What that leaves out (a (1 − cos) shrink toward the centre, a sin·sin shear when both angles are large)
    stays within 4% of the face's width at 12 degrees each, the size of the similarity jitter; the pixels are
    moved the same way, so points and pixels agree."""
    z = _landmark_depth(landmarks).unsqueeze(-1)
    s = torch.sin(turn.to(landmarks.device).float())
    return landmarks.float() + z * torch.stack([-s[:, 0], s[:, 1]], 1).unsqueeze(1)


def apply(pixels: torch.Tensor, d: AugmentDraw, landmarks: torch.Tensor | None = None,
          depth: torch.Tensor | None = None) -> Batch:
    """Augment uint8 N×5×S×S faces with the random numbers `d` (drawn for exactly these N faces). The 3-D turn
    and the synthetic blink need the faces' N×K×2 crop-pixel `landmarks` (left out without them); the turn uses
    their `depth_maps` (given, or computed here)."""
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
    moved = None
    if (d.turn is not None or d.blink is not None) and landmarks is not None:
        moved = landmarks.to(dev).float()
        if d.turn is not None:
            # the turned face at v is the original at v − field(v) (first order, the turns being small)
            z = depth_maps(moved, s) if depth is None else depth.to(dev)
            sin = torch.sin(d.turn.to(dev).float())
            field = F.interpolate(z, size=(s, s), mode="bicubic", align_corners=True)
            field = torch.cat([-field * sin[:, 0].view(n, 1, 1, 1), field * sin[:, 1].view(n, 1, 1, 1)], 1)
            grid = grid - F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=False).permute(0, 2, 3, 1)
        if d.blink is not None:  # the blink comes first on the face, so last on the sampling grid
            grid = blink_grid(grid, moved, d.blink.to(dev), s)
            moved = blink_landmarks(moved, d.blink.to(dev))
        if d.turn is not None:
            moved = turn_landmarks(moved, d.turn)
    target = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if d.offsets is not None:
        # Smooth displacement field: random control points, bicubic-upsampled to every pixel.
        field = F.interpolate(d.offsets.to(dev), size=(s, s), mode="bicubic", align_corners=True)
        warped_grid = grid + field.permute(0, 2, 3, 1)
        inputs = F.grid_sample(rgb, warped_grid, mode="bilinear", padding_mode="border", align_corners=False)
    else:
        inputs = target[:, :3]
    visible = target[:, 5:6] if target.shape[1] > 5 else None  # a sixth channel: the visible-face map
    return Batch(inputs.clamp(0, 1), target[:, :3], target[:, 3:4], target[:, 4:5], landmarks=moved, visible=visible)


def sample_indices(count: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Random face indices (with replacement across steps, without within a step when possible)."""
    if batch <= count:
        return torch.randperm(count, generator=gen)[:batch]
    return torch.randint(count, (batch,), generator=gen)
