"""Convert never touches what is not its own: overlap with the input, foreign files, folders, bad numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from masquerade.cli import main
from masquerade.convert import ConvertConfig, convert
from masquerade.errors import MasqueradeError, OutputError
from masquerade.media import write_image
from masquerade.samples import portrait
from stubs import PerfectModel


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "a.png", portrait("astronaut"))
    write_image(folder / "sky.png", np.full((64, 96, 3), (90, 140, 220), np.uint8))
    return folder


def test_output_overlapping_the_input_is_refused_and_nothing_changes(photos, tmp_path):
    (tmp_path / "link.png").symlink_to(photos / "a.png")
    before = _tree(tmp_path)
    for out, words in ((photos, "same path"), (photos / "out", "inside the input"), (tmp_path, "contain the input")):
        with pytest.raises(OutputError, match=words):
            convert(photos, PerfectModel(), out)
    with pytest.raises(OutputError, match="same path"):  # a link to the input is the input
        convert(photos / "a.png", PerfectModel(), tmp_path / "link.png")
    assert _tree(tmp_path) == before


def test_an_existing_file_is_replaced_only_when_masquerade_made_it(photos, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"my holiday picture")
    with pytest.raises(OutputError, match="not written by Masquerade"):
        convert(photos / "a.png", PerfectModel(), out)
    assert out.read_bytes() == b"my holiday picture"
    out.unlink()
    convert(photos / "a.png", PerfectModel(), out)
    first = out.read_bytes()
    convert(photos / "a.png", PerfectModel(), out)  # our own earlier output: replaced
    assert out.read_bytes()[:8] == first[:8] == b"\x89PNG\r\n\x1a\n"


def test_folder_output_adds_beside_what_is_there_and_never_deletes(photos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "b.png").write_bytes(b"someone else's picture")
    convert(photos, PerfectModel(), out, ConvertConfig(color="none"))
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "b.png").read_bytes() == b"someone else's picture"
    assert (out / "sky.png").read_bytes() == (photos / "sky.png").read_bytes() and (out / "a.png").is_file()
    convert(photos, PerfectModel(), out, ConvertConfig(color="none"))  # a re-run replaces only its own files
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "notes.txt", "sky.png"]

    (out / "a.png").write_bytes(b"a file the user put there")
    before = _tree(tmp_path)
    with pytest.raises(OutputError, match="not written by Masquerade"):
        convert(photos, PerfectModel(), out)
    assert _tree(tmp_path) == before  # refused before any work: nothing written, nothing removed


def test_cli_output_dot_is_one_line(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(photos)
    code = main(["convert", "a.png", "-m", str(tmp_path / "model"), "-o", "."])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("batch_size", -1), ("crf", 52), ("crf", -1),
                                          ("preview", -2), ("erode", math.nan), ("blur", -1.0), ("sharpen", math.inf),
                                          ("smooth_min_cutoff", 0.0), ("max_faces", 0), ("detector", "nope"),
                                          ("color", "sepia"), ("face", "tallest")])
def test_config_refuses_nonsense(field, value):
    with pytest.raises(MasqueradeError):
        ConvertConfig(**{field: value}).validate()
    ConvertConfig().validate()  # the defaults are fine
