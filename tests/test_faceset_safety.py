"""A face set survives kills, damage and mistakes: SIGKILL mid-extract, torn journals, damaged JSON and caches,
missing files, nonsense settings, and outputs that overlap the inputs. Each ends in one clear error or in a
face set that resumes without losing or duplicating a face."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from masquerade.faceset import journal
from masquerade.cli import main
from masquerade.errors import FaceSetError, MasqueradeError, OutputError
from masquerade.extract import ExtractConfig, extract
from masquerade.faceset import CACHE_FORMAT, FaceSet
from masquerade.media import write_image
from masquerade.samples import make_clip, portrait, write_clip

CONFIG = ExtractConfig(size=64)


def _tree(root) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _faces(root) -> list[str]:
    return [r["file"] for r in FaceSet.open(root).records]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """40 frames: long enough to kill a run part-way through, short enough to extract in seconds."""
    return write_clip(tmp_path_factory.mktemp("long") / "long.mp4", make_clip("astronaut", frames=40, seed=4),
                      audio=False)


@pytest.fixture(scope="module")
def reference(long_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "fs"
    extract([long_clip], out, CONFIG)
    return out


# -- kills -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_mid_extract_then_resume_loses_and_duplicates_nothing(long_clip, reference, tmp_path):
    out = tmp_path / "fs"
    script = ("import sys; from masquerade.extract import ExtractConfig, extract; "
              "extract([sys.argv[1]], sys.argv[2], ExtractConfig(size=64))")
    kills = 0
    for target in (2, 12, 22, 31):  # kill once this many crops exist (each run resumes the one before)
        proc = subprocess.Popen([sys.executable, "-c", script, str(long_clip), str(out)])
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "faces").is_dir() and sum(1 for _ in (out / "faces").iterdir()) >= target:
                break
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3
    extract([long_clip], out, CONFIG)
    names = _faces(out)
    assert len(names) == len(set(names)) == 40
    assert names == _faces(reference)  # the same faces under the same names as an uninterrupted run
    assert sorted(r["frame_index"] for r in FaceSet.open(out).records) == list(range(40))
    for sub in ("faces", "masks"):  # no orphan crops, no temp files of the killed runs (swept)
        assert {p.name for p in (out / sub).iterdir()} == set(names)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert not (out / journal.JOURNAL).exists()


def _interrupt_after(n):
    def stop(task, done, total, stats):
        if done == n:
            raise KeyboardInterrupt
    return stop


@pytest.mark.parametrize("stop_after", [20, 35])  # resumed inside the first and the second tracking span
def test_a_resumed_extract_finds_exactly_the_landmarks_of_an_uninterrupted_one(long_clip, reference, tmp_path,
                                                                              stop_after):
    """The face mesh tracks from frame to frame; a resume must warm it up to the state it had, not restart it
    cold mid-clip (which moved landmarks by up to 39 px for the rest of a real clip)."""
    out = tmp_path / "fs"
    with pytest.raises(KeyboardInterrupt):
        extract([long_clip], out, CONFIG, progress=_interrupt_after(stop_after))
    extract([long_clip], out, CONFIG)
    got = {r["file"]: r for r in FaceSet.open(out).records}
    want = {r["file"]: r for r in FaceSet.open(reference).records}
    assert got.keys() == want.keys()
    for name, record in want.items():
        assert np.array_equal(np.asarray(got[name]["landmarks"]), np.asarray(record["landmarks"])), name
        assert np.array_equal(np.asarray(got[name]["matrix"]), np.asarray(record["matrix"])), name


def test_torn_journal_line_is_dropped_and_the_run_resumes(long_clip, reference, tmp_path):
    out = tmp_path / "fs"
    with pytest.raises(KeyboardInterrupt):
        extract([long_clip], out, CONFIG, progress=_interrupt_after(20))
    with open(out / journal.JOURNAL, "ab") as f:
        f.write(b'{"source": {"id": "0123", "next_fr')  # a write cut short by a kill
    assert len(journal.read(out)) == 20
    s = extract([long_clip], out, CONFIG)
    assert s.frames_read == 20
    assert _faces(out) == _faces(reference)


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["manifest", "journal removal"])
def test_kill_while_finishing_leaves_a_set_that_resumes(crash_at, long_clip, reference, tmp_path, monkeypatch):
    """Finishing writes alignments.json, then faceset.json, then deletes the journal; die between any two."""
    from masquerade import atomic

    class Killed(BaseException):
        pass

    out = tmp_path / "fs"
    with pytest.raises(KeyboardInterrupt):
        extract([long_clip], out, CONFIG, progress=_interrupt_after(30))
    real_write = atomic.write_json

    def write_json(path, obj, **kw):
        if crash_at == "manifest" and path.name == "faceset.json" and obj.get("complete"):
            raise Killed
        return real_write(path, obj, **kw)

    real_remove = journal.remove

    def remove(root):
        if json.loads((root / "faceset.json").read_text())["complete"]:
            raise Killed
        real_remove(root)

    monkeypatch.setattr(atomic, "write_json", write_json)
    if crash_at == "journal removal":
        monkeypatch.setattr(journal, "remove", remove)
    with pytest.raises(Killed):
        extract([long_clip], out, CONFIG)
    monkeypatch.undo()
    assert (out / journal.JOURNAL).exists()
    if crash_at == "journal removal":  # the set is complete: readers replay the journal harmlessly
        assert _faces(out) == _faces(reference)
    assert extract([long_clip], out, CONFIG).frames_read == 0
    assert _faces(out) == _faces(reference)
    assert not (out / journal.JOURNAL).exists()


def test_kill_while_creating_the_set_leaves_a_set_that_resumes(long_clip, reference, tmp_path, monkeypatch):
    from masquerade import atomic

    class Killed(BaseException):
        pass

    def write_json(path, obj, **kw):
        raise Killed  # after faceset.json, before alignments.json and the first crop

    real_write = atomic.write_json
    monkeypatch.setattr(atomic, "write_json", lambda path, obj, **kw: (real_write if path.name == "faceset.json"
                                                                       else write_json)(path, obj, **kw))
    out = tmp_path / "fs"
    with pytest.raises(Killed):
        extract([long_clip], out, CONFIG)
    monkeypatch.undo()
    assert sorted(p.name for p in out.rglob("*")) == ["faces", "faceset.json", "masks"]
    assert extract([long_clip], out, CONFIG).faces_kept == 40
    assert _faces(out) == _faces(reference)


def test_extract_appends_instead_of_rewriting(long_clip, tmp_path):
    """Per frame, only the journal grows; alignments.json is written when a run starts and when it ends."""
    out = tmp_path / "fs"
    seen = []

    def watch(task, done, total, stats):
        seen.append(((out / "alignments.json").stat().st_mtime_ns, (out / journal.JOURNAL).stat().st_size))

    extract([long_clip], out, ExtractConfig(size=64, every_nth=3), progress=watch)
    assert len({mtime for mtime, _ in seen}) == 1
    assert all(b[1] > a[1] for a, b in zip(seen, seen[1:]))


def test_leftovers_of_a_killed_run_are_swept(long_clip, reference, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftovers = [out / "faces" / f".x.png.masq-partial-{dead.pid}-0badf00d.png",
                 out / f".faceset.json.masq-partial-{dead.pid}-0badf00d.json"]
    live = out / "masks" / f".y.png.masq-partial-{os.getpid()}-0badf00d.png"  # a live run's: left alone
    for p in leftovers + [live]:
        p.write_bytes(b"half")
    assert extract([long_clip], out, CONFIG).frames_read == 0
    assert not any(p.exists() for p in leftovers) and live.exists()
    live.unlink()
    assert _tree(out) == _tree(reference)


# -- damaged files: one clear error, or a silent rebuild for derived data ----------------------------------

def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes({"[]": b"[]", "null": b"null", "string": b'"faces"', "{}": b"{}",
                      "truncated": data[: len(data) // 2], "binary": b"\x00\xff" * 8}[how])


@pytest.mark.parametrize("name", ["faceset.json", "alignments.json"])
@pytest.mark.parametrize("how", ["[]", "null", "string", "{}", "truncated", "binary"])
def test_damaged_json_is_one_clear_error(name, how, reference, long_clip, tmp_path, capsys):
    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    _damage(out / name, how)
    before = _tree(out)
    with pytest.raises(FaceSetError, match=f"{name} is damaged .*restore it from a backup"):
        FaceSet.open(out)
    code = main(["extract", str(long_clip), "-o", str(out), "--size", "64"])
    err = capsys.readouterr().err
    assert code == 2 and "damaged" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2
    assert _tree(out) == before  # nothing was written over the damaged set


@pytest.mark.parametrize("record", [{"file": "../../outside.png", "matrix": [], "landmarks": []},
                                    {"file": "x.png"}, "text", None])
def test_damaged_face_record_is_one_clear_error(record, reference, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    data = json.loads((out / "alignments.json").read_text())
    data["faces"][3] = record
    (out / "alignments.json").write_text(json.dumps(data))
    with pytest.raises(FaceSetError, match="alignments.json is damaged .face record 3"):
        FaceSet.open(out)


@pytest.mark.parametrize("key, value", [("sources", {}), ("size", "128"), ("schema_version", 99)])
def test_damaged_manifest_field_is_one_clear_error(key, value, reference, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    m = json.loads((out / "faceset.json").read_text())
    m[key] = value
    (out / "faceset.json").write_text(json.dumps(m))
    with pytest.raises(FaceSetError, match="is damaged|not supported"):
        FaceSet.open(out)
    m[key] = json.loads((reference / "faceset.json").read_text())[key]
    del m["sources"][0]["frames_read"]
    (out / "faceset.json").write_text(json.dumps(m))
    with pytest.raises(FaceSetError, match="a source entry lacks"):
        FaceSet.open(out)


@pytest.mark.parametrize("how", ["truncated", "binary", "empty", "other face set", "wrong shape", "older format"])
def test_damaged_cache_is_rebuilt(how, reference, tmp_path):
    import torch
    from safetensors.torch import save_file

    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    fresh = FaceSet.open(out).load_tensors(32)
    cache = out / "cache_32.safetensors"
    if how == "empty":
        cache.write_bytes(b"")
    elif how == "other face set":
        save_file({"faces": fresh.faces[:1], "masks": fresh.masks[:1], "landmarks": fresh.landmarks[:1]}, str(cache),
                  metadata={"id": "0" * 16})
    elif how == "wrong shape":  # right id, wrong contents (e.g. written by a build with a bug)
        save_file({"faces": fresh.faces[:5], "masks": fresh.masks[:5], "landmarks": torch.zeros(5, 478, 2)},
                  str(cache), metadata={"id": FaceSet.open(out).manifest["id"], "format": CACHE_FORMAT})
    elif how == "older format":  # right id and shapes, landmarks as an older build placed them (unmarked)
        save_file({"faces": fresh.faces, "masks": fresh.masks, "landmarks": fresh.landmarks + 0.25}, str(cache),
                  metadata={"id": FaceSet.open(out).manifest["id"]})
    else:
        _damage(cache, how)
    again = FaceSet.open(out).load_tensors(32)
    assert torch.equal(again.faces, fresh.faces) and torch.equal(again.masks, fresh.masks)
    assert torch.equal(again.landmarks, fresh.landmarks)
    assert torch.equal(FaceSet.open(out).load_tensors(32).faces, fresh.faces)  # and the rebuilt cache is good


def test_missing_face_file_names_the_file_and_the_repair(long_clip, reference, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    records = FaceSet.open(out).records
    (out / "masks" / records[7]["file"]).unlink()
    (out / "faces" / records[30]["file"]).unlink()
    with pytest.raises(FaceSetError, match=f"masks/{records[7]['file']} is missing or unreadable; re-extract it "
                                           f"with `masquerade extract {long_clip} -o {out}`"):
        FaceSet.open(out).load_tensors(32)
    s = extract([long_clip], out, CONFIG)  # the repair the message names
    assert s.frames_read == 0 and s.faces_kept == 2
    assert _faces(out) == _faces(reference) and len(FaceSet.open(out).load_tensors(32)) == 40


def test_missing_face_file_of_an_old_face_set_is_repaired(clip_a, faceset_a, tmp_path):
    from test_extract import _old_style

    old = _old_style(faceset_a, tmp_path / "old")
    (old / "faces" / "00_000005_0.png").unlink()
    s = extract([clip_a[0]], old, ExtractConfig(size=128))
    fs = FaceSet.open(old)
    assert s.faces_kept == 1 and len(fs) == 24 and len(fs.load_tensors(32)) == 24
    assert [r["frame_index"] for r in fs.records if not r["file"].startswith("00_")] == [5]


# -- nonsense settings and overlapping outputs: refused before anything is written -------------------------

@pytest.mark.parametrize("changes, fragment", [
    ({"size": 0}, "--size must be between 32 and 1024"), ({"size": 2048}, "--size"), ({"size": 64.5}, "--size"), ({"size": float("inf")}, "--size"),
    ({"every_nth": 0}, "--every-nth must be a whole number of at least 1"), ({"max_faces": 0}, "--max-faces"),
    ({"min_face_size": -1}, "--min-face-size"), ({"blur_threshold": -1.0}, "--blur-threshold"),
    ({"blur_threshold": float("nan")}, "--blur-threshold"), ({"min_score": -0.1}, "--min-score"),
    ({"min_score": 1.5}, "--min-score must be between 0.0 and 1.0"),
    ({"coverage": "feet"}, "--coverage must be one of face, whole_face, head, not 'feet'"),
    ({"detector": "dlib"}, "--detector must be one of mediapipe, not 'dlib'"),
])
def test_nonsense_settings_are_refused(changes, fragment, long_clip, tmp_path):
    import dataclasses

    config = dataclasses.replace(CONFIG, **changes)
    with pytest.raises(MasqueradeError, match=fragment.replace(".", r"\.")):
        extract([long_clip], tmp_path / "fs", config)
    assert not (tmp_path / "fs").exists()


def test_cli_nonsense_number_exits_2(long_clip, tmp_path, capsys):
    assert main(["extract", str(long_clip), "-o", str(tmp_path / "fs"), "--every-nth", "0"]) == 2
    assert "--every-nth" in capsys.readouterr().err and not (tmp_path / "fs").exists()


def test_output_overlapping_an_input_is_refused(tmp_path):
    stills = tmp_path / "stills"
    stills.mkdir()
    write_image(stills / "a.png", portrait("astronaut"))
    clip = tmp_path / "clips" / "a.png"
    clip.parent.mkdir()
    write_image(clip, portrait("grace_hopper"))
    before = _tree(tmp_path)
    for output, inputs, why in [(stills, [stills], "same path"), (stills / "faces", [stills], "inside"),
                                (tmp_path / "clips", [clip], "contain"), (tmp_path, [stills, clip], "contain"),
                                (stills / "sub" / "deep", [clip, stills], "inside")]:
        with pytest.raises(OutputError, match=why):
            extract(inputs, output, CONFIG)
    assert _tree(tmp_path) == before  # nothing made, nothing deleted


def test_output_that_is_a_file_is_refused(long_clip, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a folder"):
        extract([long_clip], tmp_path / "notes.txt", CONFIG)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_second_writer_is_refused_until_the_first_is_done(reference, long_clip, tmp_path):
    from masquerade.extract import faceset_settings

    out = tmp_path / "fs"
    shutil.copytree(reference, out)
    first = FaceSet.create_or_resume(out, faceset_settings(CONFIG))
    with pytest.raises(FaceSetError, match="is writing to this face set"):
        extract([long_clip], out, CONFIG)
    first.close()
    assert extract([long_clip], out, CONFIG).frames_read == 0
