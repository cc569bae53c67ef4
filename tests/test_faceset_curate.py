"""Curating a face set: faces set aside (never deleted) with their reason and put back exactly, under the face
set's writer lock; one person kept out of two that alternate; outliers and near-duplicates; the coverage sheet."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from masquerade.errors import FaceSetError
from masquerade.extract import ExtractConfig, extract
from masquerade.faceset import FaceSet
from masquerade.faceset.curate import EMBEDDINGS, CurateConfig, curate, restore
from masquerade.faceset.sheet import COUNTS, SHEET, write_sheet

needs_dlib = pytest.mark.skipif(importlib.util.find_spec("dlib") is None
                                or importlib.util.find_spec("face_recognition_models") is None,
                                reason="face recognition needs the eval extra (dlib)")
DERIVED = ("cache_", "coverage.", EMBEDDINGS)


def _tree(root: Path) -> dict:
    """The face set's files and bytes, without derived files (caches, the coverage sheet)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(DERIVED)}


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def _edit_records(root: Path, change) -> None:
    data = json.loads((root / "alignments.json").read_text())
    change(data["faces"])
    (root / "alignments.json").write_text(json.dumps(data, indent=1) + "\n")  # as the face set writes it


# -- set aside and restore -----------------------------------------------------------------------------------

def test_set_aside_moves_faces_with_their_records_and_restore_puts_them_back(faceset_a, tmp_path):
    fs_dir = _copy(faceset_a, tmp_path / "fs")
    before, old = _tree(fs_dir), FaceSet.open(fs_dir)
    names = [old.records[i]["file"] for i in (2, 9, 17)]
    with FaceSet.edit(fs_dir) as fs:
        assert fs.set_aside(names + ["not_in_the_set.png"], "removed", {names[0]: "a hand over the face"}) == 3
    after = FaceSet.open(fs_dir)
    assert len(after) == 21 and not {r["file"] for r in after.records} & set(names)
    assert after.manifest["id"] != old.manifest["id"]  # training caches rebuild
    assert len(after.load_tensors(32)) == 21
    kept = fs_dir / "set_aside" / "removed"
    for name in names:
        assert not (fs_dir / "faces" / name).exists() and not (fs_dir / "masks" / name).exists()
        for sub in ("faces", "masks"):
            assert (kept / sub / name).read_bytes() == before[f"{sub}/{name}"]
    entries = json.loads((kept / "aside.json").read_text())["faces"]
    assert [e["record"] for e in entries] == [r for r in old.records if r["file"] in names]
    assert entries[0]["why"] == "a hand over the face"
    assert FaceSet.open(fs_dir).set_aside_reasons() == {"removed": 3}

    assert restore(fs_dir, "removed") == 3
    assert _tree(fs_dir) == before  # byte for byte, set_aside/ gone
    assert FaceSet.open(fs_dir).manifest["id"] == old.manifest["id"]


def test_set_aside_needs_the_writer_lock(faceset_a, clip_a, tmp_path):
    fs_dir = _copy(faceset_a, tmp_path / "fs")
    name = FaceSet.open(fs_dir).records[0]["file"]
    with pytest.raises(RuntimeError, match="FaceSet.edit"):
        FaceSet.open(fs_dir).set_aside([name], "removed")
    with FaceSet.edit(fs_dir):
        with pytest.raises(FaceSetError, match="is writing to this face set"):
            extract([clip_a[0]], fs_dir, ExtractConfig(size=128))
        with pytest.raises(FaceSetError, match="is writing to this face set"):
            with FaceSet.edit(fs_dir):
                pass
    with FaceSet.edit(fs_dir) as fs:  # released
        with pytest.raises(FaceSetError, match="every face"):
            fs.set_aside([r["file"] for r in fs.records], "removed")
        with pytest.raises(FaceSetError, match="not a usable reason"):
            fs.set_aside([name], "../outside")
    assert len(FaceSet.open(fs_dir)) == 24 and not (fs_dir / "set_aside" / "removed" / "aside.json").exists()


