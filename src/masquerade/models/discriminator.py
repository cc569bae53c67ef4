"""PatchGAN discriminator for the optional adversarial refinement: judges overlapping patches, not faces.

A patch critic sharpens texture (pores, hair, teeth) that SSIM + L1 blur away, without pushing the global
layout the way a whole-image critic does. Outputs logits, one per ~22 px patch at 64 px input.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    def __init__(self, dims: int = 64, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, dims, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        ch = dims
        for _ in range(layers - 1):
            mods += [nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1), nn.GroupNorm(8, ch * 2), nn.LeakyReLU(0.2)]
            ch *= 2
        mods += [nn.Conv2d(ch, 1, 3, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)
