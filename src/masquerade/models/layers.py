"""Building blocks shared by the architectures: strided convs, pixel-shuffle upscalers, residual blocks.

LeakyReLU(0.1) and ICNR-initialised pixel shuffle follow faceswap's Original: ICNR starts every upscaler as
a nearest-neighbour resize, which avoids the checkerboard artefacts a random init gives in the first steps.
"""

from __future__ import annotations

import torch
from torch import nn


def icnr_(weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """Initialise a conv feeding PixelShuffle(scale) so its output starts as a nearest-neighbour upsample."""
    out_ch, in_ch, kh, kw = weight.shape
    sub = torch.empty(out_ch // (scale * scale), in_ch, kh, kw)
    nn.init.kaiming_uniform_(sub, a=0.1)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    return weight


class Down(nn.Sequential):
    """Stride-2 conv + LeakyReLU: halves the resolution."""

    def __init__(self, cin: int, cout: int, kernel: int = 5, slope: float = 0.1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride=2, padding=kernel // 2), nn.LeakyReLU(slope))


class Up(nn.Sequential):
    """3×3 conv to 4·cout channels + LeakyReLU + PixelShuffle(2): doubles the resolution."""

    def __init__(self, cin: int, cout: int, slope: float = 0.1):
        conv = nn.Conv2d(cin, cout * 4, 3, padding=1)
        icnr_(conv.weight)
        super().__init__(conv, nn.LeakyReLU(slope), nn.PixelShuffle(2))


class ResBlock(nn.Module):
    """Two 3×3 convs with a skip (DeepFaceLab's SAEHD decoder block): sharpens without losing the coarse face."""

    def __init__(self, ch: int, slope: float = 0.2):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class DenseBottleneck(nn.Module):
    """Flatten → Linear(dims) → Linear(res²·ch) → reshape: the narrow code that forces a shared face model."""

    def __init__(self, in_features: int, dims: int, res: int, ch: int):
        super().__init__()
        self.res, self.ch = res, ch
        self.fc1 = nn.Linear(in_features, dims)
        self.fc2 = nn.Linear(dims, res * res * ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc2(self.fc1(x.flatten(1)))
        return z.view(-1, self.ch, self.res, self.res)


class FaceHead(nn.Module):
    """Final convs: RGB face and a 1-channel mask, both through a sigmoid into [0, 1]."""

    def __init__(self, face_ch: int, mask_ch: int | None = None, kernel: int = 5):
        super().__init__()
        self.face = nn.Conv2d(face_ch, 3, kernel, padding=kernel // 2)
        self.mask = nn.Conv2d(face_ch if mask_ch is None else mask_ch, 1, kernel, padding=kernel // 2)

    def forward(self, feat: torch.Tensor, mask_feat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if mask_feat is None:
            # Face and mask read the same features: one 4-channel conv instead of a 3- and a 1-channel one.
            # Convs this narrow run far below the CPU's peak, so merging them halves the heads' cost.
            weight = torch.cat([self.face.weight, self.mask.weight])
            bias = torch.cat([self.face.bias, self.mask.bias])
            out = torch.sigmoid(nn.functional.conv2d(feat, weight, bias, padding=self.face.padding))
            return out[:, :3], out[:, 3:]
        return torch.sigmoid(self.face(feat)), torch.sigmoid(self.mask(mask_feat))