def test_a_set_with_faces_set_aside_grows_trains_and_never_gets_them_back(faceset_a, clip_a, clip_b, tmp_path):
    fs_dir = _copy(faceset_a, tmp_path / "fs")
    names = [r["file"] for r in FaceSet.open(fs_dir).records[:4]]
    with FaceSet.edit(fs_dir) as fs:
        fs.set_aside(names, "blurry")
    assert extract([clip_a[0]], fs_dir, ExtractConfig(size=128)).faces_kept == 0  # its source is done
    s = extract([clip_b[0]], fs_dir, ExtractConfig(size=128, every_nth=4))
    assert s.faces_kept == 6
    fs = FaceSet.open(fs_dir)
    assert len(fs) == 26 and len(fs.load_tensors(32)) == 26 and not {r["file"] for r in fs.records} & set(names)
    # a frame read again (as extract's repair does) does not bring back the face set aside from it
    from masquerade.faceset.sources import identify
    from masquerade.media import probe, read_frames

    again = FaceSet.create_or_resume(fs_dir, {k: fs.manifest[k] for k in ("template", "size", "coverage", "detector")})
    try:
        frame = next(read_frames(clip_a[0]))
        assert again.add_frame(identify(probe(clip_a[0])), frame, [_aligned(frame)]) == 0
        again.finish()
    finally:
        again.close()
    assert len(FaceSet.open(fs_dir)) == 26
    assert restore(fs_dir) == 4 and len(FaceSet.open(fs_dir)) == 30


def _aligned(frame):
    from masquerade.faces import create_detector
    from masquerade.faces.align import align_face

    det = create_detector("mediapipe")
    try:
        return align_face(frame.image, det.detect(frame.image)[0], 128)
    finally:
        det.close()


def test_an_old_face_set_can_be_curated(faceset_a, tmp_path):
    from test_extract import _old_style

    old = _old_style(faceset_a, tmp_path / "old")
    before, records = _tree(old), FaceSet.open(old).records
    with FaceSet.edit(old) as fs:
        assert fs.set_aside(["00_000003_0.png", "00_000004_0.png"], "near_duplicate") == 2
    assert len(FaceSet.open(old)) == 22
    assert restore(old) == 2
    after = _tree(old)  # the same faces and records; the JSON files are now written as schema 2 (as extract does)
    assert {k: v for k, v in after.items() if "/" in k} == {k: v for k, v in before.items() if "/" in k}
    assert FaceSet.open(old).records == records and FaceSet.open(old).manifest["schema_version"] == 2


# -- outliers and near-duplicates -----------------------------------------------------------------------------

def test_outliers_are_set_aside_with_their_reason(faceset_a, tmp_path):
    fs_dir = _copy(faceset_a, tmp_path / "fs")
    files = [r["file"] for r in FaceSet.open(fs_dir).records]

    def spoil(faces):
        faces[3]["score"] = 0.12
        faces[5]["blur"] = 0.5
        marks = np.asarray(faces[7]["landmarks"])
        faces[7]["landmarks"] = (marks + np.random.default_rng(0).normal(0, 25, marks.shape)).tolist()

    _edit_records(fs_dir, spoil)
    report = curate(fs_dir, CurateConfig(one_person=False, duplicate_difference=0, sheet=False))
    assert [(d.file, d.reason) for d in report.decisions] == [
        (files[3], "low_score"), (files[5], "blurry"), (files[7], "misaligned")]
    assert "0.12 < 0.5" in report.decisions[0].why
    assert report.kept == 21 and len(FaceSet.open(fs_dir)) == 21
    assert sorted(p.name for p in (fs_dir / "set_aside").iterdir()) == ["blurry", "low_score", "misaligned"]
    assert not (fs_dir / EMBEDDINGS).exists()  # no face recognition was asked for


def test_near_duplicates_keep_one_face_per_change(faceset_a, tmp_path):
    fs_dir = _copy(faceset_a, tmp_path / "fs")
    loose = curate(fs_dir, CurateConfig(one_person=False, duplicate_difference=255.0, sheet=False), dry_run=True)
    assert loose.set_aside == {"near_duplicate": 23}  # all but the first face of the footage
    assert all(d.why.startswith("differs from " + FaceSet.open(fs_dir).records[0]["file"]) for d in loose.decisions)
    assert curate(fs_dir, CurateConfig(one_person=False, duplicate_difference=0.0, sheet=False)).set_aside == {}
    assert len(FaceSet.open(fs_dir)) == 24  # the dry run moved nothing


