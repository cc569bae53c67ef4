"""The demo in CI's reduced mode: the whole pipeline runs and the report says the output is synthetic."""

import json

import pytest

from masquerade.cli import main

pytest.importorskip("dlib")


@pytest.mark.slow
def test_demo_reduced_mode_writes_a_verified_report(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "-o", str(out), "--minutes", "1.0", "--frames", "16"])
    assert code == 0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5  # faces A, faces B, preview, loss plot, before/after
    assert "synthetic — made by Masquerade" in page
    assert "Reconstruction A→A" in page and "Identity retrieval" in page
    from masquerade.models.store import read_manifest

    trained = read_manifest(out / "model")  # the report names the model the demo trained, not a fixed one
    assert f"<code>{trained.architecture}</code>, {trained.size} px" in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_steps"] > 20
    assert all(line.startswith("synthetic") for line in summary["verdicts"].values())
    ev = summary["evaluation"]
    assert ev["frames_with_face"] > 0 and ev["watermark_video_ok"] and ev["watermark_frames_ok"] > 0.5
    assert (out / "output" / "astronaut_as_grace_hopper.mp4").is_file()
    assert "report:" in capsys.readouterr().out


def test_demo_refuses_what_it_cannot_use_and_folders_that_are_not_its_own(tmp_path, capsys):
    """One line, exit 2, before anything is written: a file or a folder of the user's as the output, a budget
    or clip length the demo cannot use. An earlier demo's folder (from before the marker) is accepted."""
    from masquerade.demo import claim_demo_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my report")
    a_file = tmp_path / "notes.mp4"
    a_file.write_text("not a folder")
    cases = [(["-o", str(mine)], "holds other files"), (["-o", str(a_file)], "not a folder"),
             (["-o", str(tmp_path / "d1"), "--minutes", "-1"], "--minutes must be"),
             (["-o", str(tmp_path / "d2"), "--minutes", "nan"], "--minutes must be"),
             (["-o", str(tmp_path / "d3"), "--frames", "0"], "--frames must be")]
    for args, words in cases:
        capsys.readouterr()
        assert main(["demo", *args]) == 2, args
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "notes.mp4"]
    assert [p.name for p in mine.iterdir()] == ["report.html"] and (mine / "report.html").read_text() == "my report"
    assert a_file.read_text() == "not a folder"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "summary.json").write_text(json.dumps({"train_steps": 9, "verdicts": {}, "report": "report.html"}))
    claim_demo_folder(earlier, 10.0, 48)  # no error: the demo may run there again
