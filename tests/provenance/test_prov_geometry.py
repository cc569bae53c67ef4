"""Re-upload attacks that change the picture's geometry for good, and the decoder that finds the mark anyway.

Each attack runs on natural photos that ship with installed packages and, when the real talking-head
clips are present (../shared/data/faces), on a few of their frames too. bench/watermark.py runs the same
attacks on more frames and prints the numbers quoted in docs/provenance.md.
"""

from pathlib import Path

import numpy as np
import pytest

from masquerade.provenance import attacks, geometry, reader
from masquerade.provenance import watermark as wm

HASH = "a1b2c3d4e5f60718"
NONCE = 0x1234
FACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces"

# name -> (attack, expected scale of the result relative to the marked picture, expected angle)
ATTACKS = {
    "rescale_0.5_unrestored_area": (lambda x: attacks.resize(x, 0.5, "area"), 0.5, 0.0),
    "rescale_0.5_unrestored_bilinear": (lambda x: attacks.resize(x, 0.5, "bilinear"), 0.5, 0.0),
    "rescale_0.75_unrestored_lanczos": (lambda x: attacks.resize(x, 0.75, "lanczos"), 0.75, 0.0),
    "rescale_1.5_unrestored_bilinear": (lambda x: attacks.resize(x, 1.5, "bilinear"), 1.5, 0.0),
    "rotate_+2": (lambda x: attacks.rotate(x, 2), 1.0, 2.0),
    "rotate_-5": (lambda x: attacks.rotate(x, -5), 1.0, -5.0),
    "crop_25%_then_0.75_unrestored": (lambda x: attacks.crop_then_resize(x, 0.25, 0.75), 0.75, 0.0),
    "stretch_0.9x_unrestored": (lambda x: attacks.stretch(x, 0.9), np.sqrt(0.9), 0.0),
    "jpeg50_0.5_unrestored_brightness0.8": (lambda x: attacks.jpeg_resize_brightness(x), 0.5, 0.0),
}


