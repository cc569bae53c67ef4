"""Synthetic glasses on the encoder's input: each decoder learns to draw its person from a face behind glasses.

Why: a source who wears glasses hands the target's decoder an input it never saw when the target never wears
any. On man_d19 → woman_d10 the swap drew a pale box where his lenses reflect the light, with hard edges at his
temples where the frame's arms run (docs/quality.md). Drawn on a share of the training faces' *inputs* only
(the target stays as filmed, so the loss asks for the face without them), a frame and a reflecting lens become
something the encoder learns to look through, for both people, whoever wears glasses in the footage.

A pair is drawn from the face's own landmarks in crop pixels: an elliptical rim around each eye (a little wider
than the eye's corners, tilted with the eye line), a bridge between them above the eyes' centres, an arm from
each rim's outer edge past the side of the face, and a glare across each lens (a soft bright gradient, as a
lens reflecting a window shows). Frame colour (dark, brown, gold or silver), rim thickness, lens size and the
glare's strength and direction are drawn per face. Vectorised over the batch on the training device.
"""

from __future__ import annotations

import math

import torch

EYES = ((33, 133), (263, 362))  # outer and inner corners: the subject's right eye, then left
SIDES = (234, 454)  # the face's edge beside each eye (cheek points): the arms run past them
COLOURS = ((0.08, 0.08, 0.09), (0.30, 0.20, 0.12), (0.72, 0.58, 0.32), (0.70, 0.70, 0.72))
GLARE_RGB = (0.86, 0.90, 0.95)
FIELDS = 7  # per face: chosen, colour index, thickness, lens size, glare strength, glare angle, frame shade


def draw(gen: torch.Generator, n: int, share: float) -> torch.Tensor:
    """N×`FIELDS` random numbers of a batch's glasses (on the CPU generator; row i's first field 1 = draw them)."""
    u = torch.rand(n, FIELDS, generator=gen)
    chosen = (u[:, 0] < share).float()
    colour = (u[:, 1] * len(COLOURS)).floor().clamp(max=len(COLOURS) - 1)
    thickness = 0.008 + 0.022 * u[:, 2]  # of the crop's side
    size = 1.0 + 0.5 * u[:, 3]  # lens size over the eye's width-based default
    glare = 0.1 + 0.4 * u[:, 4]
    angle = u[:, 5] * 2 * math.pi
    shade = 0.8 + 0.4 * u[:, 6]
    return torch.stack([chosen, colour, thickness, size, glare, angle, shade], 1)


def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance of points p (N×H×W×2) to segments a→b (N×2 each)."""
    a, b = a.view(-1, 1, 1, 2), b.view(-1, 1, 1, 2)
    ab = b - a
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    return (p - a - t.unsqueeze(-1) * ab).norm(dim=-1)


def put_on(rgb: torch.Tensor, landmarks: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """`rgb` (N×3×S×S in [0, 1]) with glasses drawn on the faces whose row of `g` (N×`FIELDS`, `draw`) is chosen,
    placed by their landmarks (N×K×2, crop pixels)."""
    n, _, s, _ = rgb.shape
    dev = rgb.device
    g = g.to(dev)
    if not bool(g[:, 0].any()):
        return rgb
    pts = landmarks.to(dev).float()
    line = torch.arange(s, device=dev, dtype=torch.float32)
    yy, xx = torch.meshgrid(line, line, indexing="ij")
    p = torch.stack([xx, yy], -1).unsqueeze(0)  # 1×S×S×2
    centres = torch.stack([pts[:, list(e)].mean(1) for e in EYES], 1)  # N×2×2
    widths = torch.stack([(pts[:, o] - pts[:, i]).norm(dim=1) for o, i in EYES], 1)  # N×2
    across = centres[:, 1] - centres[:, 0]
    across = across / across.norm(dim=1, keepdim=True).clamp_min(1e-6)  # N×2, right eye → left eye
    down = torch.stack([-across[:, 1], across[:, 0]], 1)
    half = g[:, 2] * s / 2  # half the rim's thickness, px
    rim = torch.zeros(n, s, s, device=dev)
    lens_glare = torch.zeros(n, s, s, device=dev)
    bars, bridge = [], []
    for k, side in ((0, -1.0), (1, 1.0)):  # the right eye's outer edge lies toward the image's left
        a = (0.8 * widths[:, k] * g[:, 3]).view(n, 1, 1)  # the lens's half-width and half-height
        b = (0.68 * widths[:, k] * g[:, 3]).view(n, 1, 1)
        d = p - centres[:, k].view(n, 1, 1, 2)
        u, v = (d * across.view(n, 1, 1, 2)).sum(-1), (d * down.view(n, 1, 1, 2)).sum(-1)
        r = ((u / a) ** 2 + (v / b) ** 2).sqrt()
        dist = (r - 1).abs() * torch.minimum(a, b)  # about px from the rim's middle line
        rim = torch.maximum(rim, (half.view(n, 1, 1) + 0.5 - dist).clamp(0, 1))
        ang = g[:, 5].view(n, 1, 1)
        ramp = (0.5 + (u * torch.cos(ang) + v * torch.sin(ang)) / (2 * a)).clamp(0, 1)
        inside = (1.5 * (1 - r)).clamp(0, 1)  # fading out towards the rim
        lens_glare = torch.maximum(lens_glare, g[:, 4].view(n, 1, 1) * ramp * inside)
        a, b = a.view(n, 1), b.view(n, 1)
        outer = centres[:, k] + side * a * across
        reach = ((centres[:, k] - pts[:, SIDES[k]]) * across).sum(1, keepdim=True).abs() * 1.3
        bars.append((outer, outer + side * reach * across))  # the arm
        bridge.append(centres[:, k] - side * a * across - 0.25 * b * down)  # the rim's inner edge, a little up
    for start, end in bars + [tuple(bridge)]:
        rim = torch.maximum(rim, (half.view(n, 1, 1) + 0.5 - _segment_distance(p, start, end)).clamp(0, 1))
    palette = torch.tensor(COLOURS, device=dev)[g[:, 1].long()] * g[:, 6:7]
    on = g[:, 0].view(n, 1, 1, 1)
    glare = lens_glare.unsqueeze(1) * on
    out = rgb * (1 - glare) + torch.tensor(GLARE_RGB, device=dev).view(1, 3, 1, 1) * glare
    alpha = rim.unsqueeze(1) * on
    return (out * (1 - alpha) + palette.clamp(0, 1).view(n, 3, 1, 1) * alpha).clamp(0, 1)
