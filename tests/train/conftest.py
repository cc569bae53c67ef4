"""Train-test helpers: a tiny `lite` config that trains in seconds on the shared synthetic face sets."""

from __future__ import annotations

from typing import Any

import pytest

from masquerade.train import TrainConfig

TINY = dict(e_dims=8, ae_dims=32, d_dims=8)


@pytest.fixture
def tiny_config() -> TrainConfig:
    """A few-second CPU run: tiny lite net, constant LR, no previews or periodic saves unless a test asks."""
    return TrainConfig(
        model="lite", model_options=dict(TINY), batch_size=4, steps=20, lr=1e-3, lr_schedule="constant",
        warmup_steps=0, device="cpu", precision="fp32", save_every=None, preview_every=0, seed=3, plan="manual",
        save_seconds=None, mask_minutes=0.0,  # the occlusion mask net's own tests (test_mask_net.py) train it
    )


class EditedFaceSet:
    """A real face set with some manifest fields overridden (to provoke mismatches without re-extracting)."""

    def __init__(self, path, **changes: Any):
        from masquerade.faceset import FaceSet

        self._fs = FaceSet.open(path)
        self.manifest = {**self._fs.manifest, **changes}

    def load_tensors(self, size: int):
        return self._fs.load_tensors(size=size)


@pytest.fixture
def edited_faceset():
    """Factory: `edited_faceset(path, coverage="head")` gives a face set whose manifest says otherwise."""
    return EditedFaceSet


@pytest.fixture
def sample_pair():
    """Factory: `sample_pair(bank, n, turn=12.0)` gives the trainer's CPU batch of `n` faces drawn from `bank` twice
    with the same seed (so the same faces), without the random warp: as is, then with the given augmentation."""
    import torch

    from masquerade.train import batches, distributed
    from masquerade.train.augment import AugmentSettings

    def sample(bank, n: int, **settings):
        return tuple(batches.sample_batch(bank, n, torch.Generator().manual_seed(5), AugmentSettings(warp=False, **s),
                                     distributed.Ranks(), torch.device("cpu")) for s in ({}, settings))
    return sample
