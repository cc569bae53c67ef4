"""Reconstruction losses: SSIM + L1 on the face inside the mask, a mask loss, eye/mouth priority, and LSGAN.

The face inside the extracted hull carries the loss (convert blends the rest away); pixels outside it get a
small weight (`background_weight`) so the whole crop stays plausible in previews and crop-level metrics.
Eyes and mouth weigh `eye_mouth_weight` times more because that is where a swap is judged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=32)
def _gauss(size: int = 11, sigma: float = 1.5, device: torch.device | None = None,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The normalised 1-D Gaussian, built once per (size, sigma, device, dtype): every loss call reuses it
    instead of launching its few tiny kernels (and, on a GPU, a copy) again. Read-only: it is shared. Built
    outside inference mode even when first asked for in it (a preview), so training can backpropagate past it."""
    with torch.inference_mode(False):
        x = torch.arange(size, dtype=dtype, device=device) - size // 2
        g = torch.exp(-(x**2) / (2 * sigma**2))
        return g / g.sum()


BAND_MAX_SIDE = 256  # above this the banded matrices cost more FLOPs than the depthwise convs save


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """n×n matrix whose product with a length-n signal is its zero-padded convolution with the 1-D kernel g."""
    k = g.numel()
    i = torch.arange(n, device=g.device)
    tap = i[None, :] - i[:, None] + k // 2  # row: output position, column: input position
    return torch.where((tap >= 0) & (tap < k), g[tap.clamp(0, k - 1)], g.new_zeros(()))


@functools.lru_cache(maxsize=64)
def _gauss_band(n: int, size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`_band(n, _gauss(size, sigma))`, built once per (n, size, sigma, device, dtype) and shared, read-only
    (outside inference mode, as `_gauss`)."""
    with torch.inference_mode(False):
        return _band(n, _gauss(size, sigma, device, dtype))


def _blur(x: torch.Tensor, g: torch.Tensor, bands: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Separable blur of N×C×H×W with the 1-D kernel g, zero padding (same size out); `bands`: the banded
    matrices of H and W, when the caller holds them already.

    Up to BAND_MAX_SIDE px as two matrix products with banded matrices, not two depthwise convolutions: on the
    CPU oneDNN's depthwise kernels ran the SSIM loss at 19.5 ms forward + backward per 8×3×64×64 batch, the
    products at 6.7 ms, bit-identical (the 2-core box, 2026-12-02): a tenth of a `lite` training step."""
    h, w = x.shape[-2:]
    if max(h, w) <= BAND_MAX_SIDE:
        band_h, band_w = bands or (_band(h, g), _band(w, g))
        return band_h @ (x @ band_w.t())
    c, k = x.shape[1], g.numel()
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), padding=(0, k // 2), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), padding=(k // 2, 0), groups=c)


def gaussian_blur(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """`_blur` with the Gaussian `_gauss(size, sigma)`, its kernel and banded matrices cached on x's device."""
    h, w = x.shape[-2:]
    key = (size, sigma, x.device, torch.float32)
    bands = (_gauss_band(h, *key), _gauss_band(w, *key)) if max(h, w) <= BAND_MAX_SIDE else None
    return _blur(x, _gauss(*key), bands)


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Per-pixel SSIM (Gaussian window, σ 1.5, zero padding) of images in [0, 1]; N×C×H×W."""
    c1, c2 = 0.01**2, 0.03**2
    mx, my = gaussian_blur(x, window), gaussian_blur(y, window)
    sxx = gaussian_blur(x * x, window) - mx * mx
    syy = gaussian_blur(y * y, window) - my * my
    sxy = gaussian_blur(x * y, window) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image (N,), for metrics and quality checks."""
    return ssim_map(x, y).mean(dim=(1, 2, 3))


@dataclass(frozen=True)
class LossWeights:
    ssim: float = 1.0
    l1: float = 1.0
    mask: float = 1.0
    eye_mouth: float = 3.0
    background: float = 0.25  # weight of pixels outside the mask: enough for a plausible full crop, no more


def reconstruction_loss(
    face: torch.Tensor, mask_pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
    priority: torch.Tensor, w: LossWeights, visible: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar loss for one identity's batch. All tensors float32, N×C×S×S in [0, 1].

    `visible` (N×1×S×S, 0 where a hand or an object covers the face, `train/visible.py`): those pixels are
    left out of every term, so the decoder is never taught to draw an occluder into a face."""
    face, mask_pred = face.float(), mask_pred.float()
    weight = mask * (1 + (w.eye_mouth - 1) * priority) + w.background * (1 - mask)
    if visible is not None:
        weight = weight * visible
    # Normalised per face, then averaged: every face counts the same whatever its mask's size, and the mean
    # over a batch equals the mean of its halves' means, so data-parallel ranks add up to one process exactly.
    norm = 3 * weight.sum(dim=(1, 2, 3)).clamp_min(1.0)
    loss = mask_pred.new_zeros(())
    if w.l1:
        loss = loss + w.l1 * ((weight * (face - target).abs()).sum(dim=(1, 2, 3)) / norm).mean()
    if w.ssim:
        # With no background weight, compare the faces only (zero the rest) so SSIM windows on the hull's edge
        # are not penalised for what lies outside it.
        pair = (face, target) if w.background else (face * mask, target * mask)
        dssim = (1 - ssim_map(*pair)) / 2
        loss = loss + w.ssim * ((weight * dssim).sum(dim=(1, 2, 3)) / norm).mean()
    if w.mask:
        err = (mask_pred - mask).abs()
        loss = loss + w.mask * (err.mean() if visible is None else (err * visible).sum() / err.numel())
    return loss


def composite(face: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The predicted face pasted into the target through the extracted mask: what the critic judges."""
    return face * mask + target * (1 - mask)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN critic loss (stable without gradient penalties)."""
    return 0.5 * ((real_logits.float() - 1) ** 2).mean() + 0.5 * (fake_logits.float() ** 2).mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return ((fake_logits.float() - 1) ** 2).mean()