def _face_frames(n: int = 3) -> list[np.ndarray]:
    import av

    frames = []
    for name in ("woman_d3.mp4", "man_d19.mp4", "woman_d10.mp4")[:n]:
        with av.open(str(FACES / name)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == 40:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    break
    return frames


@pytest.fixture(scope="module")
def pictures(photos):
    """Marked photos of several sizes (the 512x512 astronaut down to 300x451 rocket)."""
    chosen = {k: photos[k] for k in ("astronaut", "coffee", "rocket", "grace_hopper")}
    return {k: wm.embed(v, HASH, nonce=NONCE) for k, v in chosen.items()}


def _check(picture: np.ndarray, attack: str) -> wm.Detection:
    fn, scale, angle = ATTACKS[attack]
    attacked = fn(picture)
    d = wm.decode(attacked)
    assert d.detected and d.mark_id == wm.mark_id(HASH, NONCE), f"{attack}: score {d.score:.1f}"
    assert abs(d.scale - scale) < 0.01 and abs(d.angle_deg - angle) < 0.3, (d.scale, d.angle_deg)
    return d


# The astronaut (fine texture) after JPEG 50, half size and 0.8 brightness keeps too little mark: measured
# on 12 random nonces of each payload version, none was read (one lucky version-2 mark had passed here);
# the other three photos were read for every mark tried.
TOO_WEAK = {("jpeg50_0.5_unrestored_brightness0.8", "astronaut")}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_geometric_attack_on_photos(attack, pictures):
    for name, picture in pictures.items():
        if (attack, name) not in TOO_WEAK:
            _check(picture, attack)


@pytest.mark.skipif(not FACES.is_dir(), reason="real face clips (../shared/data/faces) not present")
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_geometric_attack_on_real_faces(attack):
    for frame in _face_frames():
        _check(wm.embed(frame, HASH, nonce=NONCE), attack)


def test_attacks_really_change_the_geometry(pictures):
    img = pictures["astronaut"]
    assert attacks.resize(img, 0.5).shape == (256, 256, 3) and attacks.resize(img, 1.5).shape == (768, 768, 3)
    assert attacks.stretch(img, 0.9).shape == (512, 461, 3)
    turned = attacks.rotate(img, 5)
    assert turned.shape[0] < 512 and turned.min(axis=2).min() > 0 or turned[..., :].std() > 0
    assert np.abs(turned[:4].astype(int) - img[:4, : turned.shape[1]].astype(int)).mean() > 5
    assert attacks.crop_then_resize(img).shape == (288, 288, 3)


def test_rotation_crop_leaves_no_fill():
    flat = np.full((360, 640, 3), 200, np.uint8)
    for deg in (2, -2, 5, -5):
        out = attacks.rotate(flat, deg)
        assert out.min() >= 199 and out.shape[1] / out.shape[0] == pytest.approx(640 / 360, rel=0.02)


def test_resolution_chain_1080_720_480(photos):
    from masquerade.samples import make_clip

    frame = make_clip("astronaut", frames=1, size=(1920, 1080), seed=3).frames[0]
    out = attacks.resolution_chain(wm.embed(frame, HASH, nonce=NONCE))
    assert out.shape == (480, 853, 3)
    d = wm.decode(out)
    assert d.detected and d.mark_id == wm.mark_id(HASH, NONCE) and abs(d.scale - 480 / 1080) < 0.01


@pytest.mark.slow
def test_h264_crf30_on_a_generated_clip_pooled():
    """Generated clips (a portrait moving over a smooth gradient) hold up to CRF 30; at CRF 35 they do not
    reliably (docs/provenance.md): the decoder then finds nothing rather than a wrong mark."""
    from masquerade.samples import make_clip

    clip = make_clip("grace_hopper", frames=12, size=(640, 360), seed=5).frames
    marked = [wm.embed(f, HASH, nonce=NONCE) for f in clip]
    d = wm.decode_frames(attacks.h264(marked, crf=30))
    assert d.detected and d.mark_id == wm.mark_id(HASH, NONCE)
    d = wm.decode_frames(attacks.h264(marked, crf=35))
    assert not d.detected or d.mark_id == wm.mark_id(HASH, NONCE)
    assert not wm.decode_frames(attacks.h264(clip, crf=35)).detected


@pytest.mark.skipif(not FACES.is_dir(), reason="real face clips (../shared/data/faces) not present")
@pytest.mark.parametrize("name, start", [("man_d19.mp4", 0), ("woman_d10.mp4", 60)])
def test_h264_crf35_on_a_real_face_clip_pooled(name, start):
    """woman_d10 from frame 60 is the clip whose best Viterbi path kept two wrong bits after CRF 35; the
    list decoder offers the CRC the next most likely payloads, and the right one is among them."""
    import av

    with av.open(str(FACES / name)) as container:
        clip = [f.to_ndarray(format="rgb24") for i, f in zip(range(start + 24), container.decode(video=0)) if i >= start]
    d = wm.decode_frames(attacks.h264([wm.embed(f, HASH, nonce=NONCE) for f in clip], crf=35))
    assert d.detected and d.mark_id == wm.mark_id(HASH, NONCE)


def test_lattice_of_a_stretched_rotated_picture(pictures):
    """The estimator returns the transform itself: columns are the tile's basis vectors over the period."""
    plane = reader._search_plane(wm._luma(attacks.stretch(attacks.rotate(pictures["astronaut"], 3), 0.9)))
    found = geometry.estimate([geometry.power_spectrum(plane, wm.TILE_PX)], plane.shape, wm.TILE_PX)
    a = np.deg2rad(3)
    expected = np.diag([0.9, 1.0]) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    assert found and np.abs(found[0].matrix - expected).max() < 0.01


def test_unmarked_geometric_variants_raise_no_alarm(photos):
    for name, img in photos.items():
        for attack in ("rescale_0.5_unrestored_area", "rotate_+2", "stretch_0.9x_unrestored"):
            assert not wm.decode(ATTACKS[attack][0](img)).detected, (name, attack)


def test_implausible_lattices_are_rejected():
    assert geometry.Lattice(np.eye(2) * 0.5, 5.0).plausible()
    assert not geometry.Lattice(np.array([[0.5, 0.5], [0.0, 0.001]]), 5.0).plausible()  # axes parallel
    assert not geometry.Lattice(np.eye(2) * 0.05, 5.0).plausible()  # far below the searched scales


def test_no_degenerate_geometry_on_unmarked_corpus():
    from masquerade.provenance import corpus

    for img in corpus.unmarked_images(60, seed=0):
        plane = reader._search_plane(wm._luma(img))
        for lattice in geometry.estimate([geometry.power_spectrum(plane, wm.TILE_PX)], plane.shape, wm.TILE_PX):
            assert lattice.plausible()


def test_upscale_of_a_picture_with_a_long_straight_edge():
    """A tilted photo on a smooth background (a generated frame) has a long straight edge whose
    autocorrelation ridge once crowded the tile's true peak out of the candidate list after a 1.5x bilinear
    upscale; each axis's candidates turned by 90 degrees now stand in for the other axis."""
    from masquerade.samples import make_clip

    frame = make_clip("grace_hopper", frames=11, size=(1280, 720), fps=25, seed=2).frames[6]
    d = wm.decode(attacks.resize(wm.embed(frame, HASH, nonce=NONCE), 1.5, "bilinear"))
    assert d.detected and d.mark_id == wm.mark_id(HASH, NONCE) and abs(d.scale - 1.5) < 0.01


def test_small_scale_hypotheses_are_cropped_not_blown_up():
    """A 0.3x lattice would resample a 720p picture to 11 times its pixels; the decoder caps it."""
    plane = np.random.default_rng(0).normal(size=(720, 1280)).astype(np.float32)
    lattice = geometry.Lattice(np.array([[0.3, 0.01], [-0.01, 0.3]]), 3.0)
    out, valid = geometry.to_canonical(plane, lattice, max_pixels=1_300_000)
    assert out.size <= 1_300_000 and out.shape == valid.shape and valid.mean() > 0.95
    full, full_valid = geometry.to_canonical(plane, lattice)
    assert full.size > 9 * plane.size and 0.8 < full_valid.mean() < 1.0
