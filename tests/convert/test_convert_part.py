"""Converting a part of a video (`start` / `end` in seconds): only that part is swapped and written, from time
0, and a preview shows the frame at `start` (the UI's frame picker)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masquerade.convert import ConvertConfig, convert
from masquerade.errors import MasqueradeError, MediaError
from masquerade.media import probe, read_frames
from stubs import PerfectModel


def test_a_part_of_a_video_is_converted_from_its_start(clip_a, tmp_path):
    src = clip_a[0]
    fps = probe(src).fps
    summary = convert(src, PerfectModel(), tmp_path / "part.mp4", ConvertConfig(start=6 / fps, end=14 / fps))
    out = probe(tmp_path / "part.mp4")
    assert summary.frames == 8 and out.frame_count == 8
    assert not out.has_audio  # the source's sound would not line up with a part
    first = next(iter(read_frames(tmp_path / "part.mp4")))
    assert first.timestamp == pytest.approx(0.0, abs=1e-3)
    # the part starts at frame 6: its first frame is closer to the source's frame 6 than to frame 0
    ins = [f.image.astype(float) for f in read_frames(src)]
    err = [np.abs(first.image.astype(float) - ins[i]).mean() for i in (0, 6)]
    assert err[1] < err[0]


def test_a_preview_shows_the_frame_at_start(clip_a, tmp_path):
    src = clip_a[0]
    fps = probe(src).fps
    convert(src, PerfectModel(), tmp_path / "p.png", ConvertConfig(preview=1, start=10 / fps))
    left = cv2.cvtColor(cv2.imread(str(tmp_path / "p.png")), cv2.COLOR_BGR2RGB)[:, :320].astype(float)
    ins = [f.image.astype(float) for f in read_frames(src)]
    errs = [np.abs(left - im).mean() for im in ins]
    assert int(np.argmin(errs)) == 10


def test_a_part_outside_the_video_or_backwards_is_one_line(clip_a, tmp_path):
    with pytest.raises(MediaError, match="has no frames"):
        convert(clip_a[0], PerfectModel(), tmp_path / "x.mp4", ConvertConfig(start=60.0))
    with pytest.raises(MasqueradeError, match="must come after"):
        convert(clip_a[0], PerfectModel(), tmp_path / "y.mp4", ConvertConfig(start=1.0, end=0.5))
    assert not list(tmp_path.glob("*.mp4"))


def test_ray_and_evaluate_do_not_take_a_part(clip_a, tmp_path, capsys):
    """Ray plans its segments over whole videos and evaluate compares whole clips: neither takes a part."""
    from masquerade.cli import main
    from masquerade.scale.convert_jobs import ray_convert

    with pytest.raises(MediaError, match="without --ray"):
        ray_convert(clip_a[0], PerfectModel(), tmp_path / "r.mp4", ConvertConfig(start=0.5))
    assert main(["convert", "--help"]) == 0
    assert "--start" in capsys.readouterr().out
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--batch-size" in text and "--start" not in text and "--end" not in text
