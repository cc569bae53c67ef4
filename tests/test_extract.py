"""Extraction on synthetic clips whose face moves by known transforms."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from masquerade.cli import main
from masquerade.errors import FaceSetError, MediaError, NoFaceError, OutputError
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
    assert m["schema_version"] == 2 and m["complete"] and m["size"] == 128 and m["coverage"] == "face"
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
    with pytest.raises(OutputError, match="holds other files"):
        extract([clip_a[0]], other)
    assert [p.name for p in other.iterdir()] == ["holiday.jpg"]
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


# -- face sets only grow -----------------------------------------------------------------------------------

def _tree(root) -> dict:
    """Every file under `root` with its bytes (the derived caches excluded)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith("cache_")}


def test_second_source_in_a_later_run_keeps_the_first(clip_a, clip_b, tmp_path):
    out = tmp_path / "fs"
    extract([clip_a[0]], out, ExtractConfig(size=64, every_nth=3))
    first = _tree(out)
    s = extract([clip_b[0]], out, ExtractConfig(size=64, every_nth=3))
    assert s.faces_kept == 8
    grown = _tree(out)
    faces_a = {k: v for k, v in first.items() if k.startswith(("faces/", "masks/"))}
    assert faces_a.items() <= grown.items()  # every earlier face file still there, byte for byte
    fs = FaceSet.open(out)
    assert len(fs) == 16 and len({r["file"] for r in fs.records}) == 16
    assert {r["source"] for r in fs.records} == {str(clip_a[0]), str(clip_b[0])}
    assert {e["id"] for e in fs.manifest["sources"]} == {r["source_id"] for r in fs.records}
    assert all(e["done"] for e in fs.manifest["sources"]) and fs.manifest["count"] == 16


def test_same_sources_in_any_order_give_the_same_folder(clip_a, clip_b, tmp_path):
    config = ExtractConfig(size=64, every_nth=4)
    extract([clip_a[0], clip_b[0]], tmp_path / "ab", config)
    extract([clip_b[0], clip_a[0]], tmp_path / "ba", config)
    assert _tree(tmp_path / "ab") == _tree(tmp_path / "ba")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ab").rglob("*")}
    again = extract([clip_b[0], clip_a[0], clip_a[0]], tmp_path / "ab", config)  # other order, a duplicate
    assert again.frames_read == 0 and again.faces_kept == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ab").rglob("*")} == before  # not even rewritten
    moved = tmp_path / "moved.mp4"  # the same footage under another name is the same source
    shutil.copy(clip_a[0], moved)
    assert extract([moved], tmp_path / "ab", config).frames_read == 0
    assert _tree(tmp_path / "ab") == _tree(tmp_path / "ba")


def test_the_same_still_in_a_folder_and_alone_is_one_face(tmp_path):
    folder = tmp_path / "stills"
    folder.mkdir()
    write_image(folder / "a.png", portrait("astronaut"))
    write_image(tmp_path / "copy.png", portrait("astronaut"))
    s = extract([folder, tmp_path / "copy.png"], tmp_path / "fs", ExtractConfig(size=64))
    assert s.faces_kept == 1 and s.rejected == {"already in the face set": 1}
    write_image(folder / "b.png", portrait("grace_hopper"))  # the folder grows: only the new picture is added
    s = extract([folder], tmp_path / "fs", ExtractConfig(size=64))
    assert s.faces_kept == 1 and len(FaceSet.open(tmp_path / "fs")) == 2


def _old_style(faceset, dest):
    """`faceset` rewritten as Masquerade wrote face sets before content ids (schema 1, names by input index)."""
    import json

    shutil.copytree(faceset, dest)
    m = json.loads((dest / "faceset.json").read_text())
    faces = json.loads((dest / "alignments.json").read_text())["faces"]
    for r in faces:
        old = f"00_{r['frame_index']:06d}_0.png"
        for sub in ("faces", "masks"):
            (dest / sub / r["file"]).rename(dest / sub / old)
        r["file"] = old
        del r["source_id"]
    m["schema_version"] = 1
    m["sources"] = [{k: e[k] for k in ("path", "next_frame", "done", "frames_read", "faces")} for e in m["sources"]]
    (dest / "faceset.json").write_text(json.dumps(m))
    (dest / "alignments.json").write_text(json.dumps({"schema_version": 1, "faces": faces}))
    return dest


def test_old_face_set_opens_and_grows(clip_a, clip_b, faceset_a, tmp_path):
    old = _old_style(faceset_a, tmp_path / "old")
    before = _tree(old)
    assert len(FaceSet.open(old)) == 24 and len(FaceSet.open(old).load_tensors(32)) == 24
    assert extract([clip_a[0]], old, ExtractConfig(size=128)).frames_read == 0  # its source, found by path
    s = extract([clip_b[0]], old, ExtractConfig(size=128, every_nth=6))
    assert s.faces_kept == 4
    fs = FaceSet.open(old)
    assert len(fs) == 28 and fs.manifest["schema_version"] == 2
    assert sum(r["file"].startswith("00_") for r in fs.records) == 24
    grown = _tree(old)
    assert all(grown[k] == v for k, v in before.items() if k.startswith(("faces/", "masks/")))


def test_interrupted_old_face_set_resumes_by_path(clip_b, tmp_path):
    import json

    out = tmp_path / "fs"

    def stop(task, done, total, stats):
        if done == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract([clip_b[0]], out, ExtractConfig(size=64, every_nth=2), progress=stop)
    fs = FaceSet.create_or_resume(out, {})
    fs.checkpoint(complete=False)  # fold the journal in, then age the set
    fs.close()
    m = json.loads((out / "faceset.json").read_text())
    m["schema_version"] = 1
    m["sources"] = [{k: e[k] for k in ("path", "next_frame", "done", "frames_read", "faces")} for e in m["sources"]]
    (out / "faceset.json").write_text(json.dumps(m))
    s = extract([clip_b[0]], out, ExtractConfig(size=64, every_nth=2))
    assert s.frames_read == 6
    assert sorted(r["frame_index"] for r in FaceSet.open(out).records) == list(range(0, 24, 2))


def test_landmarks_at_another_size_sit_on_the_resized_pixels(faceset_a):
    """The face set's 64 px tensors (what training reads) keep each landmark on the pixels it marks in the
    128 px crop: measured against the mask's centroid, which a halving resize maps pixel centre to centre."""
    fs = FaceSet.open(faceset_a)
    small = fs.load_tensors(64)
    ys, xs = np.mgrid[:128, :128]
    for i in range(0, len(fs), 6):
        big_mask = fs.mask(i).astype(np.float64)
        big_centre = np.array([(big_mask * xs).sum(), (big_mask * ys).sum()]) / big_mask.sum()
        mask = small.masks[i, 0].numpy().astype(np.float64)
        centre = np.array([(mask * xs[:64, :64]).sum(), (mask * ys[:64, :64]).sum()]) / mask.sum()
        offset_big = fs.crop_landmarks(i).mean(0) - big_centre
        offset = small.landmarks[i].numpy().mean(0) - centre
        assert np.abs(offset - 0.5 * offset_big).max() < 0.08, (i, offset, 0.5 * offset_big)
