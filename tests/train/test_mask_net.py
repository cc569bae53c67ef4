"""The occlusion mask net and its training data: occluder families, the truth they make, training, saving and
loading, and the reconstruction losses that leave occluded pixels out."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from masquerade.errors import ModelError
from masquerade.faceset import FaceSet
from masquerade.models.occlusion import MaskNet, MaskNetConfig, find_mask_net, load_mask_net, read_mask_manifest, trusted
from masquerade.train.augment import AugmentSettings, apply, draw
from masquerade.train.losses import LossWeights, reconstruction_loss
from masquerade.train.held_out_occluders import HELD_OUT_FAMILIES, _object, cut_out
from masquerade.train.occluders import TRAIN_FAMILIES, Palette, occlude, package_image
from masquerade.train.occlusion import (MaskTrainConfig, mask_budget, mask_data, needs_training, synth_batch,
                                        train_mask_net)

PALETTE = Palette(np.array([[0.8, 0.6, 0.5], [0.4, 0.28, 0.2]], np.float32), [np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)])


@pytest.mark.parametrize("name", sorted({**TRAIN_FAMILIES, **HELD_OUT_FAMILIES}))
def test_every_family_draws_a_real_occluder(name):
    draw = {**TRAIN_FAMILIES, **HELD_OUT_FAMILIES}[name]
    covered = []
    for seed in range(6):
        o = draw(96, np.random.default_rng(seed), PALETTE)
        assert o.rgb.shape == (96, 96, 3) and o.alpha.shape == (96, 96) and o.family == name
        assert 0 <= o.rgb.min() and o.rgb.max() <= 1 and 0 <= o.alpha.min() and o.alpha.max() <= 1 + 1e-6
        covered.append((o.alpha > 0.5).mean())
    assert max(covered) > 0.005 and min(covered) < 0.9  # something is drawn, never the whole crop every time


def test_held_out_families_are_not_trained_on():
    assert not set(TRAIN_FAMILIES) & set(HELD_OUT_FAMILIES)


def test_textured_objects_come_in_non_convex_shapes_and_saturated_colours():
    import cv2

    solidity, saturation = [], []
    for seed in range(40):
        o = TRAIN_FAMILIES["texture"](96, np.random.default_rng(seed), PALETTE)
        on = (o.alpha > 0.5).astype(np.uint8)
        points = cv2.findNonZero(on)
        if points is None or on.sum() < 30:
            continue
        solidity.append(on.sum() / max(1.0, cv2.contourArea(cv2.convexHull(points))))
        rgb = o.rgb[on > 0]
        saturation.append(float(np.median(rgb.max(1) - rgb.min(1))))
    assert min(solidity) < 0.6  # handles, loops and limbs, not only convex blobs
    assert max(saturation) > 0.4  # and some objects in strong colours, not only grey photos and backgrounds


def _hull_deficit(alpha: np.ndarray) -> float:
    """Share of the shape's convex hull it leaves empty: the gaps between fingers, among others."""
    import cv2

    on = (alpha > 0.5).astype(np.uint8)
    return 1 - on.sum() / max(1.0, cv2.contourArea(cv2.convexHull(cv2.findNonZero(on))))


def test_training_hands_can_spread_their_fingers_apart():
    draw = TRAIN_FAMILIES["hand"]
    side_by_side = np.array([_hull_deficit(draw(128, np.random.default_rng(s), PALETTE, 0.0).alpha) for s in range(12)])
    spread = np.array([_hull_deficit(draw(128, np.random.default_rng(s), PALETTE, 0.35).alpha) for s in range(12)])
    assert (spread > side_by_side).all() and spread.mean() > side_by_side.mean() + 0.08  # the same hand, gaps opened
    drawn = np.array([_hull_deficit(draw(128, np.random.default_rng(s), PALETTE).alpha) for s in range(40)])
    closed = np.array([_hull_deficit(draw(128, np.random.default_rng(s), PALETTE, 0.0).alpha) for s in range(40)])
    assert 0.3 < np.mean(drawn > closed + 0.02) < 0.7  # left to chance, about half the hands come spread


def test_some_objects_take_colours_a_face_could_have():
    from masquerade.train.occluders import _near_skin

    skin = PALETTE.skin[0]
    colours = np.array([_near_skin(np.random.default_rng(s), Palette(skin[None], [])) for s in range(60)])
    assert (colours <= np.minimum(1, skin * 1.25) + 1e-6).all()  # made from the face set's own skin tone
    assert ((colours[:, 0] > 1.4 * colours[:, 1]) & (colours[:, 0] > 0.6)).any()  # redder, as lips or a red cup
    assert (colours.max(1) < 0.3).any()  # dark, as a dark mug
    pale = _near_skin(np.random.default_rng(0), Palette(skin[None] * 0.5, []))
    assert np.allclose(pale, colours[0] * 0.5, atol=1e-6)  # another face set, other colours
    medians = [np.median(o.rgb[o.alpha > 0.5], 0) for o in (TRAIN_FAMILIES["texture"](96, np.random.default_rng(s), PALETTE)
                                                            for s in range(60)) if (o.alpha > 0.5).sum() > 30]
    assert sum(np.abs(m - c).max() < 0.03 for m in medians for c in PALETTE.skin) == 0  # never skin itself
    assert any(m.max() < 0.3 for m in medians)  # the texture family draws dark objects among them


