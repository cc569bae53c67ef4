"""Convert end to end with a stub model whose 'swap' is a perfect reconstruction (test-only)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from masquerade.cli import main
from masquerade.convert import ConvertConfig, convert
from masquerade.convert import make_steps, run_frames
from masquerade.convert.steps import close_steps
from masquerade.errors import MediaError, ModelMismatchError, OutputError
from masquerade.faces import create_detector
from masquerade.faces.masks import hull_mask
from masquerade.media import probe, read_frames, write_image, write_video
from masquerade.records import Frame
from masquerade.samples import make_clip, portrait
from stubs import PerfectModel


EXACT = ConvertConfig(color="none", erode=0.0, blur=0.0)


def _face_region(image):
    det = create_detector().detect(image)[0]
    region = hull_mask(det.landmarks, max(image.shape[:2]))[: image.shape[0], : image.shape[1]]
    return cv2.erode(region, np.ones((7, 7), np.uint8)) > 0


def test_perfect_reconstruction_pastes_back_in_place(tmp_path):
    frame = make_clip("astronaut", frames=3, seed=5).frames[1]
    write_image(tmp_path / "in.png", frame)
    convert(tmp_path / "in.png", PerfectModel(), tmp_path / "out.png", EXACT)
    out = read_frames(tmp_path / "out.png").__next__().image
    region = _face_region(frame)
    err = np.abs(out.astype(int) - frame.astype(int))[region].mean()
    assert err < 3.0, f"face region changed by {err:.2f} on average"
    # Control: the same paste shifted by 3 pixels is clearly worse, so the test can see geometry errors.
    shifted = np.roll(out, 3, axis=1)
    assert np.abs(shifted.astype(int) - frame.astype(int))[region].mean() > 2 * err


def test_video_keeps_frames_size_fps_audio_and_passes_faceless_frames(clip_a, tmp_path):
    src, clip = clip_a
    frames = list(clip.frames)
    blank = np.full_like(frames[0], 128)
    frames[5] = frames[6] = blank  # two frames without a face
    from masquerade.samples import tone

    path = write_video(tmp_path / "in.mp4", frames, clip.fps, audio=tone(len(frames) / clip.fps))
    model = PerfectModel()
    summary = convert(path, model, tmp_path / "out.mp4", ConvertConfig(batch_size=4))
    assert summary.frames == 24 and summary.frames_passed_through == 2 and summary.faces_swapped == 22
    a, b = probe(path), probe(tmp_path / "out.mp4")
    assert (b.width, b.height, b.fps, b.frame_count, b.has_audio) == (a.width, a.height, a.fps, a.frame_count, True)
    with av.open(str(path)) as x, av.open(str(tmp_path / "out.mp4")) as y:
        assert [bytes(p) for p in x.demux(x.streams.audio[0]) if p.size] == \
               [bytes(p) for p in y.demux(y.streams.audio[0]) if p.size]
    outs = [f.image for f in read_frames(tmp_path / "out.mp4")]
    ins = [f.image for f in read_frames(path)]
    for i in (5, 6):  # no face: only the invisible watermark and the codec touch these frames
        mse = np.mean((outs[i].astype(float) - ins[i].astype(float)) ** 2)
        assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) > 38
    assert model.calls == 6  # 24 frames in batches of 4


def test_folder_passes_faceless_images_bit_identical(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", portrait("astronaut"))
    write_image(folder / "sky.png", np.full((64, 96, 3), (90, 140, 220), np.uint8))
    summary = convert(folder, PerfectModel(), tmp_path / "out", EXACT)
    assert summary.frames == 2 and summary.faces_swapped == 1
    assert (tmp_path / "out" / "sky.png").read_bytes() == (folder / "sky.png").read_bytes()
    assert (tmp_path / "out" / "a.png").is_file()
    assert not list(tmp_path.glob(".out.partial*"))


def test_smoothing_lowers_landmark_jitter():
    rng = np.random.default_rng(3)
    clip = make_clip("grace_hopper", frames=30, max_angle=3, seed=9, relight=False)
    jittered = [np.roll(np.roll(f, int(rng.integers(-3, 4)), 0), int(rng.integers(-3, 4)), 1) for f in clip.frames]

    def jitter(smooth: bool) -> float:
        steps = make_steps(PerfectModel(), ConvertConfig(smooth=smooth), video=True, names=["detect", "track", "select", "smooth"])
        marks = []
        frames = [Frame(i, i / 12.0, f, "clip") for i, f in enumerate(jittered)]
        run_frames(frames, steps, lambda item: marks.append(item.faces[0].landmarks), batch_size=4)
        close_steps(steps)
        second = np.diff(np.stack(marks), n=2, axis=0)
        return float(np.abs(second).mean())

    raw, smooth = jitter(False), jitter(True)
    assert smooth < 0.6 * raw, (raw, smooth)


def test_preview_writes_side_by_side_rows(clip_a, tmp_path):
    out = tmp_path / "preview.png"
    summary = convert(clip_a[0], PerfectModel(), out, ConvertConfig(preview=3))
    assert summary.faces_swapped == 3  # sparse frames have no track history; each still picks its largest face
    img = cv2.imread(str(out))
    assert img.shape[1] == 2 * 320 and img.shape[0] == 3 * 240
    assert not (tmp_path / "preview.mp4").exists()


def test_bad_inputs(clip_a, tmp_path):
    src = clip_a[0]
    with pytest.raises(OutputError, match="same path"):
        convert(src, PerfectModel(), src)
    with pytest.raises(ModelMismatchError, match="template"):
        convert(src, PerfectModel(template="dlib-68"), tmp_path / "x.mp4")
    (tmp_path / "inputs").mkdir()
    bad = tmp_path / "inputs" / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(MediaError):
        convert(bad, PerfectModel(), tmp_path / "y.mp4")
    with pytest.raises(OutputError):
        convert(src, PerfectModel(), tmp_path / "y.avi")
    assert not list(tmp_path.glob("*.mp4"))  # no partial outputs, not even hidden ones
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_missing_model_is_one_line(clip_a, tmp_path, capsys):
    code = main(["convert", str(clip_a[0]), "-m", str(tmp_path / "no-model"), "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err
