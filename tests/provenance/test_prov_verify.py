"""verify(): the verdicts (synthetic / tampered / stripped / none / error), their lines and exit codes."""

import json

import cv2
import pytest
from prov_helpers import pan_clip

from masquerade import __version__
from masquerade.media import read_frames, write_video
from masquerade.provenance import Provenance, SyntheticVideoWriter, keys, verify, write_synthetic_image
from masquerade.provenance import attacks
from masquerade.provenance.manifest import read_manifest
from masquerade.provenance.verify import Verdict

HASH = "51a7e2c4b8d90f13"


@pytest.fixture
def swapped_jpg(tmp_path, photos):
    return write_synthetic_image(tmp_path / "swap.jpg", photos["grace_hopper"], Provenance(HASH))


def test_synthetic(swapped_jpg):
    v = verify(swapped_jpg)
    assert v.status == "synthetic" and v.marks_found and v.exit_code == 0
    assert v.summary.startswith(f"synthetic — made by Masquerade {__version__} with model {HASH}")
    assert v.signer_trusted and v.signer_is_masquerade_key
    assert v.watermark_found and v.watermark_model_hash == HASH[:4]
    assert "this user's key" in v.summary


def test_synthetic_from_another_installation_is_not_trusted(tmp_path, photos, monkeypatch):
    out = write_synthetic_image(tmp_path / "swap.png", photos["coffee"], Provenance(HASH))
    monkeypatch.setenv("MASQUERADE_HOME", str(tmp_path / "someone-else"))
    keys.load_default()
    v = verify(out)
    assert v.status == "synthetic" and v.signer_is_masquerade_key and not v.signer_trusted
    assert "not issued on this machine" in v.summary


def test_stripped_manifest_watermark_still_present(swapped_jpg, tmp_path):
    pixels = cv2.imread(str(swapped_jpg))
    stripped = tmp_path / "reupload.jpg"
    cv2.imwrite(str(stripped), pixels, [cv2.IMWRITE_JPEG_QUALITY, 60])  # re-encoding drops the manifest
    v = verify(stripped)
    assert v.status == "stripped" and not v.manifest_present and v.exit_code == 0
    original = read_manifest(swapped_jpg)
    assert v.watermark_mark_id == original.mark_id and v.stored_manifest["label"] == original.label
    assert v.summary.startswith(f"manifest stripped; watermark leads to manifest {original.label} for swap.jpg "
                                f"(model {HASH}), signed on ")
    assert v.model_hash == HASH  # the full hash, from the stored manifest


def test_a_file_marked_with_payload_version_2_still_leads_back_to_its_manifest(tmp_path, photos):
    """An output made before payload version 3 (its mark, soft binding and store entry all version 2) keeps
    working after the upgrade: stripped and re-encoded, it is read as version 2 and its manifest is found."""
    out = write_synthetic_image(tmp_path / "old.png", photos["coffee"], Provenance(HASH, mark_version=2))
    original = read_manifest(out)
    assert len(original.mark_id) == 18 and original.mark_id.startswith(HASH[:8] + "-")  # a version-2 mark id
    stripped = tmp_path / "reupload.jpg"
    cv2.imwrite(str(stripped), cv2.imread(str(out)), [cv2.IMWRITE_JPEG_QUALITY, 70])
    v = verify(stripped)
    assert v.status == "stripped" and v.watermark_mark_id == original.mark_id and v.watermark_model_hash == HASH[:8]
    assert v.stored_manifest["label"] == original.label and v.model_hash == HASH


def test_rescaled_reupload_leads_back_to_its_manifest(tmp_path, photos):
    out = write_synthetic_image(tmp_path / "swap.png", photos["astronaut"], Provenance(HASH))
    other = write_synthetic_image(tmp_path / "other.png", photos["astronaut"], Provenance(HASH))
    small = attacks.jpeg_resize_brightness(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), 70, 0.75, 0.9)
    reupload = tmp_path / "reupload.jpg"
    cv2.imwrite(str(reupload), small[:, :, ::-1])
    v = verify(reupload)
    assert v.status == "stripped" and v.stored_manifests == 1
    assert v.stored_manifest["label"] == read_manifest(out).label != read_manifest(other).label
    assert v.stored_manifest["title"] == "swap.png"


def test_stripped_file_whose_manifest_is_not_in_this_store(swapped_jpg, tmp_path, monkeypatch):
    stripped = tmp_path / "reupload.jpg"
    cv2.imwrite(str(stripped), cv2.imread(str(swapped_jpg)), [cv2.IMWRITE_JPEG_QUALITY, 80])
    monkeypatch.setenv("MASQUERADE_HOME", str(tmp_path / "another-machine"))
    v = verify(stripped)
    assert v.status == "stripped" and v.stored_manifest is None and v.stored_manifests == 0
    assert v.summary == (f"manifest stripped; watermark present (model {HASH[:4]}, mark {v.watermark_mark_id}); "
                         "this user's manifest store has no manifest for it")


