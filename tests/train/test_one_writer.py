"""One writer per model folder: a second `train` (or `train-upscaler`) into a folder another process is writing
is refused with one line naming that process; nothing it would have written appears."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from masquerade import locks
from masquerade.errors import OutputError

TINY = ["--arch-option", "e_dims=8", "--arch-option", "ae_dims=32", "--arch-option", "d_dims=8"]


def _train_argv(fs_a, fs_b, out, steps: int) -> list[str]:
    return ["train", str(fs_a), str(fs_b), "-o", str(out), "--model", "lite", "--device", "cpu", "--precision",
            "fp32", "--batch-size", "2", "--steps", str(steps), "--preview-every", "0", *TINY]


def _run_cli(argv: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "masquerade", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_second_train_into_a_model_folder_in_use_is_refused_naming_the_first(faceset_a, faceset_b, tmp_path):
    out = tmp_path / "model"
    env = {**os.environ, "COLUMNS": "300"}
    first = _run_cli(_train_argv(faceset_a, faceset_b, out, 100_000), env)
    try:
        deadline = time.monotonic() + 240
        while locks.holder(out) is None and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert locks.holder(out) is not None, "the first run never took the folder"
        second = _run_cli(_train_argv(faceset_a, faceset_b, out, 5), env)
        _, err = second.communicate(timeout=240)
        assert second.returncode == 2, err
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "already writing to this model folder" in lines[0], err
        assert f"process {first.pid}" in lines[0] and "masquerade train" in lines[0], lines[0]
        assert "Traceback" not in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert locks.holder(out) is None  # the kernel let go of a killed writer's lock: nothing stale to clean


@pytest.mark.slow
def test_train_upscaler_is_refused_while_another_process_writes_the_model(faceset_a, faceset_b, tiny_config, tmp_path):
    """Held by another writer (here the test itself, through a second descriptor), `train-upscaler` refuses
    before any work and adds nothing to the folder."""
    from dataclasses import replace

    from masquerade.train import train
    from masquerade.train.upscaler import train_model_upscaler
    from masquerade.train.upscaler_config import UpscalerTrainConfig

    model = tmp_path / "model"
    train(faceset_a, faceset_b, model, replace(tiny_config, steps=1))
    before = sorted(p.relative_to(model) for p in model.rglob("*"))
    held = locks.hold(model, AssertionError)
    try:
        with pytest.raises(OutputError, match="already writing to this model folder.*masquerade train-upscaler"):
            train_model_upscaler(faceset_b, model, "b", UpscalerTrainConfig(steps=1))
    finally:
        locks.release(held)
    assert sorted(p.relative_to(model) for p in model.rglob("*")) == before
