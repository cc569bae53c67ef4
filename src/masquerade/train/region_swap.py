"""Expression taught through the code: the eyes and mouth of some encoder inputs come from another face.

Why: a decoder with expression channels (`models/expression_input.py`) gets two descriptions of the face it
must draw: the shared code from the encoder, which already shows that face's mouth and eyes, and the
expression code read off its landmarks. Trained only to redraw its own person, it learns to copy the first
and ignores the second: on a 2,000-step `lite` model, sweeping the eye code from open to shut left the drawn
eyes as they were (lid gap 0.076 → 0.074) and the nod code moved nothing. In a swap the shared code comes
from the *other* person's face, which the decoder reads poorly, so the mouth stays put and the eyes never
close: the expression code is the only signal that crosses between people, and it was the one not learned.

So, on a share of each batch, the encoder's input (never the target) shows the eyes and mouth of another
random face of the same person (augmented with the same random numbers, so it sits where the face's own
would), blended in over a softened map of both faces' eye and mouth regions. The target and its expression
code stay those of the face itself, so the only way to draw the right mouth and eyes there is to read the
code, as a swap must.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RegionSwapDraw:
    """Which faces of a batch get another face's eyes and mouth (`chosen`, bool N) and from which face of the
    bank (`donors`, N indices; ignored where not chosen). CPU tensors, like every augmentation draw."""

    chosen: torch.Tensor
    donors: torch.Tensor

    def part(self, rows: slice) -> RegionSwapDraw:
        return RegionSwapDraw(self.chosen[rows], self.donors[rows])


def draw_region_swap(gen: torch.Generator, n: int, share: float, count: int) -> RegionSwapDraw | None:
    """The draw of a batch of `n` from a bank of `count` faces; None when off (then nothing is drawn, so a run
    without it draws exactly the numbers it always did)."""
    if share <= 0:
        return None
    chosen = torch.rand(n, generator=gen) < share
    donors = torch.randint(max(count, 1), (n,), generator=gen)
    return RegionSwapDraw(chosen, donors)


def region_weight(priority: torch.Tensor, donor_priority: torch.Tensor) -> torch.Tensor:
    """N×1×S×S blend weight: both faces' eye and mouth regions (an open mouth is larger than a closed one),
    widened and softened by about a sixteenth of the crop so no hard edge is left for the encoder to read."""
    size = priority.shape[-1]
    k = max(3, size // 16) | 1
    both = torch.maximum(priority, donor_priority)
    both = F.max_pool2d(both, k, stride=1, padding=k // 2)
    return F.avg_pool2d(both, k, stride=1, padding=k // 2, count_include_pad=False)


def swap_regions(inputs: torch.Tensor, priority: torch.Tensor, donor_inputs: torch.Tensor,
                 donor_priority: torch.Tensor) -> torch.Tensor:
    """`inputs` (N×3×S×S) with the eye and mouth regions of `donor_inputs` (the same augmentation of other
    faces) blended in."""
    w = region_weight(priority, donor_priority)
    return inputs * (1 - w) + donor_inputs * w
