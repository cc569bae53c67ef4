"""The demo in CI's reduced mode: the whole pipeline runs and the report says the output is synthetic."""

import json

import pytest

from masquerade.cli import main

pytest.importorskip("dlib")


def test_demo_reduced_mode_writes_a_verified_report(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "-o", str(out), "--minutes", "0.4", "--frames", "16"])
    assert code == 0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5  # faces A, faces B, preview, loss plot, before/after
    assert "synthetic — made by Masquerade" in page
    assert "Reconstruction A→A" in page and "Identity retrieval" in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_steps"] > 20
    assert all(line.startswith("synthetic") for line in summary["verdicts"].values())
    ev = summary["evaluation"]
    assert ev["frames_with_face"] > 0 and ev["watermark_video_ok"] and ev["watermark_frames_ok"] > 0.5
    assert (out / "output" / "astronaut_as_grace_hopper.mp4").is_file()
    assert "report:" in capsys.readouterr().out
