"""The person steps' clean-up (issue 26 item 4): the curate job checks (dry run), sets aside with the same
settings, says what it found in plain words, and its faces come back; the stage's command-line wording never
reaches the page."""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest

pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")

from masquerade.faceset import FaceSet  # noqa: E402
from masquerade.ui.cleanup_panel import counts_words, photos, put_back_choices, summary  # noqa: E402
from masquerade.ui.jobs import DONE, FAILED, JobQueue  # noqa: E402
from masquerade.ui.runners import make_runners  # noqa: E402
from masquerade.ui.workspace import Workspace  # noqa: E402

from test_ui_runners import wait  # noqa: E402  (tests/ui is on the path, as for job_runners)

needs_dlib = pytest.mark.skipif(importlib.util.find_spec("dlib") is None
                                or importlib.util.find_spec("face_recognition_models") is None,
                                reason="face recognition needs the eval extra (dlib)")
FOR_EXPERTS = re.compile(r"--[a-z]|`|\.png|\.json|/|_|distance|grey level|\d\.\d")


def test_what_was_found_is_said_in_plain_words():
    assert counts_words({"near_duplicate": 5, "other_person": 12}) == \
        "12 faces of someone else and 5 near-identical frames"  # in the order the rules judge them
    assert counts_words({"blurry": 1, "low_score": 2, "misaligned": 3}) == (
        "2 faces the finder was unsure of, 3 faces with their features found in the wrong places and 1 blurry face")
    assert counts_words({"removed": 1, "by_hand": 2}) == "2 faces set aside as by hand and 1 face you dropped"
    dry = {"dry_run": True, "faces": 24, "kept": 7, "set_aside": {"other_person": 12, "near_duplicate": 5},
           "reference": False, "one_person": True}
    text = summary(dry, "alice")
    assert text.startswith("✓ keeping the person seen most often, 7 of the 24 faces of alice would stay")
    assert "12 faces of someone else and 5 near-identical frames" in text and "Nothing has changed yet" in text
    done = summary({**dry, "dry_run": False, "reference": True}, "alice")
    assert done.startswith("✓ set aside 12 faces of someone else") and "7 faces of alice are left" in done
    assert "nothing to set aside" in summary({**dry, "set_aside": {}, "kept": 24}, "alice")
    for t in (text, done):
        assert not FOR_EXPERTS.search(t), t


@pytest.fixture
def ws(tmp_path, faceset_a):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(faceset_a, ws.area("facesets") / "alice")
    return ws


@pytest.mark.slow
@needs_dlib
def test_check_then_set_aside_then_put_back(ws):
    """The check moves nothing and reports its counts; the same job with dry_run off moves exactly those faces
    (the embeddings cached by the check are reused); the put-back list names them and restore brings them back."""
    from masquerade.faceset.curate import restore

    root = ws.area("facesets") / "alice"
    before = FaceSet.open(root)
    q = JobQueue(ws.area("jobs"), make_runners(ws))
    try:
        params = {"faceset": "alice", "person": "a", "dry_run": True, "reference": None,
                  "settings": {"min_sharpness": 0.95, "duplicate_difference": 0.0}}
        check = wait(q, q.submit("curate", params).id, DONE)
        got = check.result
        assert got["dry_run"] and got["faces"] == len(before) and got["embedded"] == len(before)
        assert list(got["set_aside"]) == ["blurry"] and 0 < got["set_aside"]["blurry"] < len(before)
        assert got["kept"] == len(before) - got["set_aside"]["blurry"]
        assert check.progress["task"] == "embed" and check.progress["total"] == len(before)  # shown as a bar
        assert len(FaceSet.open(root)) == len(before) and put_back_choices(root) == []  # nothing moved
        assert ws.resolve(got["sheet"]).is_file() and got["sheet"].endswith(".png")
        assert str(ws.publish(ws.resolve(got["sheet"]))).startswith(str(ws.root / ".shown"))

        applied = wait(q, q.submit("curate", {**check.params, "dry_run": False}).id, DONE).result
        assert applied["set_aside"] == got["set_aside"] and applied["embedded"] == 0 and not applied["dry_run"]
        assert len(FaceSet.open(root)) == got["kept"]
        n = got["set_aside"]["blurry"]
        assert put_back_choices(root) == [(f"{n} blurry face" if n == 1 else f"{n} blurry faces", "blurry")]
        assert restore(root, "blurry") == n and len(FaceSet.open(root)) == len(before)
        assert put_back_choices(root) == []
    finally:
        q.close()


@needs_dlib
def test_what_the_stage_says_for_the_command_line_becomes_plain_words(ws, tmp_path):
    """The stage's errors name paths and flags (`raise --max-distance`); a failed job shows the page's words,
    and keeps the stage's own in its log."""
    from masquerade.media import write_image
    from masquerade.samples import portrait

    write_image(ws.area("uploads") / "grace.png", portrait("grace_hopper"))
    write_image(ws.area("uploads") / "wall.png", portrait("grace_hopper")[:40, :40] * 0 + 128)
    q = JobQueue(ws.area("jobs"), make_runners(ws))
    try:
        base = {"faceset": "alice", "person": "a", "dry_run": False}
        cases = {"every face": ({**base, "settings": {"min_score": 1.0}}, "these settings would set aside every face"),
                 "no face": ({**base, "reference": "wall.png"}, "no face was found in the photo of the person to keep"),
                 "someone else": ({**base, "reference": "grace.png"}, "no face here looks like the person in the photo")}
        for what, (params, words) in cases.items():
            job = wait(q, q.submit("curate", params).id, DONE, FAILED)
            assert job.status == FAILED and job.error.startswith(words), (what, job.error)
            assert not FOR_EXPERTS.search(job.error.replace("_", "")), job.error
            assert any("--" in line or "/" in line for line in job.log), what  # the stage's words, in the log
        assert len(FaceSet.open(ws.area("facesets") / "alice")) == 24  # nothing moved
        assert [n for _, n in photos(ws)] == ["", "grace.png", "wall.png"]
    finally:
        q.close()


def test_a_job_record_cannot_name_the_photo_or_skip_the_sheet_through_its_settings():
    """The photo is an upload the runner resolves inside the workspace; as a setting it would be any path."""
    from masquerade.faceset.curate import CurateConfig
    from masquerade.ui.runners import job_settings

    got = job_settings(CurateConfig, {"settings": {"reference": "/etc/passwd", "sheet": False, "min_score": 0.2}})
    assert got == {"min_score": 0.2}
