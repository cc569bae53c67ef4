"""The staged frame loop (`convert.stages`): the sequential loop's output exactly, in order, and failures that
stop every stage and surface on the calling thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from masquerade.convert import ConvertConfig, convert, make_steps, run_frames
from masquerade.convert import steps as steps_mod
from masquerade.convert.pipeline import BaseStep
from masquerade.convert.stages import split_steps
from masquerade.convert.steps import close_steps
from masquerade.media import read_frames
from masquerade.records import Frame
from masquerade.samples import make_clip
from stubs import PerfectModel


class TintedModel(PerfectModel):
    """Returns each face with its channels swapped and a soft mask, so pasting visibly changes the frame."""

    def swap(self, faces, direction):
        import torch

        self.calls += 1
        mask = torch.linspace(0.3, 1.0, faces.shape[-1]).expand(faces.shape[0], 1, faces.shape[-1], -1)
        return faces.flip(1).clone(), mask.contiguous()


def _clip_frames(frames: int = 14) -> list[Frame]:
    clip = make_clip("grace_hopper", frames=frames, seed=4)
    return [Frame(i, i / 12, f, "clip") for i, f in enumerate(clip.frames)]


def _run(frames, in_stages: bool, warmup=None, batch_size: int = 3):
    steps = make_steps(TintedModel(), ConvertConfig(), video=True)
    out = []
    try:
        run_frames(frames, steps, out.append, batch_size=batch_size, in_stages=in_stages, warmup=warmup)
    finally:
        close_steps(steps)
    return out


def _stage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("convert-")]


def test_stages_give_the_sequential_loops_frames_bit_for_bit():
    frames = _clip_frames()
    warm = lambda f: f.index < 2  # noqa: E731 - warm-up frames reach only the steps that follow time
    one, staged = _run(frames, False, warm), _run(frames, True, warm)
    assert [i.frame.index for i in staged] == [i.frame.index for i in one] == list(range(2, 14))
    changed = 0
    for a, b in zip(one, staged):
        assert [f.track for f in a.faces] == [f.track for f in b.faces]
        assert np.array_equal(a.output, b.output)
        changed += int(np.abs(a.output.astype(int) - a.frame.image.astype(int)).sum() > 0)
    assert changed >= 10  # the swap really changed the frames that are compared
    assert not _stage_threads()


def test_the_default_steps_split_at_the_model_the_eyes_and_occlusion_steps_and_the_pixel_steps():
    steps = make_steps(PerfectModel(), ConvertConfig(), video=True)
    try:
        groups = [[s.name for s in group] for group in split_steps(steps)]
    finally:
        close_steps(steps)
    assert groups == [["detect", "track", "select", "smooth", "align"], ["model"], ["eyes"], ["occlude"], ["colour", "paste"]]
    no_model = [s for s in steps if s.name != "model"]
    assert [[s.name for s in g] for g in split_steps(no_model)] == [[s.name for s in no_model]]
    frames, out = _clip_frames(5), []
    run_frames(frames, [], out.append, batch_size=2, in_stages=True)  # no steps: the frames pass through
    assert [item.frame.index for item in out] == list(range(5)) and not _stage_threads()


class Explodes(BaseStep):
    name = "explodes"

    def __init__(self, at_batch: int):
        self.at_batch, self.calls = at_batch, 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls == self.at_batch:
            raise RuntimeError("step failed on purpose")


def _counted(frames, pulled: list):
    for frame in frames:
        pulled.append(frame.index)
        yield frame


@pytest.mark.parametrize("where", ["find", "model", "paste"])
def test_an_error_in_any_stage_stops_every_stage_and_is_raised(where):
    frames = _clip_frames(6) * 20  # 120 frames: far more than the few batches that fit in the queues
    steps = make_steps(PerfectModel(), ConvertConfig(), video=True)
    at = {"find": 1, "model": 6, "paste": len(steps)}[where]  # the failing step runs right before this index
    steps.insert(at, Explodes(at_batch=2))
    pulled, out = [], []
    try:
        with pytest.raises(RuntimeError, match="on purpose"):
            run_frames(_counted(frames, pulled), steps, out.append, batch_size=2, in_stages=True)
    finally:
        close_steps(steps)
    assert not _stage_threads()  # every stage ended before the error reached the caller
    assert len(pulled) < 30  # decoding stopped too, instead of running through the clip
    assert len(out) <= 2  # at most the batch that finished before the failing one


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failing_sink_or_ctrl_c_stops_every_stage(error):
    frames = _clip_frames(6) * 20
    pulled, seen = [], []

    def sink(item):
        seen.append(item.frame.index)
        if len(seen) == 3:
            raise error

    steps = make_steps(PerfectModel(), ConvertConfig(), video=True)
    try:
        with pytest.raises(type(error)):
            run_frames(_counted(frames, pulled), steps, sink, batch_size=2, in_stages=True)
    finally:
        close_steps(steps)
    assert len(seen) == 3 and not _stage_threads() and len(pulled) < 30


def test_a_staged_convert_that_fails_leaves_no_output(clip_a, tmp_path, monkeypatch):
    calls = []
    real_paste = steps_mod.paste

    def paste_then_fail(*args):
        calls.append(1)
        if len(calls) == 10:
            raise RuntimeError("paste failed on purpose")
        return real_paste(*args)

    monkeypatch.setattr(steps_mod, "paste", paste_then_fail)
    with pytest.raises(RuntimeError, match="on purpose"):
        convert(clip_a[0], PerfectModel(), tmp_path / "out.mp4", ConvertConfig(batch_size=4, pipeline=True))
    assert not list(tmp_path.iterdir())  # neither the output nor a hidden partial file
    assert not _stage_threads()


def test_a_staged_convert_writes_every_frame_in_order(clip_a, tmp_path):
    summary = convert(clip_a[0], PerfectModel(), tmp_path / "out.mp4", ConvertConfig(batch_size=4, pipeline=True))
    out = [f for f in read_frames(tmp_path / "out.mp4")]
    assert summary.frames == len(out) == 24 and summary.faces_swapped == 24
    source = [f.timestamp for f in read_frames(clip_a[0])]
    assert [f.timestamp for f in out] == pytest.approx(source, abs=1e-3)
    assert {"detect", "model", "paste", "write"} <= set(summary.stage_seconds)
