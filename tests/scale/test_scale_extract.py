"""ray_extract on a local 2-CPU Ray: the same face set as `extract`, a resume that keeps finished files, and a
face set that only grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masquerade.extract import ExtractConfig, extract
from masquerade.faceset import FaceSetManifest
from masquerade.media import write_image
from masquerade.samples import make_clip, write_clip
from masquerade.scale import ray_extract

CONFIG = ExtractConfig(size=64)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """Two short clips and a folder with a face and a faceless image, in an order that is not sorted."""
    root = tmp_path_factory.mktemp("inputs")
    b = write_clip(root / "b.mp4", make_clip("grace_hopper", frames=8, seed=2))
    a = write_clip(root / "a.mp4", make_clip("astronaut", frames=8, seed=1))
    stills = root / "stills"
    stills.mkdir()
    write_image(stills / "face.png", make_clip("astronaut", frames=2, seed=5).frames[0])
    write_image(stills / "sky.png", make_clip("astronaut", frames=2, seed=5).frames[0][:40, :40])
    return [b, stills, a]


def _snapshot(root: Path) -> tuple[FaceSetManifest, list, dict]:
    manifest = FaceSetManifest.read(root)
    records = json.loads((root / "alignments.json").read_text())["faces"]
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}
    return manifest, records, files


@pytest.mark.slow
def test_ray_extract_equals_extract(ray_local, inputs, tmp_path):
    single = extract(inputs, tmp_path / "single", CONFIG)
    summary = ray_extract(inputs, tmp_path / "ray", CONFIG)
    assert summary.to_dict() | {"output": "", "seconds": 0} == single.to_dict() | {"output": "", "seconds": 0}
    m1, r1, f1 = _snapshot(tmp_path / "single")
    m2, r2, f2 = _snapshot(tmp_path / "ray")
    assert m1 == m2  # same sources, same counts, same content id
    assert r1 == r2  # same records, same order, same file names (named by content, not by task)
    assert f1 == f2  # same crops and masks, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ray", "single"]  # work folder removed


class Interrupted(Exception):
    pass


@pytest.mark.slow
def test_interrupted_extract_resumes_finished_files(ray_local, inputs, tmp_path):
    def stop(task, done, total, stats):
        raise Interrupted

    with pytest.raises(Interrupted):
        ray_extract(inputs, tmp_path / "fs", CONFIG, progress=stop)
    assert not (tmp_path / "fs" / "faceset.json").exists()  # nothing merged, nothing claims to be complete
    ledger = json.loads((tmp_path / ".fs.ray" / "ledger.json").read_text())
    done = [i for i, item in enumerate(ledger["items"].values()) if item["done"]]
    assert len(done) == 1
    calls = []
    ray_extract(inputs, tmp_path / "fs", CONFIG, progress=lambda *a: calls.append(a))
    assert len(calls) == 2  # only the two unfinished files ran
    extract(inputs, tmp_path / "single", CONFIG)
    (m1, r1, f1), (m2, r2, f2) = _snapshot(tmp_path / "fs"), _snapshot(tmp_path / "single")
    # Nothing lost or doubled: the same faces and resume points (a task cut short resumes mid-clip, where the
    # detector's tracking starts afresh, so landmarks may differ in the last digits; names and counts cannot).
    assert [r["file"] for r in r1] == [r["file"] for r in r2] and f1.keys() == f2.keys()
    assert m1.sources == m2.sources and m1.count == m2.count
    assert FaceSetManifest.read(tmp_path / "fs").complete is True


@pytest.mark.slow
def test_ray_extract_grows_a_face_set(ray_local, inputs, tmp_path):
    extract(inputs[:1], tmp_path / "fs", CONFIG)
    _, _, first = _snapshot(tmp_path / "fs")
    summary = ray_extract(list(reversed(inputs)), tmp_path / "fs", CONFIG)
    assert summary.frames_read == 8 + 2  # only the new inputs were read
    manifest, records, files = _snapshot(tmp_path / "fs")
    assert first.items() <= files.items()  # the first run's faces are untouched
    extract(inputs, tmp_path / "single", CONFIG)
    assert (manifest, records, files) == _snapshot(tmp_path / "single")
