"""C2PA manifest: sign -> read -> tamper with one byte -> the reader reports it."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from masquerade import __version__
from masquerade.provenance import keys
from masquerade.provenance.manifest import DIGITAL_SOURCE_TYPE, made_by_masquerade, read_manifest, sign_file


@pytest.fixture
def signed_png(tmp_path, photos) -> Path:
    src, raw, out = tmp_path / "input.png", tmp_path / "raw.png", tmp_path / "out.png"
    cv2.imwrite(str(src), photos["chelsea"][:, :, ::-1])
    cv2.imwrite(str(raw), photos["chelsea"][::-1, :, ::-1])
    sign_file(raw, out, "cafe0123456789ab", keys.load_default(), source=str(src))
    return out


def test_sign_and_read(signed_png):
    report = read_manifest(signed_png)
    assert report.present and report.intact and report.state == "Valid" and not report.trusted
    assert report.by_masquerade and report.synthetic
    assert report.version == __version__ and report.model_hash == "cafe0123456789ab"
    active = report.raw["manifests"][report.raw["active_manifest"]]
    assert active["claim_generator_info"][0]["name"] == "masquerade"
    assert [i["title"] for i in active["ingredients"]] == ["input.png"]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created" and actions[0]["digitalSourceType"] == DIGITAL_SOURCE_TYPE


def test_trusted_only_with_this_users_anchor(signed_png):
    assert read_manifest(signed_png, keys.trust_anchor()).state == "Trusted"
    _, _, stranger_ca = keys.generate()
    report = read_manifest(signed_png, stranger_ca)
    assert not report.trusted and report.intact  # signature fine, just not anchored here


def test_one_changed_byte_is_reported(signed_png, tmp_path):
    data = bytearray(signed_png.read_bytes())
    data[len(data) - 64] ^= 0x01  # inside the image data, after the manifest
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(bytes(data))
    report = read_manifest(tampered)
    assert report.present and not report.intact and report.state == "Invalid"
    assert "assertion.dataHash.mismatch" in report.errors


def test_unsigned_file_has_no_manifest(tmp_path):
    path = tmp_path / "plain.png"
    cv2.imwrite(str(path), np.zeros((32, 32, 3), np.uint8))
    assert not read_manifest(path).present


def test_unparseable_source_becomes_a_title_only_ingredient(tmp_path, photos):
    raw, out, src = tmp_path / "raw.jpg", tmp_path / "out.jpg", tmp_path / "clip.avi"
    cv2.imwrite(str(raw), photos["coffee"][:, :, ::-1])
    src.write_bytes(b"not really a video")
    sign_file(raw, out, "0123abcd", keys.load_default(), source=str(src))
    report = read_manifest(out)
    assert report.intact
    assert report.raw["manifests"][report.raw["active_manifest"]]["ingredients"][0]["title"] == "clip.avi"


def test_soft_binding_names_the_algorithm_and_the_payload(tmp_path, photos):
    import base64

    from masquerade.provenance import watermark as wm

    raw, out = tmp_path / "raw.png", tmp_path / "out.png"
    cv2.imwrite(str(raw), photos["coffee"][:, :, ::-1])
    manifest = sign_file(raw, out, "cafe0123456789ab", keys.load_default(), nonce=0xBEEF)
    assert isinstance(manifest, bytes) and len(manifest) > 100
    report = read_manifest(out)
    assert report.intact and report.mark_id == "cafe-beef" and report.label.startswith("urn:c2pa:")
    active = report.raw["manifests"][report.raw["active_manifest"]]
    (binding,) = [a["data"] for a in active["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert binding["alg"] == wm.ALGORITHM
    value = np.unpackbits(np.frombuffer(base64.b64decode(binding["blocks"][0]["value"]), np.uint8))
    assert np.array_equal(value[: wm.PAYLOAD_BITS], wm.payload_bits("cafe0123456789ab", 0xBEEF))


def test_made_by_masquerade(tmp_path, photos, signed_png):
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), photos["coffee"])
    assert made_by_masquerade(signed_png)
    assert not made_by_masquerade(plain) and not made_by_masquerade(tmp_path / "missing.png")
    assert not made_by_masquerade(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not made_by_masquerade(text)
