"""A machine with an NVIDIA GPU whose installed PyTorch cannot use it gets one note before work, not a silent run
on the CPU; a machine without one, or a PyTorch that uses it, gets nothing."""

from __future__ import annotations

import pytest
import torch

from masquerade.models import store


@pytest.mark.parametrize("gpu, cuda_ok, device, noted", [
    (True, False, "auto", True), (True, False, "cuda", True), (True, False, "cpu", False),
    (False, False, "auto", False), (True, True, "auto", False),
])
def test_unused_gpu_note(monkeypatch, gpu, cuda_ok, device, noted):
    monkeypatch.setattr(store, "nvidia_gpu_present", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_ok)
    note = store.unused_gpu_note(device)
    assert (note is not None) == noted
    if noted:
        assert "NVIDIA GPU" in note and torch.__version__ in note and "On a GPU" in note


def test_the_commands_that_compute_print_it_before_work(monkeypatch, tmp_path, capsys):
    from masquerade import cli

    monkeypatch.setattr(store, "nvidia_gpu_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = cli.main(["convert", str(tmp_path / "in.mp4"), "-m", str(tmp_path / "model"), "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "note: this machine has an NVIDIA GPU" in " ".join(err.split())
