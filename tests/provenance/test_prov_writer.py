"""The synthetic writer: every file it leaves is watermarked and signed; failures leave nothing behind."""

import os

import numpy as np
import pytest
from prov_helpers import pan_clip

from masquerade.errors import MediaError, ProvenanceError
from masquerade.media import probe, read_frames, read_image, write_video
from masquerade.provenance import Provenance, SyntheticVideoWriter, keys, verify, write_synthetic_image
from masquerade.provenance import watermark as wm
from masquerade.provenance.manifest import read_manifest

HASH = "9b1deb4d3b7d4bad"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_image_is_marked_and_signed(tmp_path, photos, suffix):
    import cv2

    src = tmp_path / "input.png"
    cv2.imwrite(str(src), photos["astronaut"][:, :, ::-1])
    out = write_synthetic_image(tmp_path / f"swap{suffix}", photos["astronaut"], Provenance(HASH, source=str(src)))
    assert out == tmp_path / f"swap{suffix}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["home", "input.png", out.name])  # no temp files
    d = wm.decode(read_image(out))
    assert d.detected and d.model_hash == HASH[:8]
    report = read_manifest(out, keys.trust_anchor())
    assert report.intact and report.trusted and report.model_hash == HASH


def test_video_is_marked_signed_and_keeps_audio(tmp_path, photos):
    clip = pan_clip(photos["coffee"], n=8, size=(640, 360))
    rate = 16000
    pcm = (3000 * np.sin(np.arange(rate // 2) * 2 * np.pi * 440 / rate)).astype(np.int16)
    src = write_video(tmp_path / "input.mp4", clip, fps=25, audio=pcm)
    provenance = Provenance(HASH, source=str(src))
    with SyntheticVideoWriter(tmp_path / "swap.mp4", 25, 640, 360, provenance, audio_from=str(src)) as w:
        for frame in clip:
            w.write(frame)
    out = tmp_path / "swap.mp4"
    info = probe(out)
    assert info.kind == "video" and info.has_audio and (info.width, info.height) == (640, 360)
    frames = [f.image for f in read_frames(out)]
    assert len(frames) == 8
    d = wm.decode_frames(frames)
    assert d.detected and d.model_hash == HASH[:8]
    assert read_manifest(out).intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "input.mp4", "swap.mp4"]


def test_exception_while_writing_leaves_nothing(tmp_path, photos):
    frame = pan_clip(photos["coffee"], n=1, size=(320, 240))[0]
    with pytest.raises(RuntimeError):
        with SyntheticVideoWriter(tmp_path / "swap.mp4", 25, 320, 240, Provenance(HASH)) as w:
            w.write(frame)
            raise RuntimeError("model crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_no_frames_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(MediaError):
        with SyntheticVideoWriter(tmp_path / "swap.mp4", 25, 320, 240, Provenance(HASH)):
            pass
    assert not (tmp_path / "swap.mp4").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_wrong_frame_size_is_rejected(tmp_path, photos):
    w = SyntheticVideoWriter(tmp_path / "swap.mp4", 25, 320, 240, Provenance(HASH))
    with pytest.raises(ValueError):
        w.write(np.zeros((100, 100, 3), np.uint8))
    w.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_signing_failure_keeps_the_previous_file_and_leaves_no_temp(tmp_path, photos, monkeypatch):
    from masquerade.provenance import writer

    target = tmp_path / "swap.png"
    target.write_bytes(b"previous result")

    def broken_sign(*args, **kwargs):
        raise ProvenanceError("signing broke")

    monkeypatch.setattr(writer, "sign_file", broken_sign)
    with pytest.raises(ProvenanceError):
        write_synthetic_image(target, photos["camera"], Provenance(HASH))
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "swap.png"]


@pytest.mark.parametrize("name", ["swap.gif", "missing_dir/swap.png"])
def test_unusable_output_paths(tmp_path, photos, name):
    with pytest.raises(ProvenanceError):
        write_synthetic_image(tmp_path / name, photos["camera"], Provenance(HASH))


def test_output_may_not_overwrite_its_input(tmp_path, photos):
    import cv2

    from masquerade.errors import OutputError

    src = tmp_path / "input.png"
    cv2.imwrite(str(src), photos["camera"])
    before = src.read_bytes()
    with pytest.raises(OutputError):
        write_synthetic_image(src, photos["camera"], Provenance(HASH, source=str(src)))
    assert src.read_bytes() == before


def test_model_hash_is_checked():
    with pytest.raises(ProvenanceError):
        Provenance("not-hex")


def test_frames_must_be_rgb_uint8(tmp_path, photos):
    with pytest.raises(ValueError):
        write_synthetic_image(tmp_path / "x.png", photos["camera"].astype(np.float32) / 255, Provenance(HASH))
    assert not (tmp_path / "x.png").exists()


def test_own_credentials_are_used(tmp_path, photos):
    key_pem, chain_pem, ca_pem = keys.generate()
    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "c.pem").write_bytes(chain_pem)
    creds = keys.Credentials.from_files(tmp_path / "k.pem", tmp_path / "c.pem")
    out = write_synthetic_image(tmp_path / "swap.png", photos["camera"], Provenance(HASH, credentials=creds))
    assert read_manifest(out, ca_pem).trusted
    v = verify(out)
    assert v.status == "synthetic" and v.model_hash == HASH and not v.signer_trusted
    assert keys.load_default(create=False) is None
    assert os.path.exists(out)
