"""Nothing process-wide: the scopes give back exactly what they changed (also after an error), a training run
leaves the process's thread count and precision as it found them, and in the UI's job runner a bf16
training job and an fp32 convert running side by side each compute in their own mode.

`Probed` wraps a real UI runner (it is pickled into the job's own process, like the runner itself) and
records the compute mode at every module's forward call, i.e. at the job's model steps."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace

import pytest
import torch

from masquerade.scope import cuda_fast_math, env_defaults, onednn_bf16, torch_threads
from masquerade.train import TrainConfig, train

TINY = {"e_dims": 8, "ae_dims": 32, "d_dims": 8}


def _modes() -> tuple[str, str, bool]:
    return (torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision,
            torch.is_autocast_enabled("cpu"))


def _other_thread_count() -> int:
    return 1 if torch.get_num_threads() != 1 else 2


def test_scopes_restore_what_they_changed_after_an_error(monkeypatch):
    monkeypatch.setenv("MASQUERADE_TEST_USER_SET", "mine")
    monkeypatch.delenv("MASQUERADE_TEST_ADDED", raising=False)
    threads, modes, n = torch.get_num_threads(), _modes(), _other_thread_count()
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(n), onednn_bf16(True), env_defaults({"MASQUERADE_TEST_ADDED": "1",
                                                                "MASQUERADE_TEST_USER_SET": "ours"}):
            assert torch.get_num_threads() == n
            assert _modes()[:2] == ("bf16", "bf16")
            assert os.environ["MASQUERADE_TEST_ADDED"] == "1"
            assert os.environ["MASQUERADE_TEST_USER_SET"] == "mine"  # the user's own value wins
            raise RuntimeError("boom")
    assert torch.get_num_threads() == threads and _modes() == modes
    assert "MASQUERADE_TEST_ADDED" not in os.environ and os.environ["MASQUERADE_TEST_USER_SET"] == "mine"
    with onednn_bf16(True):  # an inner scope that changes nothing leaves the outer one's choice in place
        with onednn_bf16(False), torch_threads(None), env_defaults(None):
            assert _modes()[:2] == ("bf16", "bf16") and torch.get_num_threads() == threads
    assert _modes() == modes


def test_the_cuda_fast_math_scope_restores_cudnn_benchmark_and_tf32_after_an_error():
    """Plain flags on a CPU-only build too, so the restore is tested here; training enters it on CUDA only."""
    def flags():
        return (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
                torch.get_float32_matmul_precision())

    before = flags()
    assert before[:2] == (False, False)  # torch's defaults: a test before this one leaked nothing
    with pytest.raises(RuntimeError, match="boom"):
        with cuda_fast_math(True):
            assert flags() == (True, True, "high")  # inductor can still read the precision
            raise RuntimeError("boom")
    assert flags() == before
    with cuda_fast_math(False):
        assert flags() == before


@pytest.mark.slow
def test_training_gives_back_threads_and_precision_even_when_it_fails(faceset_a, faceset_b, tmp_path):
    threads, modes, n = torch.get_num_threads(), _modes(), _other_thread_count()
    seen = []

    def progress(task, done, total, stats):
        seen.append((torch.get_num_threads(), done))
        if done == 2:
            raise RuntimeError("the progress display broke")

    cfg = TrainConfig(model="lite", model_options=dict(TINY), batch_size=2, steps=3, lr=1e-3, device="cpu",
                      precision="bf16-math", threads=n, save_every=None, preview_every=0, plan="manual", holdout=0.0,
                      compile=False, mask_minutes=0.0)
    with pytest.raises(RuntimeError, match="progress display"):
        train(faceset_a, faceset_b, tmp_path / "m", cfg, progress=progress)
    assert seen == [(n, 1), (n, 2)]  # the run used its own thread count...
    assert torch.get_num_threads() == threads and _modes() == modes  # ...and gave it back
    result = train(faceset_a, faceset_b, tmp_path / "m2", replace(cfg, steps=1))
    assert result.precision == "bf16-math" and torch.get_num_threads() == threads and _modes() == modes


class Probed:
    """A UI runner that also reports every compute mode its process was in at a module's forward call."""

    def __init__(self, runner):
        self.runner = runner

    def __call__(self, params, ctx):
        seen = set()
        handle = torch.nn.modules.module.register_module_forward_hook(lambda *a: seen.add(_modes()))
        try:
            result = self.runner(params, ctx)
        finally:
            handle.remove()
        return {**(result or {}), "modes": sorted(list(m) for m in seen), "pid": os.getpid()}


@pytest.mark.slow
def test_bf16_training_and_fp32_convert_side_by_side_in_the_ui_runner(tmp_path, faceset_a, faceset_b, clip_a):
    from masquerade.ui.jobs import DONE, STOPPED, JobQueue
    from masquerade.ui.runners import make_runners
    from masquerade.ui.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(faceset_a, ws.area("facesets") / "alice")
    shutil.copytree(faceset_b, ws.area("facesets") / "bob")
    shutil.copy(clip_a[0], ws.area("uploads") / "clip.mp4")
    base = {"a": "alice", "b": "bob", "arch": "lite", "model_options": TINY, "batch_size": 2, "lr": 1e-3,
            "preview_every": 0, "save_every": 1000, "device": "cpu", "mask_minutes": 0.0}
    train(ws.area("facesets") / "alice", ws.area("facesets") / "bob", ws.area("models") / "m",
          TrainConfig(model="lite", model_options=dict(TINY), batch_size=2, steps=1, device="cpu", precision="fp32",
                      save_every=None, preview_every=0, plan="manual", holdout=0.0))  # the model convert uses

    runners = {kind: Probed(r) for kind, r in make_runners(ws).items()}
    q = JobQueue(ws.area("jobs"), runners, devices=("cpu", "second"))  # two workers: the jobs overlap
    try:
        trainer = q.submit("train", {**base, "model": "busy", "precision": "bf16-math", "threads": 1,
                                      "steps": None}, "cpu")
        deadline = time.monotonic() + 120
        while q.get(trainer.id).progress.get("done", 0) < 1:  # training is in its bf16 steps now
            assert time.monotonic() < deadline and q.get(trainer.id).status != "failed", q.get(trainer.id).log
            time.sleep(0.05)
        converter = q.submit("convert", {"input": "clip.mp4", "model": "m", "preview": 1, "device": "cpu",
                                         "settings": {"color": "none"}}, "second")
        while q.get(converter.id).status not in ("done", "failed"):
            assert time.monotonic() < deadline, "convert did not finish"
            time.sleep(0.05)
        conv = q.get(converter.id)
        assert conv.status == DONE, (conv.error, conv.log)
        assert q.get(trainer.id).status == "running"  # it ran beside the training job throughout
        q.stop(trainer.id)
        while q.get(trainer.id).status == "running":
            assert time.monotonic() < deadline, "training did not stop"
            time.sleep(0.05)
        tr = q.get(trainer.id)
        assert tr.status == STOPPED and tr.result["precision"] == "bf16-math", (tr.error, tr.log)
    finally:
        q.close()
    assert ["bf16", "bf16", False] in tr.result["modes"]  # its steps computed in bf16 math
    assert conv.result["modes"] == [["none", "none", False]]  # every convert forward in plain fp32
    assert len({tr.result["pid"], conv.result["pid"], os.getpid()}) == 3
    assert _modes()[:2] == ("none", "none")  # and the server's own process never changed
