"""A training step between check points never waits for the device: no host read at all (`lazy_stats`,
`guard.CHECK_EVERY`), counted by the PyTorch profiler over a window of whole steps of the real loop."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace

import pytest
import torch

from masquerade.models import build_model
from masquerade.models.discriminator import PatchDiscriminator
from masquerade.train import train
from masquerade.train.guard import CHECK_EVERY
from masquerade.train.host_reads import counting_host_reads
from masquerade.train.lazy_stats import LazyStats, read_all


def _reads_between_check_points(faceset_a, faceset_b, config, model_dir):
    """Host reads of steps 3..8 (the window opens in step 2's report and closes in step 8's, no check point
    inside), and of steps CHECK_EVERY and CHECK_EVERY + 1, the check point at step CHECK_EVERY inside."""
    assert CHECK_EVERY > 8
    stack, windows = ExitStack(), {}

    def progress(task, done, total, stats):  # never reads `stats`: that would be a read of its own
        if done in (2, CHECK_EVERY - 1):
            windows[done] = stack.enter_context(counting_host_reads(where=True))
        elif done in (8, CHECK_EVERY + 1):  # a step's report comes before its check point
            stack.close()

    train(faceset_a, faceset_b, model_dir, replace(config, steps=CHECK_EVERY + 1), progress=progress)
    return windows[2], windows[CHECK_EVERY - 1]


@pytest.mark.parametrize("options", [{}, {"turn": 12.0, "blink": 0.3, "gan_weight": 0.1, "gan_warmup": 0}])
def test_a_training_step_between_check_points_reads_nothing_from_the_device(faceset_a, faceset_b, tiny_config,
                                                                              tmp_path, options):
    cfg = replace(tiny_config, **options)
    assert cfg.balance and cfg.occluders and cfg.precision == "fp32"  # the default sampling and losses
    plain, check = _reads_between_check_points(faceset_a, faceset_b, cfg, tmp_path / "m")
    assert (plain.scalar, plain.bulk) == (0, 0), sorted(set(plain.where))
    # Adam on the CPU reads each weight tensor's step counter, in host memory (`host_reads.HostReads`): only
    # those, once per step (the critic's too, with the GAN on)
    tensors = len(list(build_model("lite", cfg.model_options).parameters()))
    tensors += len(list(PatchDiscriminator().parameters())) * 2 if cfg.gan_weight else 0
    assert plain.adam_counters == 6 * tensors
    assert check.total >= 1  # the check point does read the losses: the counter sees reads
    assert check.adam_counters == 2 * tensors


def test_lazy_stats_read_many_steps_at_once_and_exactly():
    steps = [LazyStats({"loss_a": torch.tensor(0.1), "loss_b": torch.tensor(1 / 3)}) for _ in range(5)]
    steps.append(LazyStats({"loss_a": torch.tensor(float("nan")), "loss_b": 2.5}))
    with counting_host_reads() as reads:
        read_all(steps)
        values = [dict(s) for s in steps]
    assert reads.total == 1
    assert values[0] == {"loss_a": float(torch.tensor(0.1)), "loss_b": float(torch.tensor(1 / 3))}
    assert values[-1]["loss_b"] == 2.5 and values[-1]["loss_a"] != values[-1]["loss_a"]