def test_no_marks(tmp_path, photos):
    plain = tmp_path / "photo.png"
    cv2.imwrite(str(plain), photos["grace_hopper"][:, :, ::-1])
    v = verify(plain)
    assert v.status == "none" and not v.marks_found and v.exit_code == 1
    assert v.summary == "no Masquerade marks found"


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_one_changed_byte_reports_tampering(tmp_path, photos, suffix):
    out = write_synthetic_image(tmp_path / f"swap{suffix}", photos["astronaut"], Provenance(HASH))
    data = bytearray(out.read_bytes())
    data[len(data) - 200] ^= 0x10  # in the picture data, after the manifest
    tampered = tmp_path / f"tampered{suffix}"
    tampered.write_bytes(bytes(data))
    v = verify(tampered)
    assert v.status == "tampered" and v.manifest_present and not v.manifest_valid
    assert v.summary.startswith("manifest signature invalid — file was altered after signing")
    assert v.exit_code == 0  # still flagged as Masquerade output


def test_video_verdicts(tmp_path, photos):
    clip = pan_clip(photos["rocket"], n=12, size=(640, 360))
    with SyntheticVideoWriter(tmp_path / "swap.mp4", 25, 640, 360, Provenance(HASH)) as w:
        for frame in clip:
            w.write(frame)
    v = verify(tmp_path / "swap.mp4")
    assert v.status == "synthetic" and v.watermark_found and v.frames_checked == 12
    # re-encode the decoded frames at CRF 28 without the manifest, as a re-upload would
    frames = attacks.h264([f.image for f in read_frames(tmp_path / "swap.mp4")], crf=28)
    reupload = write_video(tmp_path / "reupload.mp4", frames, fps=25)
    v = verify(reupload)
    assert v.status == "stripped" and v.watermark_model_hash == HASH[:4]
    assert v.stored_manifest["title"] == "swap.mp4" and v.stored_manifest["label"] == read_manifest(tmp_path / "swap.mp4").label
    plain = write_video(tmp_path / "plain.mp4", clip, fps=25)
    assert verify(plain).status == "none"


def test_a_marked_video_cut_short_is_still_flagged_and_says_why_its_pixels_went_unchecked(tmp_path, photos):
    """A download or copy that stopped part-way: no frame decodes, but the manifest (at the file's start)
    still says Masquerade made it. The reader gets "altered after signing" with marks found (exit 0), and a
    plain word on why the watermark was not read, never "no marks" (which would pass a fake as real)."""
    with SyntheticVideoWriter(tmp_path / "swap.mp4", 25, 640, 360, Provenance(HASH)) as w:
        for frame in pan_clip(photos["rocket"], n=12, size=(640, 360)):
            w.write(frame)
    data = (tmp_path / "swap.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    v = verify(tmp_path / "cut.mp4")
    assert (v.status, v.exit_code, v.marks_found, v.frames_checked) == ("tampered", 0, True, 0)
    assert v.manifest_by_masquerade and not v.manifest_valid
    assert "cut short or damaged" in v.summary and "watermark was not checked" in v.summary


@pytest.mark.parametrize("content", [None, b"definitely not an image"])
def test_errors_exit_2(tmp_path, content):
    path = tmp_path / "broken.png"
    if content is not None:
        path.write_bytes(content)
    v = verify(path)
    assert v.status == "error" and v.exit_code == 2 and not v.marks_found and v.summary.startswith("error — ")


def test_verdict_is_frozen_and_serialisable(swapped_jpg):
    v = verify(swapped_jpg)
    with pytest.raises(AttributeError):
        v.status = "none"  # type: ignore[misc]
    d = json.loads(json.dumps(v.to_dict()))
    assert d["status"] == "synthetic" and d["exit_code"] == 0 and d["marks_found"] is True
    assert d["summary"] == v.summary and d["model_hash"] == HASH
    assert isinstance(Verdict(path="x", status="none").to_dict()["manifest_errors"], list)


def test_a_folder_is_checked_file_by_file(tmp_path, swapped_jpg, photos, capsys):
    """`masquerade verify FOLDER` checks the images and videos directly in it (a convert's output folder); a
    folder with none is an error verdict of its own, not 'no such file'."""
    from masquerade.cli import main

    cv2.imwrite(str(tmp_path / "plain.png"), photos["grace_hopper"][:, :, ::-1])
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "empty").mkdir()
    assert main(["verify", str(tmp_path)]) == 1  # plain.png carries no marks
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in lines] == ["plain.png", "swap.jpg"], lines
    assert "no Masquerade marks" in lines[0] and "synthetic" in lines[1]
    assert main(["verify", str(tmp_path / "empty")]) == 2
    assert "a folder without images or videos" in capsys.readouterr().out
