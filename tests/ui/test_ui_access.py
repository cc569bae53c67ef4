"""Who may use the UI and what it serves: logins from the environment or a private file (never argv), a
per-client brake on failed logins, only published files served, uploads deleted once imported, and every
refusal to start made before anything is created or printed."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from masquerade.ui.access import AuthError, FailedLogins, load_credentials
from masquerade.ui.server import MissingExtra, serve
from masquerade.ui.workspace import PathRefused, Workspace, discard_upload


def _png(path: Path) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((32, 48, 3), 128, np.uint8))
    return path


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


# -- credentials ----------------------------------------------------------------------------------------
def test_logins_from_the_environment_or_a_private_file(tmp_path):
    assert load_credentials(None, {}) is None
    assert load_credentials(None, {"MASQUERADE_UI_AUTH": "ann:s3:cret"}) == [("ann", "s3:cret")]
    f = _private(tmp_path / "auth", "# who may log in\nann:one\n\nbob:two\n")
    assert load_credentials(f, {"MASQUERADE_UI_AUTH": "eve:x"}) == [("ann", "one"), ("bob", "two")]  # file wins


@pytest.mark.parametrize("text, match", [("nocolon", "user:password"), (":pw", "user:password"),
                                         ("user:", "user:password"), ("# only a comment\n", "no user:password")])
def test_malformed_logins_are_refused(tmp_path, text, match):
    with pytest.raises(AuthError, match=match):
        load_credentials(_private(tmp_path / "auth", text), {})
    with pytest.raises(AuthError, match=match):
        load_credentials(None, {"MASQUERADE_UI_AUTH": text})


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_login_file_others_can_read_is_refused(tmp_path):
    f = _private(tmp_path / "auth", "ann:one\n")
    f.chmod(0o644)
    with pytest.raises(AuthError, match="chmod 600"):
        load_credentials(f, {})
    with pytest.raises(AuthError, match="no such file"):
        load_credentials(tmp_path / "missing", {})


def test_failed_logins_back_off_per_client():
    now = [100.0]
    brake = FailedLogins(free=3, max_wait=10, clock=lambda: now[0])
    for _ in range(3):
        assert brake.wait("1.2.3.4") == 0
        brake.failed("1.2.3.4")
    assert brake.wait("1.2.3.4") == 1.0 and brake.wait("5.6.7.8") == 0  # other clients are not slowed
    brake.failed("1.2.3.4")
    assert brake.wait("1.2.3.4") == 2.0
    for _ in range(10):
        brake.failed("1.2.3.4")
    assert brake.wait("1.2.3.4") == 10  # capped
    now[0] += 10
    assert brake.wait("1.2.3.4") == 0
    brake.succeeded("1.2.3.4")
    brake.failed("1.2.3.4")
    assert brake.wait("1.2.3.4") == 0  # a success starts the count again


# -- refusing to start ------------------------------------------------------------------------------------
def test_serve_refusals_come_before_anything_is_created_or_printed(tmp_path, monkeypatch):
    said = []
    monkeypatch.delenv("MASQUERADE_UI_AUTH", raising=False)
    world = _private(tmp_path / "auth", "ann:one\n")
    world.chmod(0o644)
    with pytest.raises(AuthError):
        serve(host="127.0.0.1", auth_file=world, workspace=tmp_path / "ws", announce=said.append)
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the ui extra were not installed
    with pytest.raises(MissingExtra, match=r"pip install 'masquerade\[ui\]'"):
        serve(host="127.0.0.1", workspace=tmp_path / "ws", announce=said.append)
    assert not said and not (tmp_path / "ws").exists()


# -- what is published and what is deleted ------------------------------------------------------------------
def test_publish_only_shows_images_and_videos_inside_the_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    thumb = _png(ws.area("facesets") / "alice" / "faces" / "0.png")
    shown = ws.publish(thumb)
    assert shown.is_relative_to(ws.root / ".shown") and shown.read_bytes() == thumb.read_bytes()
    assert ws.publish(thumb) == shown  # the same file is published once
    weights = ws.area("models") / "m" / "model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"\0" * 64)
    (ws.area("models") / "m" / "model.json").write_text("{}")
    hidden = _png(ws.area("outputs") / ".partial.png")
    for refused in (weights, weights.parent / "model.json", weights.parent, hidden, _png(tmp_path / "outside.png")):
        with pytest.raises(PathRefused):
            ws.publish(refused)
    ws.clear_shown()
    assert not (ws.root / ".shown").exists() and thumb.is_file()


def test_uploads_are_deleted_once_imported_or_refused(tmp_path):
    ws = Workspace(tmp_path / "ws", max_upload_bytes=10_000_000)
    up = tmp_path / "gradio-uploads"
    good = _png(up / "h1" / "face.png")
    bad = up / "h2" / "notes.png"
    bad.parent.mkdir()
    bad.write_bytes(b"<script>" * 20)
    added, problems = ws.import_uploads([str(good), str(bad)], up)
    assert added == ["face.png"] and len(problems) == 1 and "not readable media" in problems[0]
    assert (ws.area("uploads") / "face.png").is_file()
    assert list(up.rglob("*")) == []  # both server copies gone, and their folders
    outside = _png(tmp_path / "mine.png")
    discard_upload(outside, up)  # never deletes anything outside the upload folder
    assert outside.is_file()


# -- a served app ---------------------------------------------------------------------------------------------
def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture
def served(tmp_path):
    """Factory: launch the app over a workspace (optionally with logins); closed after the test."""
    pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")
    from masquerade.ui import build_app
    from masquerade.ui.server import launch

    apps = []

    def start(ws_root: Path, **kw):
        app = build_app(ws_root, devices=["cpu"], start_workers=False)
        port = _port()
        launch(app, "127.0.0.1", port, block=False, **kw)
        apps.append(app)
        return app, f"http://127.0.0.1:{port}"

    yield start
    for app in apps:
        app.close()
        app.masquerade.close()


def test_server_never_serves_weights_raw_face_sets_uploads_or_jobs(tmp_path, served):
    root = tmp_path / "ws"
    ws = Workspace(root)
    face = _png(ws.area("facesets") / "alice" / "faces" / "0.png")
    (ws.area("facesets") / "alice" / "faceset.json").write_text("{}")
    weights = ws.area("models") / "m" / "model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"\0" * 64)
    preview = _png(ws.area("models") / "m" / "previews" / "step_00000002.png")
    output = _png(ws.area("outputs") / "clip__m.png")
    upload = _png(ws.area("uploads") / "clip.png")
    (ws.area("jobs") / "00001-abc.json").write_text(json.dumps({"id": "00001-abc"}))
    app, url = served(root)
    shown = [app.masquerade.ws.publish(p) for p in (face, preview, output)]

    def status(path: Path) -> int:
        return _get(f"{url}/gradio_api/file=" + urllib.parse.quote(str(path)))

    assert [status(p) for p in shown] == [200, 200, 200]
    refused = [weights, weights.parent / "nothing.json", face, face.parent.parent / "faceset.json", preview, output,
               upload, ws.area("jobs") / "00001-abc.json"]
    assert {str(p): status(p) for p in refused} == {str(p): 403 for p in refused}


def test_failed_logins_are_slowed_down(tmp_path, served):
    brake = FailedLogins(free=2, max_wait=60, clock=lambda: 0.0)  # time stands still: the wait never runs out
    _, url = served(tmp_path / "ws", logins=[("ann", "s3cret")], failed_logins=brake)

    def login(password: str) -> int:
        data = urllib.parse.urlencode({"username": "ann", "password": password}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{url}/login", data=data), timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert _get(f"{url}/gradio_api/file=x") == 401  # nothing without a login
    assert login("s3cret") == 200
    assert [login("guess1"), login("guess2")] == [400, 400]
    assert login("s3cret") == 429  # even the right password waits out the back-off
    assert brake.wait("127.0.0.1") > 0


def test_pages_delete_uploads_and_show_faces_through_published_copies(tmp_path, served, faceset_a):
    """Through the running app's own API (what the browser calls): an upload is imported and the server's
    copy deleted, a refused one deleted too, and the face gallery is served from published copies."""
    import shutil

    from gradio_client import Client, handle_file

    from masquerade.ui.context import upload_dir

    root = tmp_path / "ws"
    shutil.copytree(faceset_a, Workspace(root).area("facesets") / "alice")
    app, url = served(root)
    client = Client(url + "/", verbose=False, download_files=str(tmp_path / "client"))
    good, bad = _png(tmp_path / "up" / "face_upload.png"), tmp_path / "up" / "fake_upload.png"
    bad.write_bytes(b"<script>" * 20)
    media, _, msg = client.predict([handle_file(str(good)), handle_file(str(bad))], [], api_name="/on_upload")
    assert media["value"] == ["face_upload.png"] and "fake_upload.png: not readable media" in msg  # person A's clips
    assert (root / "uploads" / "face_upload.png").is_file()
    assert [p.name for p in Path(upload_dir()).rglob("*_upload.png")] == []  # neither stays on the server

    from masquerade.faceset import FaceSet

    gallery, _ = client.predict("alice", api_name="/show_faces")  # (the State output stays server-side)
    records = FaceSet.open(root / "facesets" / "alice").records
    names = [r["file"] for r in records]
    assert len(gallery) == len(names) > 0
    assert [item["caption"] for item in gallery] == [  # captioned by clip and frame, not by file hash
        f"frame {r['frame_index']} · {Path(r['source']).name}" for r in records]
    shown = list((root / ".shown").rglob("*.png"))
    assert sorted(p.name for p in shown) == sorted(names)
    assert all(Path(item["image"]).read_bytes() == (root / "facesets" / "alice" / "faces" / n).read_bytes()
               for item, n in zip(gallery, names))