# -- one person out of two -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    """A clip where the astronaut (16 frames) and Grace Hopper (8) alternate every 4 frames, and its face set."""
    from masquerade.media import write_video
    from masquerade.samples import make_clip

    work = tmp_path_factory.mktemp("two")
    a, b = make_clip("astronaut", frames=16, seed=5).frames, make_clip("grace_hopper", frames=8, seed=6).frames
    frames, who = [], []
    for k in range(4):
        frames += a[8 * k // 2: 8 * k // 2 + 4] + b[4 * k // 2: 4 * k // 2 + 2]
        who += ["astronaut"] * 4 + ["grace_hopper"] * 2
    clip = write_video(work / "two.mp4", frames, 12.0)
    extract([clip], work / "fs", ExtractConfig(size=128))
    return work / "fs", who


def _people(fs_dir: Path, who: list[str]) -> list[str]:
    return [who[r["frame_index"]] for r in FaceSet.open(fs_dir).records]


@pytest.mark.slow
@needs_dlib
def test_the_person_with_most_faces_is_kept_and_the_other_set_aside(two_people, tmp_path):
    fs_dir, who = _copy(two_people[0], tmp_path / "fs"), two_people[1]
    assert sorted(_people(fs_dir, who)) == sorted(who)
    report = curate(fs_dir, CurateConfig(duplicate_difference=0))
    assert report.set_aside == {"other_person": 8} and report.embedded == 24
    assert set(_people(fs_dir, who)) == {"astronaut"} and len(FaceSet.open(fs_dir)) == 16
    assert all(d.why.startswith("face-recognition distance") for d in report.decisions)
    again = curate(fs_dir, CurateConfig(duplicate_difference=0), dry_run=True)
    assert again.embedded == 0 and again.set_aside == {}  # embeddings cached; nothing more to set aside
    assert restore(fs_dir, "other_person") == 8 and len(FaceSet.open(fs_dir)) == 24


@pytest.mark.slow
@needs_dlib
def test_a_reference_photo_keeps_that_person(two_people, tmp_path):
    from masquerade.media import write_image
    from masquerade.samples import portrait

    fs_dir, who = _copy(two_people[0], tmp_path / "fs"), two_people[1]
    photo = write_image(tmp_path / "grace.png", portrait("grace_hopper"))
    report = curate(fs_dir, CurateConfig(reference=photo, duplicate_difference=0))
    assert report.set_aside == {"other_person": 16} and "grace.png" in report.person
    assert set(_people(fs_dir, who)) == {"grace_hopper"} and len(FaceSet.open(fs_dir)) == 8


# -- the command ------------------------------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masquerade", "faces", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_cli_dry_run_lists_moves_nothing_then_moves_and_restores(faceset_a, tmp_path):
    fs_dir = _copy(faceset_a, tmp_path / "fs")
    files = [r["file"] for r in FaceSet.open(fs_dir).records]
    _edit_records(fs_dir, lambda faces: faces[4].update(score=0.2))
    before = _tree(fs_dir)
    dry = _cli(str(fs_dir), "--dry-run", "--all-people", "--duplicate-difference", "0")
    assert dry.returncode == 0, dry.stderr
    assert f"low_score       {files[4]}  detector confidence 0.20 < 0.5" in dry.stdout
    assert "would set aside: 1 low_score" in dry.stdout
    assert _tree(fs_dir) == before and (fs_dir / SHEET).is_file()
    run = _cli(str(fs_dir), "--all-people", "--duplicate-difference", "0")
    assert run.returncode == 0 and "kept 23 of 24 faces" in run.stdout and "--restore" in run.stdout
    assert (fs_dir / "set_aside" / "low_score" / "faces" / files[4]).is_file()
    wrong = _cli(str(fs_dir), "--restore", "blurry")
    assert wrong.returncode == 2 and "nothing is set aside for 'blurry' (set aside: low_score)" in wrong.stderr
    back = _cli(str(fs_dir), "--restore", "all")
    assert back.returncode == 0 and "1 face(s) put back" in back.stdout
    assert _tree(fs_dir) == before


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    for args, fragment in [((str(tmp_path / "nope"),), "no such face set"),
                           ((str(tmp_path), "--max-distance", "9"), "--max-distance"),
                           ((str(tmp_path), "--restore", "../x"), "")]:
        proc = _cli(*args)
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
        assert len([line for line in proc.stderr.splitlines() if line.strip()]) <= 2


# -- coverage ---------------------------------------------------------------------------------------------------

def test_contact_sheet_counts_every_face_once_and_shows_empty_bins(faceset_a, tmp_path):
    import cv2

    fs_dir = _copy(faceset_a, tmp_path / "fs")
    png = write_sheet(FaceSet.open(fs_dir))
    counts = json.loads((fs_dir / COUNTS).read_text())
    grid = counts["pitch_yaw"]
    assert counts["faces"] == 24 and sum(n for row in grid.values() for n in row.values()) == 24
    assert sum(row["frontal"] for row in grid.values()) == 24  # one still portrait: every face frontal
    assert "up, yaw < -30" in counts["empty"] and len(counts["empty"]) >= 12
    assert set(counts["expressions"]) == {"neutral", "mouth open", "smile", "eyes closed/down"}
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 700


@pytest.mark.parametrize("killed_at", ["checkpoint", "unlinking the originals"])
def test_a_kill_while_setting_aside_loses_nothing_and_restore_finishes(killed_at, faceset_a, tmp_path, monkeypatch):
    from masquerade.faceset import aside

    class Killed(BaseException):
        pass

    def die(*args, **kwargs):
        raise Killed

    fs_dir = _copy(faceset_a, tmp_path / "fs")
    before = _tree(fs_dir)
    names = [r["file"] for r in FaceSet.open(fs_dir).records[5:8]]
    monkeypatch.setattr(*((FaceSet, "checkpoint", die) if killed_at == "checkpoint" else
                          (aside, "unlink_originals", die)))
    with pytest.raises(Killed):
        with FaceSet.edit(fs_dir) as fs:
            fs.set_aside(names, "blurry")
    monkeypatch.undo()
    fs = FaceSet.open(fs_dir)
    assert len(fs) == (24 if killed_at == "checkpoint" else 21)
    assert fs.set_aside_reasons() == ({} if killed_at == "checkpoint" else {"blurry": 3})
    assert all((fs_dir / "set_aside" / "blurry" / "faces" / n).is_file() for n in names)  # a copy is always kept
    assert len(fs.load_tensors(32)) == len(fs)
    assert restore(fs_dir) == (0 if killed_at == "checkpoint" else 3)
    assert _tree(fs_dir) == before


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


@pytest.mark.slow
@needs_dlib
@pytest.mark.skipif(not (REAL / "man_d19.mp4").is_file(), reason="the real clips are not beside the repository")
def test_real_footage_of_two_alternating_people_keeps_only_the_larger(tmp_path):
    from masquerade.media import read_frames, write_video

    man = [f.image for f in read_frames(REAL / "man_d19.mp4")][:60]
    woman = [f.image[16:496, 16:496] for f in read_frames(REAL / "woman_d3.mp4")][:90]  # 480 px like his
    frames, who = [], []
    for k in range(3):
        frames += woman[30 * k:30 * k + 30] + man[20 * k:20 * k + 20]
        who += ["woman"] * 30 + ["man"] * 20
    clip = write_video(tmp_path / "two.mp4", frames, 30.0)
    extract([clip], tmp_path / "fs", ExtractConfig(size=128, every_nth=3))
    report = curate(tmp_path / "fs", CurateConfig(duplicate_difference=0, min_score=0))
    kept = _people(tmp_path / "fs", who)
    assert set(kept) == {"woman"} and len(kept) == who[::3].count("woman")
    assert report.set_aside == {"other_person": who[::3].count("man")}