def test_a_photographed_object_is_cut_out_whole():
    rgb, alpha = _object("coffee")  # the cup on its saucer, by colour against the table
    assert alpha.mean() > 0.3  # the crop around the object is mostly object: holes were filled
    assert cut_out(package_image("logo"))[0, 0] == 0  # an image's own alpha is used where it has one


def test_the_truth_is_the_hull_less_the_occluder():
    s = 64
    face = np.full((s, s, 3), 0.5, np.float32)
    hull = np.zeros((s, s), np.float32)
    hull[8:56, 12:52] = 1
    img, visible, occluded = occlude(face, hull, TRAIN_FAMILIES, np.random.default_rng(1), PALETTE, count=2)
    assert occluded.any()
    assert np.array_equal(visible > 0.5, (hull > 0.5) & ~occluded)
    assert np.abs(img - face).max(axis=2)[occluded].mean() > 0.05  # the face changed where the occluder is


def test_edge_pixels_cost_more_than_the_same_error_inside_a_region():
    from masquerade.train.occlusion import mask_loss

    truth = torch.zeros(1, 1, 32, 32)
    truth[:, :, 8:24, 8:24] = 1
    right = truth * 20 - 10  # confident and right everywhere
    on_edge, inside = right.clone(), right.clone()
    on_edge[:, :, 8, 16] = -10  # one pixel of the square's outline called wrong
    inside[:, :, 16, 16] = -10  # the same mistake in the square's middle
    assert mask_loss(on_edge, truth) > mask_loss(inside, truth) * 1.5


def test_mask_net_maps_any_crop_size_to_a_mask_of_that_size():
    net = MaskNet(MaskNetConfig(size=64, channels=(8, 8, 8, 8))).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 4, 64, 64)).shape == (2, 1, 64, 64)
    with pytest.raises(ValueError):
        MaskNetConfig(size=72)


@pytest.mark.slow
def test_a_few_steps_train_save_and_load_and_a_poor_net_is_not_trusted(faceset_a, tmp_path):
    cfg = MaskTrainConfig(steps=3, batch_size=4, size=64, device="cpu", holdout=0.2, arch={"channels": (8, 8, 8, 8)})
    result = train_mask_net([faceset_a], tmp_path, cfg)
    assert result.steps == 3 and result.path == find_mask_net(tmp_path)
    manifest = json.loads(result.path.read_text())
    assert manifest["schema_version"] == 1 and set(manifest["families"]) == set(TRAIN_FAMILIES)
    assert {f"iou_{n}" for n in TRAIN_FAMILIES} <= set(manifest["held_out"])
    record = read_mask_manifest(tmp_path)
    assert record.to_dict() == manifest and record.steps == 3 and record.held_out == manifest["held_out"]
    assert not trusted(record)  # three steps do not make a mask that may be used unasked
    assert needs_training(record, mask_budget(None, 120, 2.0))  # a far longer train run trains it again
    assert not needs_training(record, mask_budget(None, 100, 2.0))  # 10 steps allowed < 4 x 3 done
    loaded = load_mask_net(tmp_path)
    t = FaceSet.open(faceset_a).load_tensors(128)
    v = loaded.visible(list(t.faces[:2].permute(0, 2, 3, 1).numpy()), list(t.masks[:2, 0].float().numpy() / 255))
    assert v.shape == (2, 128, 128) and 0 <= v.min() and v.max() <= 1
    weights = tmp_path / "occlusion" / manifest["weights"]
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match="hash"):
        load_mask_net(tmp_path)


def test_the_budget_is_a_tenth_of_the_run():
    assert mask_budget(10.0, None, 2.0).minutes == pytest.approx(1.0)
    assert mask_budget(60.0, None, 2.0).minutes == 2.0
    assert mask_budget(None, 40, 2.0).steps == 4
    assert mask_budget(10.0, None, 0.0) is None


