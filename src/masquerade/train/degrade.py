"""The identity upscaler's training inputs: sharp crops degraded the way a swap model's decoded face is.

Why batched tensor ops: the degradation runs on every training step, over the whole batch. Done per sample
in Python with OpenCV's JPEG codec it kept the CPU busy between steps and, on a GPU, copied every batch to
the host and back. Here every operation (colour shift, area downscale, blur, noise, JPEG-like blocking) is a
tensor op over the batch on the device the crops are on. The JPEG codec is stood in for by what makes its
look: YCbCr with 4:2:0 chroma, an 8×8 DCT per block, the IJG quantisation tables scaled by quality, and
8-bit output. (No entropy coding: it is lossless, so it changes nothing a decoder shows.)

Every random number comes from the given generator, drawn on the generator's device in a fixed order, so
a fixed generator gives the same pairs run after run (and the same held-out set).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .upscaler_config import Degradation

# the IJG (libjpeg) base tables, at quality 50, in natural (row-major) order
_LUMA_Q = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
           14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
           49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA_Q = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
             47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
# RGB <-> YCbCr as JPEG (JFIF) defines it: BT.601 matrix, full range, chroma centred on 128
_TO_YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def per_sample_blur(x: torch.Tensor, sigmas: torch.Tensor, max_sigma: float | None = None) -> torch.Tensor:
    """Gaussian blur with one sigma per image (a grouped separable convolution over the whole batch).

    `max_sigma` sizes the kernel (default: the largest sigma, which costs a read back from the device)."""
    n, c, h, w = x.shape
    reach = float(sigmas.max()) if max_sigma is None else float(max_sigma)
    k = 2 * int(math.ceil(3 * reach)) + 1
    r = torch.arange(k, dtype=torch.float32, device=x.device) - k // 2
    g = torch.exp(-(r[None] ** 2) / (2 * sigmas.to(x.device).clamp_min(1e-3)[:, None] ** 2))
    g = (g / g.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n·c)×k
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (k // 2, k // 2, 0, 0), mode="reflect"), g.view(n * c, 1, 1, k), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, k // 2, k // 2), mode="reflect"), g.view(n * c, 1, k, 1), groups=n * c)
    return y.view(n, c, h, w)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II: coefficients = D @ block @ D.T, block = D.T @ coefficients @ D."""
    i = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos((2 * i[None] + 1) * i[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d


def quant_tables(quality: torch.Tensor, chroma: bool) -> torch.Tensor:
    """N×8×8 quantisation steps for per-image JPEG qualities 1..100, scaled as libjpeg scales its tables."""
    q = quality.float().clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    base = torch.tensor(_CHROMA_Q if chroma else _LUMA_Q, dtype=torch.float32, device=quality.device).view(1, 8, 8)
    return torch.floor((base * scale.view(-1, 1, 1) + 50) / 100).clamp(1, 255)


def _quantise_blocks(plane: torch.Tensor, steps: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """N×H×W plane (0..255, centred on 0) through an 8×8 DCT, rounding to `steps` (N×8×8), and back."""
    n, h, w = plane.shape
    ph, pw = -h % 8, -w % 8
    if ph or pw:  # JPEG repeats the edge to fill the last blocks
        plane = F.pad(plane[:, None], (0, pw, 0, ph), mode="replicate")[:, 0]
    hh, ww = plane.shape[1:]
    blocks = plane.view(n, hh // 8, 8, ww // 8, 8).permute(0, 1, 3, 2, 4)  # N×by×bx×8×8
    coef = dct @ blocks @ dct.T
    steps = steps.view(n, 1, 1, 8, 8)
    coef = torch.round(coef / steps) * steps
    out = (dct.T @ coef @ dct).permute(0, 1, 3, 2, 4).reshape(n, hh, ww)
    return out[:, :h, :w]


def jpeg_like(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in [0, 1] as a JPEG at per-image `quality` (N) would decode it, in [0, 1] on 8-bit levels."""
    n, _, h, w = x.shape
    dct = _dct_matrix(x.device)
    to_ycc = torch.tensor(_TO_YCC, dtype=torch.float32, device=x.device)
    ycc = torch.einsum("ij,njhw->nihw", to_ycc, torch.round(x.clamp(0, 1) * 255))  # Y 0..255, Cb/Cr centred on 0
    y = _quantise_blocks(ycc[:, 0] - 128, quant_tables(quality, chroma=False), dct) + 128
    small = F.avg_pool2d(F.pad(ycc[:, 1:], (0, w % 2, 0, h % 2), mode="replicate"), 2)  # 4:2:0 chroma
    chroma_steps = quant_tables(quality, chroma=True)
    cbcr = torch.stack([_quantise_blocks(small[:, i], chroma_steps, dct) for i in range(2)], 1)
    cbcr = F.interpolate(cbcr, scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w]
    ycc = torch.cat([y[:, None], cbcr], 1)
    rgb = torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_ycc), ycc)
    return torch.round(rgb.clamp(0, 255)) / 255


def degrade_pair(hr: torch.Tensor, in_size: int, gen: torch.Generator, d: Degradation = Degradation()
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 N×3×S×S crops → (degraded input N×3×s×s, colour-shifted target N×3×S×S), float [0, 1], on the
    crops' device. Every random number comes from `gen` (on its own device), in the same order each call."""
    n, device = hr.shape[0], hr.device

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=gen.device).to(device)

    x = hr.float() / 255
    gain = 1 + (u(n, 3, 1, 1) * 2 - 1) * d.color_gain
    offset = (u(n, 3, 1, 1) * 2 - 1) * d.color_offset
    target = (x * gain + offset).clamp(0, 1)
    lr = F.interpolate(target, size=(in_size, in_size), mode="area")
    lo, hi = d.blur_sigma
    lr = per_sample_blur(lr, lo + (hi - lo) * u(n), max_sigma=max(lo, hi))
    noisy = u(n) < 0.5
    noise = torch.randn(lr.shape, generator=gen, device=gen.device).to(device)
    lr = (lr + noise * (u(n, 1, 1, 1) * d.noise) * noisy.view(n, 1, 1, 1)).clamp(0, 1)
    qlo, qhi = d.jpeg_quality
    compress, quality = u(n) < 0.5, (qlo + (qhi - qlo) * u(n)).round()
    lr = torch.where(compress.view(n, 1, 1, 1), jpeg_like(lr, quality), lr)
    return lr, target
