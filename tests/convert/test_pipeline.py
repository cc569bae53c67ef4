"""The step contract: one loop, a new step is one class and one registry line, warm-up frames, batching."""

from __future__ import annotations

import numpy as np

from masquerade.convert import ConvertConfig, convert, make_steps, run_frames
from masquerade.convert import steps as steps_mod
from masquerade.convert.pipeline import BaseStep, TensorStep
from masquerade.convert.steps import close_steps
from masquerade.media import read_frames, write_image
from masquerade.records import Frame
from masquerade.samples import make_clip
from stubs import PerfectModel


class DoubleSize(TensorStep):
    """A stand-in identity upscaler: faces N×3×s×s -> N×3×2s×2s."""

    name = "upscale"

    def __init__(self, ctx):
        self.calls = 0

    def apply(self, faces):
        import torch.nn.functional as F

        self.calls += 1
        return F.interpolate(faces, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)


def test_an_upscaler_is_one_class_and_one_registry_line(tmp_path, monkeypatch):
    registry = {}
    for name, factory in steps_mod.STEPS.items():
        if name == "upscale":  # the real identity upscaler's line (convert/upscale.py); this test brings its own
            continue
        registry[name] = factory
        if name == "model":
            registry["upscale"] = DoubleSize  # the one line
    monkeypatch.setattr(steps_mod, "STEPS", registry)
    frame = make_clip("astronaut", frames=2, seed=5).frames[0]
    write_image(tmp_path / "in.png", frame)
    sizes = []
    original_paste = steps_mod.paste

    def spy(image, face, *args):
        sizes.append((face.face.shape[0], face.mask.shape[0], face.target.shape[0]))
        return original_paste(image, face, *args)

    monkeypatch.setattr(steps_mod, "paste", spy)
    summary = convert(tmp_path / "in.png", PerfectModel(size=64), tmp_path / "out.png",
                      ConvertConfig(color="rct", erode=0.0, blur=0.0))
    assert summary.faces_swapped == 1 and sizes == [(128, 128, 128)]
    assert "upscale" in summary.stage_seconds
    out = next(iter(read_frames(tmp_path / "out.png"))).image
    changed = np.abs(out.astype(int) - frame.astype(int)).mean(axis=2) > 0
    assert changed.sum() > 2000  # the face was pasted (watermark aside, most of the frame is untouched)
    face_err = np.abs(out.astype(int) - frame.astype(int))[changed].mean()
    assert face_err < 8, face_err  # an identity model + upscaler puts the face back where it was


class Recorder(BaseStep):
    name, sees_warmup = "record", True

    def __init__(self):
        self.seen = []

    def __call__(self, batch):
        self.seen += [(item.frame.index, item.warmup, [f.track for f in item.faces]) for item in batch.items]


def test_warmup_frames_reach_only_the_steps_that_follow_time():
    clip = make_clip("grace_hopper", frames=9, seed=2)
    frames = [Frame(i, i / 12, f, "clip") for i, f in enumerate(clip.frames)]
    steps = make_steps(PerfectModel(), ConvertConfig(), video=True)
    recorder = Recorder()
    names = [s.name for s in steps]
    assert names == ["detect", "track", "select", "smooth", "align", "model", "eyes", "occlude", "colour", "paste"]
    out = []
    try:
        run_frames(frames, steps[:4] + [recorder] + steps[4:], out.append, batch_size=4,
                   warmup=lambda f: f.index < 3)
    finally:
        close_steps(steps)
    assert [item.frame.index for item in out] == list(range(3, 9))  # the sink sees only real frames, in order
    assert [index for index, _, _ in recorder.seen] == list(range(9))
    assert all(tracks == [0] for _, _, tracks in recorder.seen)  # one face, one track id from the start
    assert all(item.faces and item.faces[0].face is not None for item in out)
    assert all(item.output.shape == item.frame.image.shape for item in out)
