"""`faceset.json` has one reader and one writer (`FaceSetManifest`): every version written so far loads, a
rewrite loses nothing, and a face set's crop size is never guessed."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from masquerade.errors import FaceSetError
from masquerade.faceset import FaceSet, FaceSetManifest

SOURCE_V1 = {"path": "/clips/a.mp4", "next_frame": 24, "done": True, "frames_read": 24, "faces": 24}
SOURCE_V2 = {"id": "0123456789abcdef", "path": "/clips/a.mp4", "kind": "video", "next_frame": 24, "done": True,
             "frames_read": 24, "faces": 24}
SETTINGS = {"template": "mediapipe-v2", "size": 128, "coverage": "face", "detector": "mediapipe"}


def _schema(version: int, source: dict) -> dict:
    """A manifest as extract wrote it in that version (key order included)."""
    return {"schema_version": version, "kind": "masquerade.faceset", **SETTINGS, "id": "feedc0de12345678",
            "count": 24, "complete": True, "sources": [source]}


def test_a_current_manifest_round_trips_byte_for_byte(faceset_a, tmp_path):
    written = (faceset_a / "faceset.json").read_bytes()
    m = FaceSetManifest.read(faceset_a)
    assert m == FaceSet.open(faceset_a).manifest and m.size == FaceSet.open(faceset_a).size == 128
    assert m.schema_version == 2 and m.complete and m.count == 24 and len(m.id) == 16
    m.write(tmp_path)
    assert (tmp_path / "faceset.json").read_bytes() == written  # the one writer writes what extract wrote


@pytest.mark.parametrize("version, source", [(1, SOURCE_V1), (2, SOURCE_V2)])
def test_every_schema_written_so_far_loads(version, source):
    data = _schema(version, source)
    m = FaceSetManifest.from_dict(data)
    assert (m.schema_version, m.size, m.template, m.coverage, m.detector) == (version, 128, "mediapipe-v2", "face",
                                                                              "mediapipe")
    assert m.sources == (source,) and m.count == 24 and m.complete and m.id == "feedc0de12345678"
    assert m.to_dict() == data and list(m.to_dict()) == list(data)


def test_fields_an_early_or_killed_set_lacks_read_as_their_defaults():
    m = FaceSetManifest.from_dict({"schema_version": 1, **SETTINGS, "sources": []})
    assert (m.kind, m.id, m.count, m.complete) == ("masquerade.faceset", "", 0, False)


def test_keys_of_a_newer_masquerade_are_kept_when_the_set_is_rewritten():
    data = {**_schema(2, SOURCE_V2), "notes": {"by": "a later version"}}
    m = FaceSetManifest.from_dict(data)
    assert m.extra == {"notes": {"by": "a later version"}}
    assert m.updated(count=25).to_dict() == {**data, "count": 25}


@pytest.mark.parametrize("size", [None, "128", 128.0, True])
def test_a_missing_or_malformed_size_is_damage_not_a_default(size):
    data = _schema(2, SOURCE_V2)
    if size is None:
        del data["size"]
    else:
        data["size"] = size
    with pytest.raises(FaceSetError, match="faceset.json is damaged .'size' is missing or not an int"):
        FaceSetManifest.from_dict(data)


def test_a_face_set_without_a_size_is_refused_by_every_reader(faceset_a, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(faceset_a, out)
    data = json.loads((out / "faceset.json").read_text())
    del data["size"]
    (out / "faceset.json").write_text(json.dumps(data))
    with pytest.raises(FaceSetError, match="'size' is missing"):
        FaceSet.open(out)

    class Subset:  # what training and bench hand around: an object with the set's manifest by name
        manifest = data

    with pytest.raises(FaceSetError, match="'size' is missing"):
        FaceSetManifest.of(Subset())


def test_the_record_is_frozen_and_reads_by_name_too():
    m = FaceSetManifest.from_dict(_schema(2, SOURCE_V2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.size = 64  # type: ignore[misc]
    assert m["size"] == m.get("size") == 128 and dict(m) == m.to_dict() and "sources" in m
    assert FaceSetManifest.of(type("Edited", (), {"manifest": {**m, "size": 48}})()).size == 48
    assert m.settings() == SETTINGS
