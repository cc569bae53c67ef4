"""The identity upscaler: network shape, degradation, training on a face set, saving and loading.

The shared fixture face sets hold 128 px crops, so these tests train 32 → 128 upscalers (the same code
path as 64 → 256, at a quarter of the cost).
"""

import json

import pytest
import torch
import torch.nn.functional as F

from masquerade.errors import FaceSetError, ModelError, ModelMismatchError
from masquerade.faceset import FaceSet
from masquerade.models.upscaler import IdentityUpscaler, UpscalerConfig, find_upscaler, load_upscaler
from masquerade.train.upscaler import Degradation, UpscalerTrainConfig, degrade_pair, sharpness, train_upscaler

SMALL = dict(channels=8, blocks=1, up_channels=(8, 8))


def quick(**kw) -> UpscalerTrainConfig:
    base = dict(steps=12, batch_size=4, patch=64, out_size=128, device="cpu", arch=dict(SMALL), holdout=0.2,
                warmup_steps=0, lr=2e-3)
    return UpscalerTrainConfig(**{**base, **kw})


@pytest.mark.parametrize("in_size", [64, 128, 256])
def test_an_untrained_upscaler_is_exactly_bicubic(in_size):
    net = IdentityUpscaler(UpscalerConfig(in_size=in_size, **SMALL)).eval()
    x = torch.rand(2, 3, in_size, in_size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 256, 256)
    expected = x if in_size == 256 else F.interpolate(x, size=(256, 256), mode="bicubic", align_corners=False)
    assert torch.allclose(y, expected, atol=1e-6)


def test_sizes_it_cannot_map_are_refused():
    for bad in (48, 32, 96):
        with pytest.raises(ValueError):
            UpscalerConfig(in_size=bad)


def test_degradation_is_reproducible_and_does_what_it_says():
    smooth = F.interpolate(torch.rand(4, 3, 4, 4), size=(128, 128), mode="bilinear", align_corners=False)
    hr = (smooth * 255).round().byte()  # face-like smoothness: JPEG's chroma subsampling barely touches it
    a = degrade_pair(hr, 32, torch.Generator().manual_seed(5))
    b = degrade_pair(hr, 32, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (4, 3, 32, 32) and a[1].shape == (4, 3, 128, 128)
    clean = Degradation(blur_sigma=(0.0, 0.0), noise=0.0, jpeg_quality=(100, 100), color_gain=0.0, color_offset=0.0)
    lr, target = degrade_pair(hr, 32, torch.Generator().manual_seed(5), clean)
    assert torch.allclose(target, hr.float() / 255)
    area = F.interpolate(hr.float() / 255, size=(32, 32), mode="area")
    assert (lr - area).abs().mean() < 0.01  # only the (near-lossless) JPEG is left
    assert (a[0] - F.interpolate(a[1], size=(32, 32), mode="area")).abs().mean() > 0.01  # real degradation


def test_sharpness_ranks_a_blurred_face_below_the_original():
    img = torch.rand(1, 3, 64, 64)
    blurred = F.avg_pool2d(img, 5, stride=1, padding=2)
    mask = torch.ones(1, 1, 64, 64)
    assert sharpness(blurred, mask)[0] < 0.2 * sharpness(img, mask)[0]


@pytest.mark.slow
def test_train_save_load_and_retrain(faceset_a, tmp_path):
    fs = FaceSet.open(faceset_a)
    result = train_upscaler(fs, tmp_path, "b", 32, quick())
    assert result.steps == 12 and not result.stopped
    assert result.path == tmp_path / "upscalers" / "b_32to128.json"
    saved = json.loads(result.path.read_text())
    assert saved["faceset"]["id"] == fs.manifest["id"] and saved["steps"] == 12
    assert set(saved["held_out"]) >= {"ssim_gauss11_upscaled", "ssim_gauss11_bicubic", "sharpness_upscaled", "sharpness_bicubic"}
    up = load_upscaler(tmp_path, "b", "cpu")
    assert up.in_size == 32 and up.out_size == 128 and not up.net.training
    out = up(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 3, 128, 128) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ModelMismatchError):
        up(torch.rand(1, 3, 64, 64))
    first = saved["weights"]
    train_upscaler(fs, tmp_path, "b", 32, quick(steps=3, seed=1))  # retrain: new weights replace the old
    names = sorted(p.name for p in (tmp_path / "upscalers").iterdir())
    again = json.loads(result.path.read_text())["weights"]
    assert again != first and set(names) == {"b_32to128.json", again}
    assert find_upscaler(tmp_path, "a") is None
    with pytest.raises(ModelError):
        load_upscaler(tmp_path, "a", "cpu")


