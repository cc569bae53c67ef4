"""One rank's augmented training batch: faces drawn (balanced where the face set has weights), augmented on
the device, and their expression measures read off the moved landmarks.

Apart from the loop so what a step trains on is one function: the benchmark and the tests draw batches
exactly as training does.
"""

from __future__ import annotations

import torch

from ..faces.expression_reference import MIRRORED, measures
from . import distributed
from .augment import AugmentSettings, apply, draw, sample_indices
from .data import FaceBank
from .sampling import weighted_indices


def sample_batch(bank: FaceBank, batch: int, gen: torch.Generator, aug: AugmentSettings, ranks: distributed.Ranks,
                 device: torch.device):
    """This rank's slice of a global batch: every rank draws the whole batch's random numbers, so the
    generator stays in step across ranks and the union of the slices is what one process would train on."""
    total = batch * ranks.world
    rows = ranks.my_slice(batch)
    if bank.weights is not None:
        idx = weighted_indices(bank.weights, total, gen, bank.drawable)[rows]
    else:
        idx = sample_indices(len(bank), total, gen)[rows]
    d = draw(gen, total, aug).part(rows)
    idx = idx.to(device)
    batch_out = apply(bank.pixels[idx], d, *(None if t is None else t[idx] for t in (bank.landmarks, bank.depth)))
    if bank.measures is not None:  # a flipped face turns its head (and its jaw) the other way
        if batch_out.landmarks is not None:  # a turned or blinking face shows other measures
            m = measures(batch_out.landmarks)  # on the device: no copy to the CPU and back
            m = torch.where(torch.isfinite(m), m, bank.measures[idx])
        else:
            m = bank.measures[idx].clone()
        m[:, list(MIRRORED)] *= d.flip.to(device)[:, None]
        batch_out.measures = m
    return batch_out
