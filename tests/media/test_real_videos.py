"""Videos as phones make them: rotated, variable frame rate with audio, odd sizes, full range, 10-bit.

Each clip is generated here with PyAV; `convert` (with a stub model whose swap is the identity) must give
back a video that plays like the input: same orientation, size, frame times, audio placement and colour tags.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from masquerade.convert import ConvertConfig, convert
from masquerade.media import ColorTags, probe, read_frames, video_format
from masquerade.samples import make_clip, mux_tone
from stubs import PerfectModel

TB = Fraction(1, 90000)


def write_phone_clip(path: Path, frames: list[np.ndarray], times: list[float], rotation: int = 0,
                     pix_fmt: str = "yuv420p", color_range: int = 1, audio: bool = False) -> Path:
    """Frames (stored as given) at `times` seconds, a display rotation tag, a pixel format and a range."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        video.codec_context.time_base = video.time_base = TB
        cc = video.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = 1, color_range, 1, 1
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        for image, t in zip(frames, times):
            vf = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace=1, dst_color_range=color_range)
            vf.pts, vf.time_base = int(round(t / TB)), TB
            out.mux(video.encode(vf))
        out.mux(video.encode(None))
        if sound is not None:
            mux_tone(out, sound, times[-1] + 0.1)
    return path


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-9))


def _stream_times(path: Path, kind: str) -> list[float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return sorted(float(p.pts * p.time_base) for p in c.demux(stream) if p.pts is not None and p.size)


@pytest.fixture(scope="module")
def upright() -> list[np.ndarray]:
    """A portrait clip as it should look: 240 wide, 320 high."""
    return make_clip("astronaut", frames=10, size=(240, 320), seed=6).frames


def test_rotated_phone_video_is_read_upright_and_converted_upright(upright, tmp_path):
    stored = [np.ascontiguousarray(np.rot90(f, -1)) for f in upright]  # the sensor's landscape pictures
    src = write_phone_clip(tmp_path / "phone.mp4", stored, [i / 24 for i in range(10)], rotation=90)
    info = probe(src)
    assert (info.width, info.height) == (240, 320) and video_format(src).rotation == 90
    frames = [f.image for f in read_frames(src)]
    assert frames[0].shape == (320, 240, 3) and _psnr(frames[0], upright[0]) > 30

    summary = convert(src, PerfectModel(), tmp_path / "out.mp4", ConvertConfig())
    assert summary.faces_swapped == 10  # the face is found because it is upright
    out = tmp_path / "out.mp4"
    assert (probe(out).width, probe(out).height) == (240, 320) and video_format(out).rotation == 0
    first = next(iter(read_frames(out))).image
    assert _psnr(first, upright[0]) > 28  # upright, not sideways (sideways would not even fit this shape)


def test_variable_frame_rate_keeps_every_frame_time_and_the_audio_offset(tmp_path):
    clip = make_clip("grace_hopper", frames=16, seed=7)
    gaps = [1 / 30, 1 / 10, 1 / 24, 1 / 15] * 4
    times = [0.0] + list(np.cumsum(gaps[:15]))
    src = write_phone_clip(tmp_path / "vfr.mp4", clip.frames, times, audio=True)
    out = tmp_path / "out.mp4"
    convert(src, PerfectModel(), out, ConvertConfig())
    t_in, t_out = _stream_times(src, "video"), _stream_times(out, "video")
    assert len(t_out) == len(t_in) == 16
    assert max(abs(a - b) for a, b in zip(t_in, t_out)) < 1e-3  # each frame where it was: no drift
    shortest_gap = min(gaps)
    a_in, a_out = _stream_times(src, "audio"), _stream_times(out, "audio")
    offset_in, offset_out = a_in[0] - t_in[0], a_out[0] - t_out[0]
    assert abs(offset_out - offset_in) < shortest_gap  # audio against video: less than one frame off
    assert abs((t_out[-1] - t_out[0]) - (t_in[-1] - t_in[0])) < shortest_gap  # same length


def test_odd_frame_size_is_kept(tmp_path):
    clip = make_clip("astronaut", frames=6, size=(321, 241), seed=8)
    src = write_phone_clip(tmp_path / "odd.mp4", clip.frames, [i / 12 for i in range(6)], pix_fmt="yuv444p")
    assert (probe(src).width, probe(src).height) == (321, 241)
    out = tmp_path / "out.mp4"
    summary = convert(src, PerfectModel(), out, ConvertConfig())
    assert summary.frames == 6 and (probe(out).width, probe(out).height) == (321, 241)
    assert _psnr(next(iter(read_frames(out))).image, clip.frames[0]) > 28


@pytest.mark.parametrize("pix_fmt, color_range", [("yuv420p", 2), ("yuv420p10le", 1)], ids=["full-range", "10-bit"])
def test_colour_tags_and_levels_follow_the_input(tmp_path, pix_fmt, color_range):
    clip = make_clip("grace_hopper", frames=6, seed=9)
    src = write_phone_clip(tmp_path / "in.mp4", clip.frames, [i / 12 for i in range(6)], pix_fmt=pix_fmt,
                           color_range=color_range)
    assert video_format(src).color == ColorTags(range=color_range)
    # read with the file's range, levels match the pictures that were written; the other range would not
    expected = clip.frames[0].astype(float).mean()
    first = next(iter(read_frames(src))).image
    assert abs(first.astype(float).mean() - expected) < 2.0  # swscale's fast path reads ~1.2 levels dark
    with av.open(str(src)) as c:
        frame = next(iter(c.decode(video=0)))
        wrong = VideoReformatter().reformat(frame, format="rgb24", src_colorspace=1,
                                            src_color_range=3 - color_range).to_ndarray()
    if not frame.format.name.startswith("yuvj"):  # a yuvj frame is full range whatever one says
        assert abs(wrong.astype(float).mean() - expected) > 4
    out = tmp_path / "out.mp4"
    convert(src, PerfectModel(), out, ConvertConfig())
    assert video_format(out).color == ColorTags(range=color_range)  # BT.709 tagged, range kept
    converted = next(iter(read_frames(out))).image
    assert abs(converted.astype(float).mean() - expected) < 3.5  # a second generation


def test_untagged_input_is_tagged_bt709(tmp_path):
    clip = make_clip("astronaut", frames=4, seed=10)
    path = tmp_path / "plain.mp4"
    with av.open(str(path), "w", format="mp4") as out:  # no colour tags at all
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        for image in clip.frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode(None))
    convert(path, PerfectModel(), tmp_path / "out.mp4", ConvertConfig())
    with av.open(str(tmp_path / "out.mp4")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == (1, 1, 1, 1)
