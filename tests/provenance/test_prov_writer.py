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
    assert d.detected and d.model_hash == HASH[:4]
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
    assert d.detected and d.model_hash == HASH[:4]
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

    target = write_synthetic_image(tmp_path / "swap.png", photos["coffee"], Provenance(HASH))
    previous = target.read_bytes()

    def broken_sign(*args, **kwargs):
        raise ProvenanceError("signing broke")

    monkeypatch.setattr(writer, "sign_file", broken_sign)
    with pytest.raises(ProvenanceError):
        write_synthetic_image(target, photos["camera"], Provenance(HASH))
    assert target.read_bytes() == previous
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


def test_temp_files_are_partials_and_dead_runs_leftovers_are_swept(tmp_path, photos, monkeypatch):
    from masquerade import outputs
    from masquerade.provenance import writer

    leftover = tmp_path / ".swap.mp4.masq-partial-999999-0123abcd.unsigned.mp4"  # a killed convert's
    leftover.write_bytes(b"x" * 1000)
    users = tmp_path / ".swap.unsigned.mp4"  # not ours by name: never touched
    users.write_bytes(b"mine")
    monkeypatch.setattr(writer, "_SWEPT", set())
    seen = []
    real_partial = outputs.partial_path

    def spy(final, suffix=None):
        p = real_partial(final, suffix)
        seen.append(p)
        return p

    monkeypatch.setattr(writer, "partial_path", spy)
    out = write_synthetic_image(tmp_path / "swap.png", photos["camera"], Provenance(HASH))
    assert not leftover.exists() and users.read_bytes() == b"mine" and out.exists()
    assert seen and all(outputs.is_partial(p) and not p.exists() for p in seen)


def test_a_file_masquerade_did_not_write_is_never_overwritten(tmp_path, photos):
    from masquerade.errors import OutputError

    target = tmp_path / "holiday.jpg"
    target.write_bytes(b"the user's own photo")
    with pytest.raises(OutputError, match="not written by Masquerade"):
        write_synthetic_image(target, photos["camera"], Provenance(HASH))
    assert target.read_bytes() == b"the user's own photo"


def test_our_own_earlier_output_may_be_replaced(tmp_path, photos):
    first = write_synthetic_image(tmp_path / "swap.png", photos["camera"], Provenance(HASH))
    mark_before = wm.decode(read_image(first)).mark_id
    write_synthetic_image(tmp_path / "swap.png", photos["coffee"], Provenance(HASH))
    assert wm.decode(read_image(first)).mark_id != mark_before  # a new file, a new nonce


def test_every_output_gets_its_own_mark_id_and_stored_manifest(tmp_path, photos):
    from masquerade.provenance import store

    a = write_synthetic_image(tmp_path / "a.png", photos["camera"], Provenance(HASH))
    b = write_synthetic_image(tmp_path / "b.png", photos["camera"], Provenance(HASH))
    ida, idb = wm.decode(read_image(a)).mark_id, wm.decode(read_image(b)).mark_id
    assert ida != idb and ida.startswith(HASH[:4])
    (entry,) = store.lookup(ida)
    assert entry.title == "a.png" and entry.model_hash == HASH and entry.label.startswith("urn:c2pa:")
    assert read_manifest(a).label == entry.label and read_manifest(a).mark_id == ida
    assert store.manifest_bytes(entry)[:4] != b""  # the signed manifest itself is kept


def test_pieces_made_in_parallel_share_the_nonce_they_are_given(tmp_path, photos):
    from masquerade.provenance.writer import IntermediateVideoWriter, publish_joined_video

    clip = pan_clip(photos["coffee"], n=6, size=(320, 240))
    nonce = wm.new_nonce()
    with IntermediateVideoWriter(tmp_path / "piece.mp4", 25, 320, 240, HASH, 18, nonce=nonce) as w:
        for frame in clip:
            w.write(frame)
    out = publish_joined_video(lambda p: os.replace(tmp_path / "piece.mp4", p), tmp_path / "joined.mp4",
                               Provenance(HASH, nonce=nonce))
    d = wm.decode_frames([f.image for f in read_frames(out)])
    assert d.detected and d.nonce == nonce and read_manifest(out).mark_id == d.mark_id
