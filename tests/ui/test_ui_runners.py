"""The UI's job runners call the real stages (no browser): extract, train + stop + resume, convert preview,
and dropping faces from a face set. Tiny on purpose; the browser test covers the same path end to end."""

from __future__ import annotations

import shutil
import time

import pytest

from masquerade.faceset import FaceSet
from masquerade.ui.faces import face_files, remove_faces
from masquerade.ui.jobs import DONE, RUNNING, STOPPED, JobQueue
from masquerade.ui.runners import make_runners, worker_for
from masquerade.ui.workspace import PathRefused, Workspace

TINY = {"e_dims": 8, "ae_dims": 32, "d_dims": 8}


def wait(q: JobQueue, job_id: str, *statuses: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = q.get(job_id)
        if job.status in statuses:
            return job
        if job.status == "failed":
            raise AssertionError(f"job failed: {job.error}\n" + "\n".join(job.log))
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stayed {q.get(job_id).status}")


@pytest.fixture
def ws(tmp_path, faceset_a, faceset_b, clip_a) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(faceset_a, ws.area("facesets") / "alice")
    shutil.copytree(faceset_b, ws.area("facesets") / "bob")
    shutil.copy(clip_a[0], ws.area("uploads") / "clip.mp4")
    return ws


def test_remove_faces(ws):
    root = ws.area("facesets") / "alice"
    before = FaceSet.open(root)
    first, second = before.records[0]["file"], before.records[1]["file"]
    assert remove_faces(root, [first, second, "not-there.png"]) == 2
    after = FaceSet.open(root)
    assert len(after) == len(before) - 2 and after.manifest["id"] != before.manifest["id"]
    assert not (root / "faces" / first).exists() and not (root / "masks" / second).exists()
    assert (root / "set_aside" / "removed" / "faces" / first).is_file()  # set aside, never deleted
    assert [n for _, n, _ in face_files(root)] == [r["file"] for r in after.records]
    assert remove_faces(root, [first]) == 0  # already gone: nothing happens
    with pytest.raises(PathRefused):
        remove_faces(root, ["../faceset.json"])
    with pytest.raises(PathRefused, match="every face"):
        remove_faces(root, [r["file"] for r in after.records])
    assert len(FaceSet.open(root)) == len(after)


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_removing_faces_goes_through_the_face_sets_locked_writer(ws, monkeypatch):
    root = ws.area("facesets") / "alice"
    names = [r["file"] for r in FaceSet.open(root).records[:2]]
    calls = []
    real = FaceSet.set_aside

    def spy(self, files, reason, why=None):
        calls.append((self._writer, sorted(files), reason))
        return real(self, files, reason, why)

    monkeypatch.setattr(FaceSet, "set_aside", spy)
    assert remove_faces(root, names) == 2
    assert calls == [(True, sorted(names), "removed")]  # one call, made holding the writer lock
    fs = FaceSet.open(root)
    with pytest.raises(AttributeError):
        fs.records = []  # no way around the locked methods: records cannot be assigned ...
    with pytest.raises(RuntimeError, match="opened for reading"):
        fs.checkpoint(complete=True)  # ... nor a set opened for reading written


def test_removing_faces_while_another_process_writes_the_set_is_refused_and_changes_nothing(ws):
    import subprocess
    import sys

    from masquerade.errors import FaceSetError

    root = ws.area("facesets") / "alice"
    name = FaceSet.open(root).records[0]["file"]
    holder = subprocess.Popen([sys.executable, "-c", "import sys\nfrom masquerade.faceset import FaceSet\n"
                               "with FaceSet.edit(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()",
                               str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _tree(root)
        with pytest.raises(FaceSetError, match=rf"process {holder.pid} .*is writing to this face set.*wait for it"):
            remove_faces(root, [name])
        assert _tree(root) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert remove_faces(root, [name]) == 1  # released when the other writer ends


@pytest.mark.slow
def test_runners_train_stop_resume_and_preview(ws):
    from masquerade.provenance import verify

    q = JobQueue(ws.area("jobs"), make_runners(ws))
    try:
        base = {"a": "alice", "b": "bob", "model": "m", "arch": "lite", "model_options": TINY, "batch_size": 2,
                "lr": 1e-3, "preview_every": 2, "save_every": 2, "device": "cpu", "mask_minutes": 0.0}
        endless = q.submit("train", {**base, "steps": None})
        deadline = time.monotonic() + 60
        while q.get(endless.id).progress.get("done", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert q.get(endless.id).status == RUNNING
        q.stop(endless.id)
        stopped = wait(q, endless.id, STOPPED)
        assert stopped.result["stopped"] and stopped.result["step"] >= 2
        resumed = wait(q, q.submit("train", {**base, "steps": stopped.result["step"] + 2}).id, DONE)
        assert resumed.result["step"] == stopped.result["step"] + 2 and resumed.result["steps_run"] == 2
        assert (ws.root / resumed.result["last_preview"]).is_file()

        preview = wait(q, q.submit("convert", {"input": "clip.mp4", "model": "m", "preview": 1, "device": "cpu",
                                               "settings": {"color": "none", "rogue": 1}}).id, DONE)
        out = ws.resolve(preview.result["output"])
        assert out.is_relative_to(ws.area("outputs")) and out.suffix == ".png"
        assert verify(out).status == "synthetic"
        assert preview.result["output"] in ["outputs/" + o for o in ws.outputs()]

        escape = wait(q, q.submit("convert", {"input": "../jobs/x.mp4", "model": "m"}).id, "failed")
        assert "'..' is not accepted" in escape.error
    finally:
        q.close()


def test_worker_choice():
    assert worker_for("auto", ["cpu"]) == "cpu"
    assert worker_for("auto", ["cpu", "cuda:0"]) == "cuda:0"
    assert worker_for("cuda", ["cpu", "cuda:0", "cuda:1"]) == "cuda:0"
    assert worker_for("cuda:1", ["cpu", "cuda:0", "cuda:1"]) == "cuda:1"
    assert worker_for("mps", ["cpu"]) == "cpu"


def test_app_builds_and_serve_refuses_open_binding(tmp_path, monkeypatch):
    pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")
    from masquerade.ui import BindRefused, build_app, serve

    app = build_app(tmp_path / "ws", start_workers=False, devices=["cpu"])
    try:
        import gradio as gr

        ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
        tabs = sorted((b._id, b.elem_id) for b in app.blocks.values() if isinstance(b, gr.Tab))
        # the steps in the order of the work (issue 30), then the jobs list
        assert [t for _, t in tabs] == ["tab-person-a", "tab-person-b", "tab-train", "tab-swap", "tab-verify", "tab-jobs"]
        assert {"a-upload", "b-upload", "train-plot", "sharpen-start", "convert-video", "verify-verdict",
                "jobs-table"} <= ids
    finally:
        app.masquerade.close()
    built, said = [], []
    monkeypatch.setattr("masquerade.ui.app.build_app", lambda *a, **k: built.append(1))
    monkeypatch.delenv("MASQUERADE_UI_AUTH", raising=False)
    with pytest.raises(BindRefused, match="without a login"):
        serve(host="0.0.0.0", workspace=tmp_path / "ws2", announce=said.append)
    assert not built and not said and not (tmp_path / "ws2").exists()  # refused before anything was created
