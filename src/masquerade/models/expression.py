"""Expression channels: the decoders of a model with `expression` > 0 also read what the source face is doing.

`ExpressionCode` turns a face's raw measures (`faces.expression_code.measures`: mouth, eyes, smile, yaw,
pitch) into a code relative to the face's own person (the nod too, unless trained with the 3-D turn: see
`faces.expression_code.baseline`), with that person's baseline held in a buffer, so it is saved with the
weights and a converted clip is read exactly as training read the faces. `ExpressionMap` makes that code a
small feature map concatenated to the decoder's input: position-dependent, so the decoder can tie "mouth 0.2
open" to the mouth's place in the crop. Measures left out (None, or NaN for a face whose
landmarks are degenerate) read as the person's usual face: code 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..faces.expression_code import MEASURES, USUAL, YAW

SIDES = ("a", "b")


class ExpressionCode(nn.Module):
    """Raw measures N×5 of faces of identity `source` → code N×5, about unit scale, 0 = that person at rest."""

    def __init__(self):
        super().__init__()
        self.register_buffer("baseline", torch.tensor([USUAL] * len(SIDES)))  # eyes, smile, pitch

    def set_baseline(self, side: str, values) -> None:
        self.baseline[SIDES.index(side)] = torch.as_tensor(values, dtype=self.baseline.dtype)

    def forward(self, measures: torch.Tensor, source: str) -> torch.Tensor:
        eyes_open, width, pitch = self.baseline[SIDES.index(source)].to(measures.device)
        m = measures.float()
        code = torch.stack([
            m[:, 0] / 0.15,  # mouth: ~1 open, 2 wide
            (m[:, 1] / eyes_open - 1) * 2,  # eyes: 0 open as usual, about -1.6 shut
            (m[:, 2] / width - 1) * 5,  # smile: 0 usual width, ~1 a broad smile
            m[:, YAW] / 30,  # head turn: ±1 at 30°
            (m[:, 4] - pitch) / 0.05,  # nod: ±1 at about ±10°
        ], dim=1)
        return torch.nan_to_num(code, nan=0.0).clamp(-4, 4)


class ExpressionMap(nn.Module):
    """Code N×5 → feature map N×channels×res×res (a small MLP, then a dense layer per position)."""

    def __init__(self, channels: int, res: int, hidden: int = 64):
        super().__init__()
        self.channels, self.res = channels, res
        self.net = nn.Sequential(nn.Linear(len(MEASURES), hidden), nn.LeakyReLU(0.1),
                                 nn.Linear(hidden, channels * res * res))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).view(-1, self.channels, self.res, self.res)
