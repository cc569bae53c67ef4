import av
import numpy as np
import pytest

from masquerade.errors import MediaError
from masquerade.media import probe, read_frames, read_image, write_image, write_video
from masquerade.samples import make_clip, tone


def test_video_round_trip_keeps_frames_fps_and_audio(tmp_path):
    clip = make_clip("astronaut", frames=10, fps=15.0)
    path = write_video(tmp_path / "v.mp4", clip.frames, clip.fps, audio=tone(10 / 15.0))
    info = probe(path)
    assert (info.kind, info.width, info.height, info.fps, info.has_audio) == ("video", 320, 240, 15.0, True)
    frames = list(read_frames(path))
    assert len(frames) == 10
    assert [f.index for f in frames] == list(range(10))
    assert frames[3].timestamp == pytest.approx(3 / 15.0, abs=1e-3)
    # H.264 at CRF 18 is close to lossless on these frames: RGB order and geometry are preserved.
    err = np.abs(frames[4].image.astype(int) - clip.frames[4].astype(int)).mean()
    assert err < 4.0
    swapped = np.abs(frames[4].image[..., ::-1].astype(int) - clip.frames[4].astype(int)).mean()
    assert swapped > err * 2


def test_audio_is_copied_from_another_file(tmp_path):
    clip = make_clip("grace_hopper", frames=8, fps=8.0)
    src = write_video(tmp_path / "src.mp4", clip.frames, clip.fps, audio=tone(1.0))
    out = write_video(tmp_path / "out.mp4", clip.frames[::-1], clip.fps, audio_from=src)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        pa = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        pb = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert pa and pa == pb  # stream copy: identical compressed audio


def test_every_nth_and_start(tmp_path):
    clip = make_clip("astronaut", frames=12)
    path = write_video(tmp_path / "v.mp4", clip.frames, clip.fps)
    assert [f.index for f in read_frames(path, every_nth=3)] == [0, 3, 6, 9]
    assert [f.index for f in read_frames(path, start=9)] == [9, 10, 11]


def test_images_and_folders(tmp_path):
    clip = make_clip("astronaut", frames=3)
    for i, frame in enumerate(clip.frames):
        write_image(tmp_path / f"f{i}.png", frame)
    (tmp_path / "notes.txt").write_text("not an image")
    assert np.array_equal(read_image(tmp_path / "f1.png"), clip.frames[1])
    frames = list(read_frames(tmp_path))
    assert [f.name for f in frames] == ["f0.png", "f1.png", "f2.png"]
    assert probe(tmp_path / "f0.png").kind == "image"


@pytest.mark.parametrize("content", [b"", b"hello, this is text", b"\x00\x00\x00\x20ftypisom" + b"\x00" * 300])
def test_bad_files_raise_media_error(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(MediaError):
        list(read_frames(bad))
    img = tmp_path / "bad.png"
    img.write_bytes(content)
    with pytest.raises(MediaError):
        read_image(img)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="holds no images"):
        probe(tmp_path)
