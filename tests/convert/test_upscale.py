"""`--upscale auto|off`: convert runs the target identity's upscaler (models/upscaler.py) when the model folder
has one, at 256 px, and is unchanged when it has none."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from masquerade.convert import ConvertConfig, convert, make_steps, open_model, run_frames
from masquerade.convert.steps import close_steps
from masquerade.errors import MasqueradeError
from masquerade.media import read_frames, write_image
from masquerade.models.manifest import UpscalerManifest
from masquerade.models.upscaler import IdentityUpscaler, UpscalerConfig, save_upscaler
from masquerade.samples import make_clip

TINY = dict(e_dims=8, ae_dims=32, d_dims=8)


@pytest.fixture(scope="module")
def model_dir(faceset_a, faceset_b, tmp_path_factory):
    """A 2-step tiny `lite` model (64 px) and no upscaler."""
    from masquerade.train import TrainConfig, train

    out = tmp_path_factory.mktemp("upscale-model") / "model"
    train(faceset_a, faceset_b, out, TrainConfig(model="lite", model_options=dict(TINY), batch_size=4, steps=2,
                                                  device="cpu", precision="fp32", save_every=None, preview_every=0, seed=1))
    return out


def _with_upscaler(model_dir, tmp_path, side="b"):
    """A copy of the model folder with a 64 -> 256 upscaler for `side` whose detail branch is not zero (an
    untrained one is exactly bicubic, which would hide a step that does not run)."""
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    torch.manual_seed(0)
    net = IdentityUpscaler(UpscalerConfig(in_size=64, out_size=256, channels=8, blocks=1, up_channels=(8, 8)))
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.05)
    save_upscaler(folder, net, UpscalerManifest(side, dataclasses.asdict(net.config)))
    return folder


def _still(tmp_path):
    path = tmp_path / "in.png"
    write_image(path, make_clip("astronaut", frames=2, seed=4).frames[0])
    return path


def _swap(model_dir, src, mode):
    """The swapped frame (before the watermark, which differs per output file) and its first face."""
    model = open_model(model_dir, "cpu")
    steps = make_steps(model, ConvertConfig(device="cpu", upscale=mode), video=False)
    done = []
    try:
        run_frames(read_frames(src), steps, done.append)
    finally:
        close_steps(steps)
    assert done[0].faces
    return done[0].output.astype(int), done[0].faces[0], [s.name for s in steps]


@pytest.mark.slow
def test_auto_uses_the_upscaler_at_256_px_and_off_does_not(model_dir, tmp_path):
    folder = _with_upscaler(model_dir, tmp_path)
    src = _still(tmp_path)
    auto, face, names = _swap(folder, src, "auto")
    assert "upscale" in names and face.face.shape == (256, 256, 3) and face.mask.shape == (256, 256)
    off, face, names = _swap(folder, src, "off")
    assert "upscale" not in names and face.face.shape == (64, 64, 3)
    assert np.abs(auto - off).mean() > 0.05  # the upscaled face differs from the stretched 64 px face
    # the real convert path (files, watermark, signature) runs the same step by default
    ran = convert(src, folder, tmp_path / "auto.png", ConvertConfig(device="cpu")).stage_seconds
    assert "upscale" in ran
    ran = convert(src, folder, tmp_path / "off.png", ConvertConfig(device="cpu", upscale="off")).stage_seconds
    assert "upscale" not in ran


@pytest.mark.slow
def test_no_upscaler_for_the_target_side_is_the_same_as_off(model_dir, tmp_path):
    folder = _with_upscaler(model_dir, tmp_path, side="a")  # a2b renders B: A's upscaler must not be used
    src = _still(tmp_path)
    auto, _, names = _swap(folder, src, "auto")
    off, _, _ = _swap(folder, src, "off")
    assert "upscale" not in names and np.array_equal(auto, off)
    plain, _, _ = _swap(model_dir, src, "auto")
    assert np.array_equal(plain, off)


def test_upscale_value_is_validated():
    with pytest.raises(MasqueradeError, match="--upscale"):
        ConvertConfig(upscale="on").validate()


@pytest.mark.slow
def test_ray_workers_get_the_upscaler_from_the_driver(model_dir, tmp_path, monkeypatch):
    """Ray tasks rebuild the model from bytes (no folder to look in): the driver reads the upscaler and ships it,
    and a worker given none never looks for one. Run here without a cluster, with the worker's model cached."""
    from masquerade.models.store import find_snapshot
    from masquerade.scale import convert_jobs, payload

    folder = _with_upscaler(model_dir, tmp_path)
    src = _still(tmp_path)
    snap = find_snapshot(folder)
    shipped = payload.ModelBytes(snap.manifest, snap.weights.read_bytes(), "ab" * 32)
    handle = payload.ModelHandle("bytes:test", shipped.hash, [])
    monkeypatch.setitem(payload._CACHE, "bytes:test@cpu", shipped.build("cpu"))
    config = ConvertConfig(device="cpu")
    found = convert_jobs._find_upscaler(folder, config)
    assert found is not None and found[0].side == "b"
    assert convert_jobs._find_upscaler(folder, ConvertConfig(upscale="off")) is None
    assert convert_jobs._find_upscaler(model_dir, config) is None
    ran = convert_jobs._convert_file(str(src), handle, str(tmp_path / "up.png"), config, found)["stage_seconds"]
    assert "upscale" in ran
    ran = convert_jobs._convert_file(str(src), handle, str(tmp_path / "plain.png"), config, None)["stage_seconds"]
    assert "upscale" not in ran
