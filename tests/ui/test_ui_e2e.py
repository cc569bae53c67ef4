"""End to end in headless Chromium: upload two synthetic clips, extract, train a few steps, preview, render,
then check the rendered video verifies as synthetic both here and in the Verify tab.

Small on purpose (12 frames of 256×192, the lite net, 4 steps): it checks the wiring, not the quality.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def clips(tmp_path) -> list[Path]:
    from masquerade.samples import make_clip, write_clip

    return [write_clip(tmp_path / f"{name}.mp4", make_clip(name, frames=12, size=(256, 192), fps=12, seed=seed))
            for seed, name in enumerate(("astronaut", "grace_hopper"), start=1)]


@pytest.fixture
def ui(tmp_path):
    pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")
    from masquerade.ui import build_app
    from masquerade.ui.server import launch

    app = build_app(tmp_path / "ws", devices=["cpu"])
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch(app, "127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/", app.masquerade
    finally:
        app.close()
        app.masquerade.close()


def test_extract_train_convert_verify_in_the_browser(browser, ui, clips):
    url, ctx = ui
    page = browser
    page.d.get(url)
    page.wait(lambda: page.css("#extract-upload"), 60, "the app to load")
    page.screenshot("0-start")

    # Extract: one face set per clip (each upload becomes the selected source)
    jobs = ""
    for clip, name in zip(clips, ("alice", "bob")):
        page.upload("extract-upload", clip)
        page.wait_text("extract-msg", f"added {clip.name}")
        page.type("extract-name", name)
        page.click("extract-start")
        jobs = page.wait_job("extract-status", after=jobs, timeout=120)
    assert sorted(ctx.ws.facesets()) == ["alice", "bob"]
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#extract-gallery img"), 30, "the face gallery")
    page.screenshot("1-extract")

    # Drop a bad face: click it in the gallery, then drop
    from masquerade.faceset import FaceSet

    first = FaceSet.open(ctx.ws.root / "facesets" / "alice").records[0]["file"]  # the gallery shows records in order
    page.choose("extract-faceset", "alice")
    page.wait(lambda: len(page.d.find_elements(page.By.CSS_SELECTOR, "#extract-gallery img")) == 12, 30, "12 faces")
    page.d.find_elements(page.By.CSS_SELECTOR, "#extract-gallery img")[0].click()
    page.wait_text("extract-drop", first, timeout=20)
    page.click("extract-drop-btn")
    page.wait_text("extract-msg", "dropped 1 face(s) from alice; 11 left", timeout=20)
    alice = FaceSet.open(ctx.ws.root / "facesets" / "alice")
    assert len(alice) == 11 and first not in {r["file"] for r in alice.records}
    assert not (alice.root / "faces" / first).exists()
    # the gallery was served from published copies; the face set's own folder never is
    assert list((ctx.ws.root / ".shown").rglob("*.png"))

    # Train: lite, 4 steps, previews every 2
    page.tab("Train")
    page.choose("train-a", "alice")
    page.choose("train-b", "bob")
    page.type("train-model", "m1", enter=True)
    page.type("train-steps", "4")
    page.type("train-batch-size", "4")
    page.type("train-preview-every", "2")
    page.click("train-start")
    page.wait_text("train-msg", "queued job")
    page.wait_job("train-status", timeout=180)
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#train-preview img"), 30, "the training preview")
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#train-curves img"), 30, "the validation curves")
    assert (ctx.ws.root / "models" / "m1" / "metrics.jsonl").is_file()
    page.screenshot("2-train")

    # A reload is a new browser session: the finished job is still shown
    page.d.refresh()
    page.wait(lambda: page.css("#extract-upload"), 60, "the app to reload")
    page.tab("Train")
    page.wait(lambda: page.job_status("train-status")[1] == "done", 30, "the train job after a reload")

    # Convert: preview one frame, then render the clip
    page.tab("Convert")
    page.choose("convert-model", "m1")
    page.choose("convert-media", clips[0].name)
    page.click("convert-preview-btn")
    first = page.wait_job("convert-status", timeout=120)
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#convert-preview img"), 30, "the convert preview")
    page.click("convert-render")
    page.wait_job("convert-status", after=first, timeout=180)
    playable = "const v = document.querySelector('#convert-video video'); return v && v.readyState >= 1 && v.videoWidth;"
    assert page.wait(lambda: page.d.execute_script(playable), 30, "the result video to load in the player") == 256
    page.screenshot("3-convert")

    from masquerade.provenance import verify

    outputs = sorted((ctx.ws.root / "outputs").glob("*.mp4"))
    assert len(outputs) == 1
    verdict = verify(outputs[0])
    assert verdict.status == "synthetic", verdict.summary

    # Verify tab: drop the result in, see the verdict
    page.tab("Verify")
    page.upload("verify-file", outputs[0])
    text = page.wait_text("verify-verdict", "SYNTHETIC", timeout=90)
    assert "synthetic — made by Masquerade" in text
    page.screenshot("4-verify")
    page.upload("verify-file", clips[0])  # a real (unswapped) clip carries no marks
    page.wait_text("verify-verdict", "NO MARKS", timeout=60)

    page.tab("Jobs")
    ids = [j.id for j in ctx.queue.list()]
    page.wait(lambda: all(i in page.text("jobs-table") for i in ids), 20, "every job in the jobs table")
    page.screenshot("5-jobs")
    assert [j.status for j in ctx.queue.list()] == ["done"] * 5