def test_damaged_upscaler_files_are_refused(faceset_a, tmp_path):
    path = train_upscaler(FaceSet.open(faceset_a), tmp_path, "a", 32, quick(steps=1)).path
    weights = path.parent / json.loads(path.read_text())["weights"]
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="hash"):
        load_upscaler(tmp_path, "a", "cpu")
    weights.unlink()
    with pytest.raises(ModelError, match="missing"):
        load_upscaler(tmp_path, "a", "cpu")


def test_a_face_set_with_small_crops_is_refused(faceset_a, tmp_path):
    with pytest.raises(FaceSetError, match="--size 256"):
        train_upscaler(FaceSet.open(faceset_a), tmp_path, "a", 64, quick(out_size=256))
    with pytest.raises(ValueError):
        train_upscaler(FaceSet.open(faceset_a), tmp_path, "a", 32, quick(steps=None))


@pytest.mark.slow
def test_training_beats_bicubic_on_held_out_faces(faceset_a, tmp_path):
    torch.manual_seed(0)
    cfg = quick(steps=80, batch_size=8, patch=64, arch=dict(channels=16, blocks=2, up_channels=(16, 8)))
    metrics = train_upscaler(FaceSet.open(faceset_a), tmp_path, "a", 32, cfg).metrics
    assert metrics["l1_upscaled"] < metrics["l1_bicubic"]
    assert metrics["ssim_gauss11_upscaled"] > metrics["ssim_gauss11_bicubic"]
    assert metrics["sharpness_upscaled"] > metrics["sharpness_bicubic"]


@pytest.mark.slow
def test_train_beside_a_model_checks_everything_first_and_stops_on_time(faceset_a, faceset_b, tmp_path, tiny_config):
    """`masquerade train-upscaler`'s stage: the input size is the model's, bad values are refused before any work,
    and --minutes bounds the run."""
    from masquerade.errors import MasqueradeError
    from masquerade.train import train
    from masquerade.train.upscaler import train_model_upscaler

    model_dir = tmp_path / "model"
    train(faceset_a, faceset_b, model_dir, tiny_config)
    from masquerade.models.store import read_manifest

    size = read_manifest(model_dir).size
    for side, kw, match in (("c", dict(steps=1), "--side"), ("a", dict(steps=0), "--steps"),
                            ("a", dict(minutes=-1.0), "--minutes"), ("a", dict(steps=None), "--steps or --minutes")):
        with pytest.raises(MasqueradeError, match=match):
            train_model_upscaler(faceset_a, model_dir, side, config=quick(**kw))
    with pytest.raises(ModelError):
        train_model_upscaler(faceset_a, tmp_path / "nothing", "a", config=quick(steps=1))
    assert not (model_dir / "upscalers").exists()
    result = train_model_upscaler(faceset_a, model_dir, "a", config=quick(steps=None, minutes=1e-6))
    assert result.stopped and result.steps == 0  # the deadline had passed before the first step
    assert result.path.name == f"a_{size}to128.json"
    result = train_model_upscaler(faceset_a, model_dir, "a", config=quick(steps=2))
    assert result.steps == 2 and not result.stopped
