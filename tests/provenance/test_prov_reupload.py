"""Issue #28: the re-uploads that used to lose the mark: mirrored, letterboxed (or upscaled 2x), a strong JPEG
at under half size, and a whole video re-encoded at half size with H.264 CRF 30.

Each ran on frames of the real talking-head clips (../shared/data/faces, skipped when absent) and on
generated or bundled pictures. bench/watermark.py measures the same attacks on more frames and clips; the
figures, and what is still out of reach, are in docs/provenance.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from masquerade.provenance import attacks, geometry, store
from masquerade.provenance import watermark as wm

HASH = "a1b2c3d4e5f60718"
NONCE = 0x1234
MARK = wm.mark_id(HASH, NONCE)
FACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="real face clips (../shared/data/faces) not present")


def _clip(name: str, start: int = 0, n: int = 1, step: int = 1) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(FACES / name)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start and (i - start) % step == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= n:
                break
    return frames


@pytest.fixture(scope="module")
def face_frames() -> list[np.ndarray]:
    """Four frames of the real clips (the issue tried four), 512x512 and 480x480."""
    if not FACES.is_dir():
        pytest.skip("real face clips (../shared/data/faces) not present")
    return (_clip("woman_d3.mp4", 40, 2, 50) + _clip("man_d19.mp4", 40, 1) + _clip("woman_d10.mp4", 40, 1))[:4]


@pytest.fixture(scope="module")
def pictures(photos) -> dict[str, np.ndarray]:
    return {k: photos[k] for k in ("astronaut", "coffee", "grace_hopper")}


def _found(d: wm.Detection) -> bool:
    return d.detected and d.mark_id == MARK


# --- mirror -------------------------------------------------------------------------------------------


@needs_faces
def test_mirrored_face_frames(face_frames):
    for frame in face_frames:
        d = wm.decode(attacks.mirror(wm.embed(frame, HASH, nonce=NONCE)))
        assert _found(d) and d.mirrored, d.score
        assert not wm.decode(attacks.mirror(frame)).detected


def test_mirrored_photos_also_rescaled_and_rotated(pictures):
    for name, img in pictures.items():
        marked = wm.embed(img, HASH, nonce=NONCE)
        assert _found(d := wm.decode(attacks.mirror(marked))) and d.mirrored, name
        assert not wm.decode(marked).mirrored
        d = wm.decode(attacks.mirror(attacks.resize(marked, 0.75)))
        assert _found(d) and d.mirrored and abs(d.scale - 0.75) < 0.01, name
        assert _found(wm.decode(attacks.mirror(attacks.rotate(marked, 3)))), name


# --- letterbox and upscales ---------------------------------------------------------------------------


@needs_faces
def test_letterboxed_face_frames(face_frames):
    """The issue's case: a 1080-high canvas, the picture scaled up about 1.8x, black borders."""
    for frame in face_frames:
        boxed = attacks.letterbox(wm.embed(frame, HASH, nonce=NONCE), 1.8)
        assert boxed.shape == (1080, 1920, 3)
        d = wm.decode(boxed)
        assert _found(d) and abs(d.scale - 1.8) < 0.02, (d.score, d.scale)
        assert not wm.decode(attacks.letterbox(frame, 1.8)).detected


@pytest.mark.parametrize("factor", [1.8, 2.0])
def test_upscaled_photos_with_and_without_bars(pictures, factor):
    for name, img in pictures.items():
        marked = wm.embed(img, HASH, nonce=NONCE)
        d = wm.decode(attacks.resize(marked, factor, "bilinear"))
        assert _found(d) and abs(d.scale - factor) < 0.02, (name, d.score, d.scale)
        canvas = (max(1920, round(img.shape[1] * factor) + 64), max(1080, round(img.shape[0] * factor) + 64))
        d = wm.decode(attacks.letterbox(marked, factor, canvas, colour=16))
        assert _found(d) and abs(d.scale - factor) < 0.02, (name, d.score, d.scale)


