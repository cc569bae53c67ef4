"""Building blocks shared by the architectures: strided convs, pixel-shuffle upscalers, residual blocks.

LeakyReLU(0.1) and ICNR-initialised pixel shuffle follow faceswap's Original: ICNR starts every upscaler as
a nearest-neighbour resize, which avoids the checkerboard artefacts a random init gives in the first steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def icnr_(weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """Initialise a conv feeding PixelShuffle(scale) so its output starts as a nearest-neighbour upsample."""
    out_ch, in_ch, kh, kw = weight.shape
    sub = torch.empty(out_ch // (scale * scale), in_ch, kh, kw)
    nn.init.kaiming_uniform_(sub, a=0.1)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    return weight


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` that computes a small output map (at most 8×8) with many output channels (1024 and up) on
    the CPU as one matrix product: unfold the input patches, then a GEMM against the weights.

    Why: oneDNN's direct convolution runs the layers next to the bottleneck far below the machine's matmul
    speed. Measured on the 2-core AVX2 box, forward + backward as a share of a 2048² matmul's GFLOP/s,
    convolution vs GEMM: `original`'s 512→1024 5×5 stride-2 to 4×4 0.44 vs 0.78, its 1024→2048 3×3 at 4×4
    0.52 vs 0.83, its decoders' 512→1024 3×3 at 8×8 0.71 vs 0.84, `hd`'s 256→1024 at 8×8 0.76 vs 0.86. The
    unfolded patches cost memory traffic that only many output channels pay back: at 512 channels or fewer
    the convolution wins or ties (`original`'s 256→512 5×5 to 8×8 0.75 vs 0.57, `lite`'s 4×4 layers 0.44-0.51
    vs 0.42-0.45), and at 16×16 and up it wins outright (0.85-0.92 vs 0.40-0.61). Same weights and
    state-dict keys; the same result up to float rounding (2e-5 on outputs of magnitude ~1). GPUs keep cuDNN."""

    MAX_POSITIONS = 64
    MIN_OUT_CHANNELS = 1024
    # In bf16 (AMX / AVX512-BF16) the GEMM also wins at a 4×4 output from 256 output channels: measured on
    # the 2-core Xeon (one thread, forward + backward), `lite`'s 256→512 3×3 at 4×4 9.4 vs 17.4 ms and its
    # 128→256 5×5 stride-2 to 4×4 9.5 vs 12.6 ms; at 8×8 with 256 channels the convolution still wins (5.1 vs 6.9).
    BF16_MAX_POSITIONS = 16
    BF16_MIN_OUT_CHANNELS = 256

    def _as_gemm(self, x: torch.Tensor) -> tuple[int, int] | None:
        if x.device.type != "cpu" or x.dim() != 4 or self.groups != 1 \
                or self.padding_mode != "zeros" or isinstance(self.padding, str) or self.dilation != (1, 1):
            return None
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh, ow = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
        if oh * ow <= self.MAX_POSITIONS and self.out_channels >= self.MIN_OUT_CHANNELS:
            return oh, ow
        if x.dtype == torch.bfloat16 and oh * ow <= self.BF16_MAX_POSITIONS and self.out_channels >= self.BF16_MIN_OUT_CHANNELS:
            return oh, ow
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self._as_gemm(x)
        if size is None:
            return super().forward(x)
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # N, C·k·k, positions
        y = F.linear(cols.transpose(1, 2), self.weight.reshape(self.out_channels, -1), self.bias)
        return y.transpose(1, 2).reshape(x.shape[0], self.out_channels, *size).contiguous()


class Down(nn.Sequential):
    """Stride-2 conv + LeakyReLU: halves the resolution."""

    def __init__(self, cin: int, cout: int, kernel: int = 5, slope: float = 0.1):
        super().__init__(Conv2d(cin, cout, kernel, stride=2, padding=kernel // 2), nn.LeakyReLU(slope))


class Up(nn.Sequential):
    """3×3 conv to 4·cout channels + LeakyReLU + PixelShuffle(2): doubles the resolution."""

    def __init__(self, cin: int, cout: int, slope: float = 0.1):
        conv = Conv2d(cin, cout * 4, 3, padding=1)
        icnr_(conv.weight)
        super().__init__(conv, nn.LeakyReLU(slope), nn.PixelShuffle(2))


class ResBlock(nn.Module):
    """Two 3×3 convs with a skip (DeepFaceLab's SAEHD decoder block): sharpens without losing the coarse face."""

    def __init__(self, ch: int, slope: float = 0.2):
        super().__init__()
        self.conv1 = Conv2d(ch, ch, 3, padding=1)
        self.conv2 = Conv2d(ch, ch, 3, padding=1)
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
