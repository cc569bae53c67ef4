"""The batch and learning rate a run uses when the user leaves them out: larger on a CUDA GPU, with the rate
scaled by the square root of the batch's growth; the CPU's unchanged; the user's values as given. No GPU is
needed: the choice reads only the device's type."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from masquerade.models.hd import HDConfig
from masquerade.models.lite import LiteConfig
from masquerade.models.manifest import ModelManifest
from masquerade.models.original import OriginalConfig
from masquerade.models.store import find_snapshot
from masquerade.train import train
from masquerade.train.config import TrainConfig, batch_and_lr

CUDA, CPU, MPS = torch.device("cuda"), torch.device("cpu"), torch.device("mps")


@pytest.mark.parametrize("arch,batch,lr", [(LiteConfig, 64, 5e-4 * math.sqrt(8)),
                                           (OriginalConfig, 32, 1e-4 * math.sqrt(2)),
                                           (HDConfig, 16, 5e-5 * math.sqrt(2))])
def test_a_gpu_takes_a_larger_batch_and_a_rate_scaled_by_its_square_root(arch, batch, lr):
    got_batch, got_lr = batch_and_lr(TrainConfig(), arch, CUDA)
    assert got_batch == batch and got_lr == pytest.approx(lr, rel=1e-12)
    assert batch_and_lr(TrainConfig(), arch, torch.device("cuda", 1)) == (got_batch, got_lr)


@pytest.mark.parametrize("device", [CPU, MPS])
@pytest.mark.parametrize("arch", [LiteConfig, OriginalConfig, HDConfig])
def test_other_devices_keep_the_architectures_defaults(arch, device):
    assert batch_and_lr(TrainConfig(), arch, device) == (arch.default_batch_size, arch.default_lr)


def test_what_the_user_gives_is_used_as_given():
    assert batch_and_lr(TrainConfig(batch_size=12), LiteConfig, CUDA) == (12, LiteConfig.default_lr)  # unscaled
    assert batch_and_lr(TrainConfig(lr=3e-4), LiteConfig, CUDA) == (64, 3e-4)
    assert batch_and_lr(TrainConfig(batch_size=12, lr=3e-4), LiteConfig, CPU) == (12, 3e-4)


def test_an_architecture_without_a_gpu_batch_keeps_its_cpu_defaults_on_a_gpu():
    class Plain(LiteConfig):
        gpu_batch_size = None

    assert batch_and_lr(TrainConfig(), Plain, CUDA) == (Plain.default_batch_size, Plain.default_lr)


def test_the_batch_and_rate_used_are_recorded_in_the_manifest(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=1, batch_size=None, lr=None))
    manifest = find_snapshot(model_dir).manifest
    assert manifest.train_config["resolved"] == {"batch_size": LiteConfig.default_batch_size, "lr": LiteConfig.default_lr}
    assert manifest.train_config["batch_size"] is None  # what the user gave stays as given beside it
    assert ModelManifest.from_dict(manifest.to_dict()) == manifest
