"""The output-path rules every stage shares: overlap with inputs, existing files/folders, our leftovers."""

import os
import subprocess
import sys

import pytest

from masquerade import atomic, outputs
from masquerade.errors import OutputError


def test_overlap_refuses_same_inside_and_containing(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    (src / "a.png").write_bytes(b"x")
    for bad in (src, src / "out", tmp_path, tmp_path / ".."):
        with pytest.raises(OutputError):
            outputs.refuse_overlap(bad, [src])
    outputs.refuse_overlap(tmp_path / "swapped", [src])  # a sibling is fine


def test_overlap_follows_symlinks(tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"v")
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    with pytest.raises(OutputError, match="same path"):
        outputs.refuse_overlap(link, [src])


def test_claim_file_refuses_what_is_not_ours(tmp_path):
    mine, theirs = tmp_path / "mine.mp4", tmp_path / "theirs.mp4"
    mine.write_bytes(b"m")
    theirs.write_bytes(b"t")
    outputs.claim_file(tmp_path / "new.mp4")
    outputs.claim_file(mine, is_ours=lambda p: p == mine)
    with pytest.raises(OutputError, match="not written by Masquerade"):
        outputs.claim_file(theirs, is_ours=lambda p: p == mine)
    with pytest.raises(OutputError, match="folder"):
        outputs.claim_file(tmp_path)
    assert theirs.read_bytes() == b"t"


def test_claim_folder(tmp_path):
    outputs.claim_folder(tmp_path / "new", ["faceset.json"])
    empty = tmp_path / "empty"
    empty.mkdir()
    outputs.claim_folder(empty, ["faceset.json"])
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "faceset.json").write_text("{}")
    (ours / "x.png").write_bytes(b"")
    outputs.claim_folder(ours, ["faceset.json"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"j")
    with pytest.raises(OutputError, match="holds other files"):
        outputs.claim_folder(other, ["faceset.json"])
    afile = tmp_path / "f"
    afile.write_text("")
    with pytest.raises(OutputError, match="not a folder"):
        outputs.claim_folder(afile, ["faceset.json"])


def test_sweep_removes_only_dead_runs_partials(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    leftover = tmp_path / f".out.mp4{outputs.PARTIAL_TAG}{dead_pid}-0123abcd.mp4"
    leftover.write_bytes(b"x" * 100)
    leftover_dir = tmp_path / f".snap{outputs.PARTIAL_TAG}{dead_pid}-89abcdef"
    leftover_dir.mkdir()
    (leftover_dir / "w.safetensors").write_bytes(b"y" * 50)
    live = outputs.partial_path(tmp_path / "live.mp4")
    live.write_bytes(b"z")
    user_files = [tmp_path / ".out.mp4.partial", tmp_path / "notes.masq-partial-1-00000000.txt", tmp_path / "a.mp4"]
    for f in user_files:
        f.write_bytes(b"u")
    assert outputs.sweep_partials(tmp_path) == 150
    assert not leftover.exists() and not leftover_dir.exists()
    assert live.exists() and all(f.exists() for f in user_files)


def test_atomic_write_leaves_no_partial_on_error(tmp_path):
    target = tmp_path / "a.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            assert outputs.is_partial(tmp) and tmp.exists()
            raise RuntimeError("boom")
    assert atomic.read_json(target) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert oct(os.stat(target).st_mode & 0o777) == "0o600"
