"""End to end in headless Chromium, as a new user goes: faces of person A, faces of person B (one upload
each, each its own face set named after the person), drop a bad face, clean up person A's faces (check, set aside, put back), train a few steps, preview a chosen
moment, train the face sharpener, swap the clip, verify the result and an original. At every step the page must show no traceback,
no help written for the command line, and no message left over from a finished job; each step's "next"
button leads to the next step, whose picks are already filled in.

Small on purpose (12 frames of 256×192, the lite net, 4 steps): it checks the path, not the quality.
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


def _person(page, side: str, name: str, clip: Path, after: str = "") -> str:
    """Step 1 or 2: name the person, add their clip, find the faces; returns the job id."""
    page.type(f"{side}-name", name, enter=True)
    page.upload(f"{side}-upload", clip)
    page.wait_text(f"{side}-media", clip.name)
    assert not page.visible(f"{side}-next")  # nothing to go on to before the faces are found
    page.click(f"{side}-start")
    # A click that reaches the server before the typed name (committed by Enter) does is answered in words,
    # as a user would see it; that user would click again, and so does the test (seen on a slow box)
    page.wait(lambda: "a name first" in page.text(f"{side}-msg")
              or page.job_status(f"{side}-status")[0] not in ("", after), 60, "a job or the name's message")
    if "a name first" in page.text(f"{side}-msg"):
        page.click(f"{side}-start")
    job = page.wait_job(f"{side}-status", after=after, timeout=120)
    msg = page.wait_text(f"{side}-msg", f"found 12 face(s) of {name}", timeout=20)  # the message follows the job
    assert "queued" not in msg.lower()
    page.wait(lambda: len(page.d.find_elements(page.By.CSS_SELECTOR, f"#{side}-gallery img")) == 12, 30,
              f"the 12 faces of {name}")  # the gallery follows the person's face set
    captions = page.text(f"{side}-gallery")
    assert f"frame 0 · {clip.name}" in captions and f"frame 11 · {clip.name}" in captions
    page.wait(lambda: page.visible(f"{side}-next"), 20, "the next-step button")
    page.check_page()
    return job


def _clean_up(page, ctx, root: Path) -> None:
    """Person A's clean-up: a check says in words what it would set aside and shows the coverage sheet, moving
    nothing; *Set them aside* moves those faces and the gallery follows; *Put them back* returns them."""
    from masquerade.faceset import FaceSet

    n_faces = len(FaceSet.open(root))
    gallery = lambda: len(page.d.find_elements(page.By.CSS_SELECTOR, "#a-gallery img"))  # noqa: E731
    page.open("a-clean")
    page.open("a-clean-advanced")
    page.type("a-clean-duplicate-difference", "1000")  # every face after a clip's first is near-identical
    page.click("a-clean-check")
    check = page.wait_job("a-clean-status", timeout=120)
    assert "near-identical frames" in page.wait_text("a-clean-msg", "would set aside", timeout=20)
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#a-coverage img"), 20, "the coverage sheet")
    assert len(FaceSet.open(root)) == n_faces  # a check moves nothing
    page.check_page()
    page.screenshot("1-person-a-clean-check")
    page.click("a-clean-apply")
    page.wait_job("a-clean-status", after=check, timeout=120)
    page.wait_text("a-clean-msg", "Nothing was deleted", timeout=20)
    moved = ctx.queue.latest("curate").result["set_aside"]["near_duplicate"]
    page.wait(lambda: gallery() == n_faces - moved == len(FaceSet.open(root)), 20, "the gallery to follow")
    page.choose("a-clean-back", f"{moved} near-identical frames")
    page.click("a-clean-back-btn")
    page.wait_text("a-clean-msg", f"put back {moved} face(s)", timeout=20)
    page.wait(lambda: gallery() == n_faces == len(FaceSet.open(root)), 20, "the faces back in the gallery")
    page.check_page()
    page.open("a-clean")  # fold it again


def test_a_new_user_reaches_a_verified_swap_in_the_browser(browser, ui, clips):
    url, ctx = ui
    page = browser
    page.d.get(url)
    page.wait(lambda: page.css("#a-upload"), 60, "the app to load")
    page.check_page()
    page.screenshot("0-start")

    # 1 · Person A: one face set, named after the person, holding only their clip
    job_a = _person(page, "a", "alice", clips[0])
    page.screenshot("1-person-a")
    from masquerade.faceset import FaceSet

    first = FaceSet.open(ctx.ws.root / "facesets" / "alice").records[0]["file"]  # the gallery shows records in order
    page.d.find_elements(page.By.CSS_SELECTOR, "#a-gallery img")[0].click()
    page.wait_text("a-drop", f"frame 0 · {clips[0].name}", timeout=20)  # chosen faces are named by clip and frame
    page.click("a-drop-btn")
    page.wait_text("a-msg", "dropped 1 face(s) of alice; 11 left", timeout=20)
    alice = FaceSet.open(ctx.ws.root / "facesets" / "alice")
    assert len(alice) == 11 and first not in {r["file"] for r in alice.records}
    assert not (alice.root / "faces" / first).exists()
    assert list((ctx.ws.root / ".shown").rglob("*.png"))  # faces are shown from published copies
    _clean_up(page, ctx, alice.root)
    page.click("a-next")

    # 2 · Person B: the "next" button opened it; its upload goes to bob alone
    page.wait(lambda: page.visible("b-upload"), 20, "person B's step")
    _person(page, "b", "bob", clips[1], after=job_a)
    page.screenshot("2-person-b")
    assert sorted(ctx.ws.facesets()) == ["alice", "bob"]
    assert [len(FaceSet.open(ctx.ws.root / "facesets" / n)) for n in ("alice", "bob")] == [11, 12]
    page.click("b-next")

    # 3 · Train: A and B are filled in from the earlier steps; lite, 4 steps, previews every 2
    page.wait(lambda: page.visible("train-start"), 20, "the train step")
    page.wait(lambda: page.value("train-a") == "alice" and page.value("train-b") == "bob", 20, "A and B picked")
    assert not page.visible("train-plot") and not page.visible("train-stop")  # no empty chart, no Stop yet
    page.check_page()
    page.type("train-model", "m1", enter=True)
    page.type("train-steps", "4")
    page.type("train-preview-every", "2")
    page.open("train-advanced")
    page.type("train-batch-size", "4")
    page.open("train-advanced")  # fold it again
    page.click("train-start")
    page.wait_job("train-status", timeout=180)
    page.wait_text("train-msg", "m1 has trained 4 steps", timeout=20)
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#train-preview img"), 30, "the preview grid")
    heads = page.text("train-preview")
    assert all(h in heads for h in ("alice redrawn", "alice as bob", "bob as alice"))  # columns named on the image
    page.wait(lambda: page.visible("train-plot"), 30, "the loss chart")
    assert "Training step" in page.text("train-plot")
    assert not page.visible("train-stop")
    page.check_page()
    page.screenshot("3-train")
    assert (ctx.ws.root / "models" / "m1" / "metrics.jsonl").is_file()

    # A reload is a new browser session: the finished training is still shown
    page.d.refresh()
    page.wait(lambda: page.css("#a-upload"), 60, "the app to reload")
    page.tab("3 · Train")
    page.wait(lambda: page.job_status("train-status")[1] == "done", 30, "the train job after a reload")
    page.wait(lambda: page.visible("train-next"), 20, "the next-step button after a reload")
    page.wait(lambda: page.value("train-model") == "m1", 20, "the model picked again after a reload")

    # The face sharpener (the upscaler) trains from the page too, on person B's faces: 2 steps of 2 faces
    page.open("sharpen")
    page.type("sharpen-minutes", "")
    page.type("sharpen-steps", "2")
    page.open("sharpen-advanced")
    page.type("sharpen-batch-size", "2")
    page.click("sharpen-start")
    page.wait_job("sharpen-status", timeout=180)
    page.wait_text("sharpen-msg", "the face sharpener of m1 is ready", timeout=20)
    assert ctx.queue.latest("sharpen").params["faceset"] == "bob"
    assert list((ctx.ws.root / "models" / "m1" / "upscalers").glob("*.json"))
    page.check_page()
    page.screenshot("3-train-sharpener")
    page.click("train-next")

    # 4 · Swap: model and person A's clip already picked; preview the moment at 0.5 s, then swap the clip
    page.wait(lambda: page.visible("convert-render"), 20, "the swap step")
    page.wait(lambda: page.value("convert-model") == "m1" and page.value("convert-media") == clips[0].name, 20,
              "the model and the clip picked")
    page.type("convert-at", "0.5")
    page.click("convert-preview-btn")
    first_job = page.wait_job("convert-status", timeout=120)
    page.wait(lambda: page.d.find_elements(page.By.CSS_SELECTOR, "#convert-preview img"), 30, "the preview")
    preview_job = ctx.queue.get(first_job)
    assert preview_job.params["settings"]["start"] == 0.5 and preview_job.params["preview"] == 1
    page.click("convert-render")
    page.wait_job("convert-status", after=first_job, timeout=180)
    playable = "const v = document.querySelector('#convert-video video'); return v && v.readyState >= 1 && v.videoWidth;"
    assert page.wait(lambda: page.d.execute_script(playable), 30, "the result video to load in the player") == 256
    page.wait_text("convert-msg", "face(s) swapped in 12 frame(s)", timeout=20)
    assert not page.visible("convert-stop")
    page.check_page()
    page.screenshot("4-swap")

    from masquerade.provenance import verify

    outputs = sorted((ctx.ws.root / "outputs").glob("*.mp4"))
    assert len(outputs) == 1
    assert verify(outputs[0]).status == "synthetic"

    # 5 · Verify: the result is already picked; a short verdict table, details folded
    page.wait(lambda: page.visible("convert-next"), 20, "the next-step button")
    page.click("convert-next")
    page.wait(lambda: page.visible("verify-go"), 20, "the verify step")
    page.wait(lambda: page.value("verify-pick") == outputs[0].name, 20, "the result picked")
    page.click("verify-go")
    text = page.wait_text("verify-verdict", "SYNTHETIC", timeout=90)
    assert "made by Masquerade" in text and "Model" in text
    model_hash = verify(outputs[0]).model_hash
    assert model_hash[:12] in text and model_hash not in text  # a short hash, the full one only in the details
    assert not page.visible("verify-details")  # folded
    page.check_page()
    page.screenshot("5-verify")
    page.upload("verify-file", clips[0])  # a real (unswapped) clip carries no marks
    page.wait_text("verify-verdict", "NO MARKS", timeout=60)
    page.screenshot("5-verify-original")

    page.tab("Jobs")
    ids = [j.id for j in ctx.queue.list()]
    page.wait(lambda: all(i in page.text("jobs-table") for i in ids), 20, "every job in the jobs table")
    page.wait(lambda: page.value("jobs-log").startswith("Swap astronaut.mp4 with m1"), 20, "the newest job's log")
    assert not page.visible("jobs-stop")  # nothing runs: no Stop
    page.check_page()
    page.screenshot("6-jobs")
    assert [j.status for j in ctx.queue.list()] == ["done"] * 8  # 2 finding faces, 2 clean-ups, 2 trainings, 2 swaps
