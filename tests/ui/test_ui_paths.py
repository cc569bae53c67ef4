"""The workspace gate: browser-sent paths cannot leave the workspace; uploads are size- and content-checked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from masquerade.ui.server import BindRefused, check_bind, check_port
from masquerade.ui.workspace import PathRefused, UploadRefused, Workspace, check_name


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws", max_upload_bytes=10_000_000)


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "..", "a/..", "/etc/passwd", "~/x", "", "a\x00b", "..\\x"])
def test_resolve_refuses_escapes(ws, bad):
    with pytest.raises(PathRefused):
        ws.resolve(bad, "uploads")


def test_resolve_accepts_inside(ws):
    assert ws.resolve("clip.mp4", "uploads") == ws.root / "uploads" / "clip.mp4"
    assert ws.resolve("outputs/x.png") == ws.root / "outputs" / "x.png"


def test_symlinks_out_of_the_workspace_are_refused(ws, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key.mp4").write_bytes(b"x")
    (ws.area("uploads") / "link.mp4").symlink_to(outside / "key.mp4")
    (ws.area("facesets") / "linkdir").symlink_to(outside, target_is_directory=True)
    for rel, area in [("link.mp4", "uploads"), ("linkdir", "facesets"), ("linkdir/key.mp4", "facesets")]:
        with pytest.raises(PathRefused, match="outside"):
            ws.resolve(rel, area)
    assert "link.mp4" not in ws.media()
    # a link that stays inside the area is fine
    (ws.area("uploads") / "real.mp4").write_bytes(b"x")
    (ws.area("uploads") / "alias.mp4").symlink_to(ws.area("uploads") / "real.mp4")
    assert ws.resolve("alias.mp4", "uploads") == ws.area("uploads") / "real.mp4"
    # ... but not one from one area into another (e.g. a model folder link into uploads)
    with pytest.raises(PathRefused):
        ws.resolve("../uploads/real.mp4", "models")


@pytest.mark.parametrize("bad", ["", ".hidden", "a/b", "..", "a b", "x" * 65, "-rf", "ü"])
def test_names_are_plain(bad):
    with pytest.raises(PathRefused):
        check_name(bad)


def test_names_ok():
    assert check_name(" alice_2.v1 ") == "alice_2.v1"


def _png(path: Path) -> Path:
    import cv2

    cv2.imwrite(str(path), np.full((32, 48, 3), 128, np.uint8))
    return path


def test_upload_type_checked_by_content(ws, tmp_path):
    fake = tmp_path / "evil.png"
    fake.write_bytes(b"<script>alert(1)</script>" * 10)
    with pytest.raises(UploadRefused, match="not readable media"):
        ws.ingest(fake)
    fake_video = tmp_path / "evil.mp4"
    fake_video.write_bytes(b"MZ" + os.urandom(2000))
    with pytest.raises(UploadRefused, match="not readable media"):
        ws.ingest(fake_video)
    script = tmp_path / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(UploadRefused, match="not a video or image type"):
        ws.ingest(script)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(UploadRefused, match="empty"):
        ws.ingest(empty)
    assert ws.media() == []


def test_upload_size_limit(tmp_path):
    small = Workspace(tmp_path / "ws", max_upload_bytes=100)
    img = _png(tmp_path / "big.png")
    assert img.stat().st_size > 100
    with pytest.raises(UploadRefused, match="over the upload limit"):
        small.ingest(img)


def test_upload_ingested_under_safe_unique_name(ws, tmp_path):
    img = _png(tmp_path / "My Photo (1).PNG")
    first, second = ws.ingest(img), ws.ingest(img)
    assert first == "My_Photo__1_.png" and second != first and second.endswith(".png")
    assert sorted(ws.media()) == sorted([first, second])
    link = tmp_path / "link.png"
    link.symlink_to(img)
    with pytest.raises(UploadRefused, match="regular file"):
        ws.ingest(link)


def test_bind_needs_a_login_off_loopback():
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, None)  # no error
    check_bind("0.0.0.0", [("ann", "s3cret")])
    for host in ("0.0.0.0", "192.168.1.4", "my-host.example"):
        with pytest.raises(BindRefused, match="MASQUERADE_UI_AUTH"):
            check_bind(host, None)


def test_a_bad_or_taken_port_is_one_line_before_anything_is_made(tmp_path, monkeypatch):
    import socket

    from masquerade.ui.server import serve

    for port in (0, 99999, -1):
        with pytest.raises(BindRefused, match="from 1 to 65535"):
            check_port("127.0.0.1", port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(BindRefused, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            check_port("127.0.0.1", port)
        monkeypatch.delenv("MASQUERADE_UI_AUTH", raising=False)
        with pytest.raises(BindRefused):
            serve(port=port, workspace=tmp_path / "ws")
    assert not (tmp_path / "ws").exists()  # refused before the workspace folder was created
    check_port("127.0.0.1", port)  # free again
