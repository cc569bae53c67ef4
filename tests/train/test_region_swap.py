"""The region swap: some encoder inputs show another face's eyes and mouth; targets and codes stay their own."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from masquerade.train.augment import AugmentSettings
from masquerade.train.data import FaceBank
from masquerade.train.distributed import Ranks
from masquerade.train.region_swap import draw_region_swap, region_weight, swap_regions
from masquerade.train.trainer import _sample


def _bank(n: int = 8, s: int = 64) -> FaceBank:
    """Faces of one flat colour each (so a borrowed region is visible), an eye/mouth map over a centre square."""
    pixels = torch.zeros(n, 5, s, s, dtype=torch.uint8)
    pixels[:, :3] = (torch.arange(n, dtype=torch.uint8) * 30).view(n, 1, 1, 1)
    pixels[:, 3] = 255
    pixels[:, 4, 24:40, 24:40] = 255
    return FaceBank(pixels, {}, None, torch.rand(n, 11))


def test_off_draws_nothing_so_runs_without_it_draw_as_before():
    gen = torch.Generator().manual_seed(2)
    assert draw_region_swap(gen, 8, 0.0, 100) is None
    assert torch.equal(torch.rand(3, generator=gen), torch.rand(3, generator=torch.Generator().manual_seed(2)))


def test_the_weight_covers_both_faces_regions_softly_and_nothing_far_from_them():
    p = torch.zeros(1, 1, 64, 64)
    q = p.clone()
    p[..., 10:20, 10:20] = 1  # the face's own eye
    q[..., 40:50, 40:50] = 1  # the other face's open mouth, elsewhere
    w = region_weight(p, q)
    assert w[0, 0, 15, 15] == 1 and w[0, 0, 45, 45] == 1
    assert w[0, 0, 30, 5] == 0 and w[0, 0, 5, 60] == 0  # far from both: untouched
    assert 0 < float(w[0, 0, 15, 22]) < 1  # a soft rim, not a hard edge for the encoder to read


def test_swap_regions_takes_the_donor_inside_and_keeps_the_rest():
    x, donor = torch.zeros(2, 3, 64, 64), torch.ones(2, 3, 64, 64)
    p = torch.zeros(2, 1, 64, 64)
    p[..., 24:40, 24:40] = 1
    out = swap_regions(x, p, donor, p)
    assert torch.equal(out[..., 30, 30], torch.ones(2, 3)) and torch.equal(out[..., 2, 2], torch.zeros(2, 3))


def test_sampled_batches_keep_their_targets_and_codes_and_borrow_only_the_inputs_regions():
    bank = _bank()
    plain, swapped = (_sample(bank, 8, torch.Generator().manual_seed(4), AugmentSettings(warp=False, flip=False, brightness=0, contrast=0, saturation=0),
                              Ranks(), torch.device("cpu"), share) for share in (0.0, 1.0))
    assert torch.equal(plain.targets, swapped.targets) and torch.equal(plain.measures, swapped.measures)
    centre, corner = (slice(None), slice(None), slice(28, 36), slice(28, 36)), (slice(None), slice(None), slice(0, 6), slice(0, 6))
    assert torch.equal(plain.inputs[corner], swapped.inputs[corner])  # away from the eyes and mouth: the face's own
    changed = (plain.inputs[centre] - swapped.inputs[centre]).abs().amax(dim=(1, 2, 3))
    assert (changed > 0.05).sum() >= 5  # most faces show another face's colour there (a donor may be itself)
    # inside, the input is the donor face's pixels: one of the bank's flat colours
    colours = {round(30 * i / 255, 3) for i in range(8)}
    assert {round(float(v), 3) for v in swapped.inputs[:, 0, 32, 32]} <= colours


def test_training_with_the_region_swap_runs_and_resumes_exactly(faceset_a, faceset_b, tiny_config, tmp_path):
    from masquerade.convert import open_model
    from masquerade.train import train

    config = dataclasses.replace(tiny_config, steps=4, region_swap=0.5,
                                 model_options={**tiny_config.model_options, "expression": 4})
    train(faceset_a, faceset_b, tmp_path / "whole", config)
    train(faceset_a, faceset_b, tmp_path / "parts", dataclasses.replace(config, steps=2))
    train(faceset_a, faceset_b, tmp_path / "parts", config)
    whole, parts = (open_model(tmp_path / n, "cpu").net.state_dict() for n in ("whole", "parts"))
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    plain = open_model(tmp_path / "whole", "cpu").net  # and the share did change what was learned
    train(faceset_a, faceset_b, tmp_path / "off", dataclasses.replace(config, region_swap=0.0))
    off = open_model(tmp_path / "off", "cpu").net.state_dict()
    assert not all(torch.equal(plain.state_dict()[k], off[k]) for k in off)
    assert np.isfinite(sum(float(v.float().sum()) for v in off.values()))