def test_content_box():
    rng = np.random.default_rng(0)
    picture = rng.normal(128, 30, (300, 400)).astype(np.float32)
    framed = np.zeros((500, 900), np.float32)
    framed[100:400, 250:650] = picture
    assert geometry.content_box(framed) == (102, 398, 252, 648)
    assert geometry.content_box(picture) == (0, 300, 0, 400)  # no plain edge: the whole frame
    assert geometry.content_box(np.full((200, 300), 90, np.float32)) == (0, 200, 0, 300)  # all plain
    top_only = np.vstack([np.zeros((40, 400), np.float32), picture])
    assert geometry.content_box(top_only) == (42, 340, 0, 400)


# --- a strong JPEG at under half size ----------------------------------------------------------------


@needs_faces
def test_small_strong_jpeg_names_the_right_mark_or_none(face_frames):
    """JPEG quality 30 of a 0.45x copy (230 px): read blind on about 3 frames in 5 (docs/provenance.md);
    what is read is right, and the maker's own store (`known`) finds every one."""
    blind = 0
    for frame in face_frames:
        small = attacks.small_jpeg(wm.embed(frame, HASH, nonce=NONCE), 0.45, 30)
        d = wm.decode(small)
        assert not d.detected or d.mark_id == MARK
        blind += d.detected
        assert _found(d := wm.decode(small, known=[MARK, wm.mark_id(HASH, 7)])) and abs(d.scale - 0.45) < 0.01
        assert not wm.decode(attacks.small_jpeg(frame, 0.45, 30), known=[MARK]).detected
    assert blind >= 1  # the 1 of 4, at least


# --- the store-informed match ------------------------------------------------------------------------


def test_known_marks_pick_the_right_one_among_one_models_files(photos):
    """Ids of one model share the code bits of their model prefix; the right nonce must still win."""
    small = attacks.small_jpeg(wm.embed(photos["astronaut"], HASH, nonce=NONCE), 0.4, 20)
    rng = np.random.default_rng(3)
    others = [wm.mark_id(HASH, int(n)) for n in rng.integers(0, 2**16, 300)]
    d = wm.decode(small, known=others + [MARK])
    assert not d.detected or d.mark_id == MARK
    assert not wm.decode(small, known=others).detected  # the mark's own id is not among them


@pytest.mark.slow
def test_known_marks_raise_no_alarm_on_unmarked_pictures():
    from masquerade.provenance import corpus

    rng = np.random.default_rng(4)
    known = [wm.mark_id(f"{int(h):08x}", int(n)) for h, n in zip(rng.integers(0, 2**32, 500),
                                                                 rng.integers(0, 2**16, 500))]
    for img in corpus.unmarked_images(60, seed=21):
        assert not wm.decode(img, known=known).detected


def test_store_lists_its_mark_ids(tmp_path):
    assert store.mark_ids() == []
    for nonce in (5, 3):
        store.record(wm.mark_id(HASH, nonce), b"manifest", label="urn:c2pa:x", title="a.mp4", output=tmp_path / "a.mp4",
                     model_hash=HASH, signer=None, fmt="video/mp4")
    (store.store_dir() / "not-an-id").mkdir()
    assert store.mark_ids() == [wm.mark_id(HASH, 3), wm.mark_id(HASH, 5)]


# --- whole videos re-uploaded ------------------------------------------------------------------------