def test_synthetic_batches_pair_images_with_their_truth(faceset_a):
    data = mask_data([FaceSet.open(faceset_a).load_tensors(64)])
    x, truth = synth_batch(data, [0, 1, 2, 3], np.random.default_rng(0), clean_share=0.0)
    assert x.shape == (4, 4, 64, 64) and truth.shape == (4, 1, 64, 64)
    hull = x[:, 3:] > 0.5  # the hull goes in beside the image, flipped with it
    assert (truth <= hull.float()).all()  # never face outside the hull
    assert truth.sum() < hull.sum()  # occluders took some of it


def test_occluded_pixels_do_not_teach_the_decoder_anything():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    visible = torch.ones(2, 1, 32, 32)
    visible[:, :, 10:20, 10:20] = 0  # a hand
    face = torch.rand(2, 3, 32, 32, requires_grad=True)
    mask_pred = torch.rand(2, 1, 32, 32, requires_grad=True)
    w = LossWeights(ssim=0.0)  # L1 and mask terms: per-pixel, so the hand's pixels must get no gradient at all
    reconstruction_loss(face, mask_pred, target, mask, torch.zeros_like(mask), w, visible).backward()
    assert face.grad[:, :, 10:20, 10:20].abs().max() == 0 and face.grad[:, :, :10].abs().min() > 0
    assert mask_pred.grad[:, :, 12:18, 12:18].abs().max() == 0
    changed = face.detach().clone()
    changed[:, :, 10:20, 10:20] = 1 - changed[:, :, 10:20, 10:20]  # drawing anything there costs nothing
    full = LossWeights()
    a = reconstruction_loss(face.detach(), mask_pred.detach(), target, mask, torch.zeros_like(mask), w, visible)
    b = reconstruction_loss(changed, mask_pred.detach(), target, mask, torch.zeros_like(mask), w, visible)
    assert torch.isclose(a, b)
    assert reconstruction_loss(face.detach(), mask_pred.detach(), target, mask, torch.zeros_like(mask), full) > 0


def test_the_visible_map_moves_with_the_face_under_augmentation():
    pixels = torch.zeros(2, 6, 32, 32, dtype=torch.uint8)
    pixels[:, 3] = 255  # hull
    pixels[:, 5] = 255
    pixels[:, 5, :, :8] = 0  # covered at the left
    pixels[:, 0, :, :8] = 200  # the occluder's red is where the map says
    d = draw(torch.Generator().manual_seed(0), 2, AugmentSettings(warp=False, flip=True))
    batch = apply(pixels, d)
    assert batch.visible is not None and batch.visible.shape == (2, 1, 32, 32)
    red = batch.targets[:, 0:1] > 0.5
    assert ((batch.visible < 0.5) == red).float().mean() > 0.97
    assert apply(pixels[:, :5], d).visible is None  # older banks: no map, every pixel counts


@pytest.mark.slow
def test_training_faces_get_visible_maps_cached_beside_the_model(faceset_a, tmp_path, monkeypatch):
    from masquerade.models import occlusion as occ_models
    from masquerade.train import visible as visible_mod

    t = FaceSet.open(faceset_a).load_tensors(64)
    plain = visible_mod.visible_maps(t.faces, t.masks, tmp_path, hands=False)
    assert plain.shape == (len(t), 1, 64, 64) and (plain == 255).all()  # no hands, no mask net: all visible
    train_mask_net([faceset_a], tmp_path, MaskTrainConfig(steps=2, batch_size=2, size=64, device="cpu",
                                                            arch={"channels": (8, 8, 8, 8)}))
    assert (visible_mod.visible_maps(t.faces, t.masks, tmp_path, hands=False) == 255).all()  # untrusted: unused
    monkeypatch.setattr(visible_mod, "trusted", lambda manifest: True)
    maps = visible_mod.visible_maps(t.faces, t.masks, tmp_path, hands=False)
    outside = t.masks == 0
    assert (maps[outside] >= 250).all() and maps[~outside].float().mean() < 250  # only the hull can be taken
    caches = list((tmp_path / occ_models.FOLDER).glob("visible-*.safetensors"))
    assert len(caches) == 2  # one per (crops, mask net) pair
    monkeypatch.setattr(visible_mod, "load_mask_net", lambda *a: pytest.fail("the cache was not used"))
    assert torch.equal(visible_mod.visible_maps(t.faces, t.masks, tmp_path, hands=False), maps)


@pytest.mark.slow
def test_train_trains_the_mask_first_and_still_trains_older_face_sets(faceset_a, faceset_b, tmp_path, tiny_config):
    from masquerade.train import train

    result = train(faceset_a, faceset_b, tmp_path / "model", dataclasses.replace(tiny_config, mask_minutes=2.0))
    assert result.steps_run == 20 and np.isfinite(result.loss_a)
    manifest = json.loads(find_mask_net(tmp_path / "model").read_text())
    assert manifest["steps"] == 2  # a tenth of the run's 20 steps
    assert list((tmp_path / "model" / "occlusion").glob("visible-*.safetensors"))
