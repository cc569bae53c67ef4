"""Expression channels: the decoders of a model with `expression` > 0 also read what the source face is doing.

`ExpressionCode` turns a face's raw measures (`faces.expression_reference.measures`) into a code relative to the
face's own person, with that person's reference held in a buffer, so it is saved with the weights and a
converted clip is read exactly as training read the faces. Two versions (the architecture's
`expression_code` setting, fixed when a model is created): 1 reads five measures against each person's usual
face (`faces.expression_reference.baseline`; the nod too, unless trained with the 3-D turn), 2 reads eleven as
deviations from the person's neutral face in units of their own range (`neutral_baseline`). `ExpressionMap` makes that code a
small feature map concatenated to the decoder's input: position-dependent, so the decoder can tie "mouth 0.2
open" to the mouth's place in the crop. Measures left out (None, or NaN for a face whose
landmarks are degenerate) read as the person's usual face: code 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..faces.expression_reference import LEGACY_MEASURES, MEASURES, USUAL, YAW, neutral_baseline

SIDES = ("a", "b")


class ExpressionCode(nn.Module):
    """Raw measures N×11 (or the first 5) of faces of identity `source` → code N×`size`, about unit scale,
    0 = that person at rest. `version` 1: the five-measure code of older models, bit for bit; 2: eleven."""

    def __init__(self, version: int = 1):
        super().__init__()
        if version not in (1, 2):
            raise ValueError(f"expression code version must be 1 or 2, not {version!r}")
        self.version = version
        self.size = LEGACY_MEASURES if version == 1 else len(MEASURES)
        typical = [USUAL] if version == 1 else [neutral_baseline(np.empty((0, len(MEASURES))))]
        self.register_buffer("baseline", torch.tensor(np.array(typical * len(SIDES)), dtype=torch.float32))

    def set_baseline(self, side: str, values) -> None:
        self.baseline[SIDES.index(side)] = torch.as_tensor(np.asarray(values), dtype=self.baseline.dtype)

    def forward(self, measures: torch.Tensor, source: str) -> torch.Tensor:
        base = self.baseline[SIDES.index(source)].to(measures.device)
        m = measures.float()
        if self.version == 2:
            neutral, below, above = base
            delta = m[:, : self.size] - neutral
            return torch.nan_to_num(delta / torch.where(delta >= 0, above, below), nan=0.0).clamp(-4, 4)
        eyes_open, width, pitch = base
        code = torch.stack([
            m[:, 0] / 0.15,  # mouth: ~1 open, 2 wide
            (m[:, 1] / eyes_open - 1) * 2,  # eyes: 0 open as usual, about -1.6 shut
            (m[:, 2] / width - 1) * 5,  # smile: 0 usual width, ~1 a broad smile
            m[:, YAW] / 30,  # head turn: ±1 at 30°
            (m[:, 4] - pitch) / 0.05,  # nod: ±1 at about ±10°
        ], dim=1)
        return torch.nan_to_num(code, nan=0.0).clamp(-4, 4)


class ExpressionMap(nn.Module):
    """Code N×`code_size` → feature map N×channels×res×res (a small MLP, then a dense layer per position)."""

    def __init__(self, channels: int, res: int, hidden: int = 64, code_size: int = LEGACY_MEASURES):
        super().__init__()
        self.channels, self.res = channels, res
        self.net = nn.Sequential(nn.Linear(code_size, hidden), nn.LeakyReLU(0.1),
                                 nn.Linear(hidden, channels * res * res))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).view(-1, self.channels, self.res, self.res)
