"""Expression channels: the decoders of a model with `expression` > 0 also read what the source face is doing.

`ExpressionCode` turns a face's raw measures (`faces.expression_reference.measures`) into a code relative to the
face's own person, with that person's reference held in a buffer, so it is saved with the weights and a
converted clip is read exactly as training read the faces. Three versions (the architecture's
`expression_code` setting, fixed when a model is created): 1 reads five measures against each person's usual
face (`faces.expression_reference.baseline`; the nod too, unless trained with the 3-D turn), 2 reads eleven as
deviations from the person's neutral face in units of their own range (`neutral_baseline`), 3 is version 2
whose swaps also carry the face's shape measures across to the target person (`across`). `ExpressionMap` makes
that code a small feature map concatenated to the decoder's input: position-dependent, so the decoder can tie
"mouth 0.2 open" to the mouth's place in the crop. Measures left out (None, or NaN for a face whose
landmarks are degenerate) read as the person's usual face: code 0.

Why version 3: a decoder follows the code of its own person closely (rendering man_d19's faces with the codes of
other man_d19 faces shuffled among them, the output's mouth follows the code's face, correlation 0.84-0.88, and
not the face the latent came from, -0.04), but a swap hands it codes from another person's distribution:
woman_d3's mouth code sits 0.74 range units below her fitted neutral on average, her corner lift 0.68 above, so
man_d19's decoder was asked for a mouth more closed than any he shows, saturated, and moved a seventh as much
as she does. `across` moves each shape measure of the source's code to the same place in the target's own
spread (the same number of standard deviations from the target's mean code), measured on each side's training
faces when the model is created. Eyes and the lower lids stay as read (shut is an absolute -1 for everyone, and
a calm target's narrow eye spread would turn every blink into a flutter), and so do head turn and nod
(geometry). docs/quality.md has the figures.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..faces.expression_reference import LEGACY_MEASURES, MEASURES, USUAL, YAW, neutral_baseline

SIDES = ("a", "b")
ACROSS = tuple(MEASURES.index(m) for m in ("mouth", "smile", "corner_lift", "lip_press", "pucker", "jaw_side", "brow"))
"""The measures version 3 carries across people by their spread (`ExpressionCode.across`): the mouth's and brows'
shape. Not the eyes and lower lids (closing against an absolute zero), not head turn and nod (geometry)."""


class ExpressionCode(nn.Module):
    """Raw measures N×11 (or the first 5) of faces of identity `source` → code N×`size`, about unit scale,
    0 = that person at rest. `version` 1: the five-measure code of older models, bit for bit; 2: eleven;
    3: eleven, and swaps carry the shape measures across by each person's spread (`across`)."""

    def __init__(self, version: int = 1):
        super().__init__()
        if version not in (1, 2, 3):
            raise ValueError(f"expression code version must be 1, 2 or 3, not {version!r}")
        self.version = version
        self.size = LEGACY_MEASURES if version == 1 else len(MEASURES)
        typical = [USUAL] if version == 1 else [neutral_baseline(np.empty((0, len(MEASURES))))]
        self.register_buffer("baseline", torch.tensor(np.array(typical * len(SIDES)), dtype=torch.float32))
        if version == 3:  # per side: the mean and the standard deviation of its faces' codes; 0 = not known yet
            self.register_buffer("spread", torch.zeros(len(SIDES), 2, self.size))

    def set_baseline(self, side: str, values) -> None:
        self.baseline[SIDES.index(side)] = torch.as_tensor(np.asarray(values), dtype=self.baseline.dtype)

    def open_eyes(self, side: str) -> float:
        """`side`'s person's eye opening at rest (`faces.landmark_measures.eye_opening`): the neutral face's
        (versions 2, 3) or the usual open level (version 1), as fitted on that side's training faces."""
        base = self.baseline[SIDES.index(side)]
        return float(base[0, MEASURES.index("eyes")] if self.version >= 2 else base[0])

    @torch.no_grad()
    def set_spread(self, side: str, measures: torch.Tensor) -> None:
        """Version 3: the mean and spread of the codes of `side`'s faces (raw measures N×11), read against the
        baseline already set for that side. Faces with a measure unknown (NaN) are left out of it."""
        if self.version != 3:
            return
        m = torch.as_tensor(measures).float().cpu()
        m = m[torch.isfinite(m[:, : self.size]).all(1)]
        if len(m) < 2:
            return
        code = self.forward(m, side)
        self.spread[SIDES.index(side)] = torch.stack([code.mean(0), code.std(0)])

    def across(self, code: torch.Tensor, source: str, target: str) -> torch.Tensor:
        """A code read on `source`'s faces, as the same expression of `target`: each measure in `ACROSS` moved to
        the same number of standard deviations from the target's mean code as it is from the source's (version
        3, once both spreads are known; the code unchanged otherwise, and always when source is target)."""
        if self.version != 3 or source == target:
            return code
        (mean_s, sd_s), (mean_t, sd_t) = (self.spread[SIDES.index(k)].to(code.device) for k in (source, target))
        known = (sd_s > 0) & (sd_t > 0)  # a measure neither spread knows stays as read (no host sync to ask)
        moved = (code - mean_s) / sd_s.clamp_min(1e-6) * sd_t + mean_t
        pick = torch.zeros(self.size, dtype=torch.bool, device=code.device)
        pick[list(ACROSS)] = True
        return torch.where(pick & known, moved, code)

    def forward(self, measures: torch.Tensor, source: str) -> torch.Tensor:
        base = self.baseline[SIDES.index(source)].to(measures.device)
        m = measures.float()
        if self.version >= 2:
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
