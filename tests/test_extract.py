"""Extraction on synthetic clips whose face moves by known transforms."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from masquerade.cli import main
from masquerade.errors import FaceSetError, MediaError, NoFaceError
from masquerade.extract import ExtractConfig, extract
from masquerade.faces.align import ALIGN_INDICES, transform_points, warp_to_frame
from masquerade.faceset import FaceSet
from masquerade.media import write_image, write_video
from masquerade.samples import make_clip, portrait


def _affine3(m):
    return np.vstack([m, [0, 0, 1]])


def test_every_frame_has_a_face_and_crops_agree(clip_a, faceset_a):
    fs = FaceSet.open(faceset_a)
    assert len(fs) == len(clip_a[1].frames) == 24
    assert sorted(r["frame_index"] for r in fs.records) == list(range(24))
    marks = np.stack([fs.crop_landmarks(i)[ALIGN_INDICES] for i in range(len(fs))])
    spread = np.linalg.norm(marks - marks.mean(0), axis=-1).mean()
    assert spread < 2.0, f"aligned landmarks disagree by {spread:.2f} px on a 128 px crop"


def test_matrices_undo_the_known_transforms(clip_a, faceset_a):
    """crop <- frame <- portrait must be the same map for every frame: the matrices undo the motion."""
    fs = FaceSet.open(faceset_a)
    probe_pts = np.array([[200.0, 100.0], [250.0, 100.0], [225.0, 150.0]])  # eyes and mouth, portrait px
    mapped = []
    for r in sorted(fs.records, key=lambda r: r["frame_index"]):
        composed = _affine3(np.asarray(r["matrix"])) @ _affine3(clip_a[1].transforms[r["frame_index"]])
        mapped.append(transform_points(probe_pts, composed[:2]))
    mapped = np.stack(mapped)
    assert np.abs(mapped - mapped.mean(0)).max() < 3.0  # pixels of a 128 px crop


def test_inverse_matrix_puts_the_crop_back(clip_a, faceset_a):
    fs = FaceSet.open(faceset_a)
    for i in (0, 11, 23):
        r = fs.records[i]
        frame = clip_a[1].frames[r["frame_index"]]
        h, w = frame.shape[:2]
        back = warp_to_frame(fs.crop(i), np.asarray(r["matrix"]), w, h)
        region = warp_to_frame(fs.mask(i), np.asarray(r["matrix"]), w, h)
        region = cv2.erode(region, np.ones((5, 5), np.uint8)) > 200
        assert region.sum() > 2000
        diff = np.abs(back[region].astype(int) - frame[region].astype(int)).mean()
        assert diff < 6.0, f"frame {i}: mean error {diff:.1f}"  # H.264 + two resamplings


def test_manifest_alignments_and_tensor_cache(faceset_a):
    fs = FaceSet.open(faceset_a)
    m = fs.manifest
    assert m["schema_version"] == 1 and m["complete"] and m["size"] == 128 and m["coverage"] == "face"
    assert m["detector"] == "mediapipe" and m["template"] and len(m["id"]) == 16
    rec = fs.records[0]
    assert set(rec) >= {"source", "frame_index", "timestamp", "box", "landmarks", "matrix", "score", "blur"}
    assert len(rec["landmarks"]) == 478 and np.asarray(rec["matrix"]).shape == (2, 3)
    mask = fs.mask(0)
    assert 0.3 < (mask > 127).mean() < 0.9
    t = fs.load_tensors(64)
    assert tuple(t.faces.shape) == (24, 3, 64, 64) and str(t.faces.dtype) == "torch.uint8"
    assert tuple(t.masks.shape) == (24, 1, 64, 64) and tuple(t.landmarks.shape) == (24, 478, 2)
    assert (faceset_a / "cache_64.safetensors").is_file()
    again = fs.load_tensors(64)
    assert bool((again.faces == t.faces).all())


def test_interrupted_extract_resumes(clip_b, tmp_path):
    out = tmp_path / "fs"
    seen = []

    def stop_after_ten(task, done, total, stats):
        seen.append(done)
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract([clip_b[0]], out, ExtractConfig(size=64), progress=stop_after_ten)
    with pytest.raises(FaceSetError, match="interrupted"):
        FaceSet.open(out)
    summary = extract([clip_b[0]], out, ExtractConfig(size=64))
    assert summary.frames_read == 14  # only the frames the first run did not finish
    fs = FaceSet.open(out)
    assert sorted(r["frame_index"] for r in fs.records) == list(range(24))


def test_folder_of_images_and_max_faces(tmp_path):
    a, b = portrait("astronaut"), portrait("grace_hopper")
    both = np.concatenate([cv2.resize(a, (400, 400)), cv2.resize(b[:512], (400, 400))], axis=1)
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "two.png", both)
    write_image(folder / "one.jpg", a)
    s1 = extract([folder], tmp_path / "one", ExtractConfig(size=64))
    assert s1.faces_kept == 2 and s1.rejected.get("over --max-faces") == 1
    s2 = extract([folder], tmp_path / "two", ExtractConfig(size=64, max_faces=2))
    assert s2.faces_kept == 3
    s3 = extract([folder], tmp_path / "big", ExtractConfig(size=64, min_face_size=100))
    assert s3.faces_kept == 2 and s3.rejected["too small"] == 1


def test_blur_threshold_rejects_blurred_faces(tmp_path):
    sharp = portrait("astronaut")
    write_image(tmp_path / "sharp.png", sharp)
    write_image(tmp_path / "blurred.png", cv2.GaussianBlur(sharp, (0, 0), 4))
    s = extract([tmp_path / "sharp.png", tmp_path / "blurred.png"], tmp_path / "fs",
                ExtractConfig(size=64, blur_threshold=100))
    assert s.faces_kept == 1 and s.rejected == {"blurry": 1}


# -- bad input: one clear error, nothing half-written ---------------------------------------------------

def test_video_without_faces_writes_nothing(tmp_path):
    frames = [np.full((120, 160, 3), 40 + 5 * i, np.uint8) for i in range(8)]
    clip = write_video(tmp_path / "empty.mp4", frames, 8.0)
    with pytest.raises(NoFaceError, match="nothing was written"):
        extract([clip], tmp_path / "fs")
    assert not (tmp_path / "fs").exists()


def test_output_holding_other_things_is_refused(clip_a, faceset_a, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(FaceSetError, match="not a face set"):
        extract([clip_a[0]], other)
    copy = tmp_path / "copy"
    shutil.copytree(faceset_a, copy)
    with pytest.raises(FaceSetError, match="size=128"):
        extract([clip_a[0]], copy, ExtractConfig(size=64))


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "empty"])
def test_bad_inputs_fail_with_one_line_and_exit_2(kind, clip_a, tmp_path, capsys):
    path = tmp_path / "input.mp4"
    if kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    elif kind == "truncated":
        data = clip_a[0].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    with pytest.raises(MediaError):
        extract([clip_a[0], path], tmp_path / "fs")
    assert not (tmp_path / "fs").exists()  # inputs are checked before anything is written
    code = main(["extract", str(path), "-o", str(tmp_path / "fs")])
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2


def test_cli_extract_summary(clip_b, tmp_path, capsys):
    code = main(["extract", str(clip_b[0]), "-o", str(tmp_path / "fs"), "--size", "64", "--every-nth", "4"])
    assert code == 0
    text = capsys.readouterr().out
    assert "6 faces from 6 frames" in text