def _write(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _converted(tmp_path: Path, frames: list[np.ndarray], fps: int = 30) -> tuple[Path, list[np.ndarray]]:
    """What convert leaves: every frame marked and encoded by the provenance writer, the file signed."""
    from masquerade.media import read_frames
    from masquerade.provenance import Provenance, SyntheticVideoWriter

    h, w = frames[0].shape[:2]
    with SyntheticVideoWriter(tmp_path / "swap.mp4", fps, w, h, Provenance(HASH)) as writer:
        for frame in frames:
            writer.write(frame)
    stream = read_frames(writer.path)
    try:
        return writer.path, [f.image for f in stream]
    finally:
        stream.close()


@pytest.mark.slow
@needs_faces
def test_half_size_crf30_reupload_of_a_5s_converted_clip(tmp_path):
    """The issue's usual re-upload: a converted 5 s talking head, re-encoded at half size with H.264 CRF 30
    (x264's default preset), manifest gone. `verify` finds the mark and the manifest it leads to."""
    from masquerade.provenance import verify
    from masquerade.provenance.manifest import read_manifest

    source = _clip("woman_d3.mp4", 0, 150)
    swap, written = _converted(tmp_path, source)
    frames = attacks.reupload(written, 0.5, 30)
    blind = wm.decode_frames(frames[::2][:60])  # as verify samples it, without the store (payload version 3)
    assert blind.detected and not blind.matched_known and blind.mark_id == read_manifest(swap).mark_id
    reupload = _write(tmp_path / "reupload.mp4", frames)
    v = verify(reupload)
    assert v.status == "stripped" and v.watermark_found, v.summary
    assert v.watermark_mark_id == read_manifest(swap).mark_id and v.stored_manifest["title"] == "swap.mp4"
    plain = _write(tmp_path / "plain.mp4", attacks.reupload(source, 0.5, 30))
    assert verify(plain).status == "none"


@pytest.mark.slow
def test_half_size_reupload_of_a_generated_clip_pooled():
    from masquerade.samples import make_clip

    clip = make_clip("grace_hopper", frames=150, size=(640, 480), fps=30, seed=5).frames  # 5 s
    marked = attacks.h264([wm.embed(f, HASH, nonce=NONCE) for f in clip], crf=18, fps=30)
    sampled = slice(None, None, 2)  # as verify samples a 5 s clip: 60 frames, every second one
    assert _found(wm.decode_frames(attacks.reupload(marked, 0.5, 23)[sampled]))
    # blind this small clip (320 x 240 after the re-upload) reads at pooled z 6.5 to 7.7, and x264's threads
    # make each encode differ: one run of six lost the geometry; the store's test of the known id never does
    assert _found(wm.decode_frames(attacks.reupload(marked, 0.5, 30)[sampled], known=[MARK]))
    assert not wm.decode_frames(attacks.reupload(clip, 0.5, 30)[sampled], known=[MARK]).detected


@pytest.mark.slow
@needs_faces
@pytest.mark.parametrize("how", ["mirrored", "letterboxed", "cropped"])
def test_mirrored_and_letterboxed_reuploads(how):
    clip = _clip("man_d19.mp4", 0, 30)
    marked = attacks.h264([wm.embed(f, HASH, nonce=NONCE) for f in clip], crf=18, fps=30)
    kwargs = {"mirrored": {"flip": True}, "letterboxed": {"box": (1280, 720)},
              "cropped": {"aspect": 9 / 16}}[how]  # a square clip cut to a phone's 9:16 (288 x 512)
    d = wm.decode_frames(attacks.reupload(marked, 1.0, 30, **kwargs))
    assert _found(d) and d.mirrored == (how == "mirrored")
    assert not wm.decode_frames(attacks.reupload(clip, 1.0, 30, **kwargs)).detected


# --- files marked before this change ---------------------------------------------------------------


def test_files_marked_before_this_change_carry_the_same_mark_and_still_verify(synthetic_images):
    """Files marked with payload version 2 (every file before version 3) carry exactly the mark the code
    before issue #28 made: the digest below is of a picture marked at commit 704cde4, and `embed(version=2)`
    still makes it bit for bit. Their re-uploads are read by the new decoder like any other, as version 2."""
    old_nonce = 0x012345678
    marked = wm.embed(synthetic_images["gradient"], HASH, nonce=old_nonce, version=2)
    assert hashlib.sha256(marked.tobytes()).hexdigest() == (
        "5974d4819ef9c055b59f06753ef8000140b52440bb4c8775f8876691a47636d0")
    for attacked in (marked, attacks.mirror(marked), attacks.letterbox(marked, 1.8), attacks.resize(marked, 2.0)):
        d = wm.decode(attacked)
        assert d.detected and d.version == 2 and d.mark_id == wm.mark_id(HASH, old_nonce, 2) == "a1b2c3d4-012345678"
