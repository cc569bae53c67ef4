import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from masquerade.errors import ModelMismatchError
from masquerade.models import load_model
from masquerade.models.store import find_snapshot, read_manifest, sha256_hex
from masquerade.train import train



def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(find_snapshot(model_dir).weights), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_loss_falls_over_60_steps(faceset_a, faceset_b, tiny_config, tmp_path):
    losses = []
    progress = lambda task, done, total, stats: losses.append(stats["loss_a"] + stats["loss_b"])  # noqa: E731
    result = train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, steps=60), progress=progress)
    assert result.step == 60 and result.steps_run == 60 and not result.stopped
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])


def test_stop_then_resume_equals_one_continuous_run(faceset_a, faceset_b, tiny_config, tmp_path):
    # GAN on after step 6 so the discriminator, both optimisers and the augmentation RNG must all resume.
    cfg = replace(tiny_config, steps=16, gan_weight=0.1, gan_warmup=6)
    train(faceset_a, faceset_b, tmp_path / "continuous", cfg)

    done = []
    first = train(faceset_a, faceset_b, tmp_path / "resumed", cfg,
                  progress=lambda *a: done.append(1), should_stop=lambda: len(done) >= 9)
    assert first.stopped and first.step == 9
    assert read_manifest(tmp_path / "resumed")["step"] == 9
    second = train(faceset_a, faceset_b, tmp_path / "resumed", cfg)
    assert second.step == 16 and second.steps_run == 7 and not second.stopped

    a, b = _weights(tmp_path / "continuous"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_model_folder_loads_with_safetensors_and_json_only(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=3))
    assert sorted(p.name for p in model_dir.iterdir()) in (["previews", "snapshots"], ["metrics.jsonl", "previews", "snapshots"])
    assert [p.name for p in (model_dir / "snapshots").iterdir()] == ["step_0000003"]
    files = sorted(p.name for p in (model_dir / "snapshots" / "step_0000003").iterdir())
    assert files == ["model.json", "model.safetensors", "state.json", "state.safetensors"]
    assert not list(model_dir.rglob(".*"))  # no temp files or partial folders left behind

    def no_pickle(*a, **k):
        raise AssertionError("load_model must not unpickle")

    monkeypatch.setattr(torch, "load", no_pickle)
    model = load_model(model_dir, device="cpu")
    assert model.hash == result.weights_hash == sha256_hex(find_snapshot(model_dir).weights.read_bytes())
    assert model.note is None and result.notes == ()
    assert (model.config.architecture, model.config.size) == ("lite", 64)
    fs_manifest = json.loads((Path(faceset_a) / "faceset.json").read_text())
    assert (model.config.template, model.config.coverage) == (fs_manifest["template"], fs_manifest["coverage"])
    faces = torch.rand(3, 3, 64, 64)
    for direction in ("a2b", "b2a", "a2a", "b2b"):
        face, mask = model.swap(faces, direction)
        assert face.shape == (3, 3, 64, 64) and mask.shape == (3, 1, 64, 64) and not face.requires_grad
    assert not torch.equal(model.swap(faces, "a2b")[0], model.swap(faces, "a2a")[0])
    with pytest.raises(ModelMismatchError, match="64"):
        model.swap(torch.rand(1, 3, 32, 32), "a2b")


def test_mismatched_face_sets_are_refused(faceset_a, faceset_b, tiny_config, tmp_path, edited_faceset):
    EditedFaceSet = edited_faceset
    model_dir = tmp_path / "m"
    cfg = replace(tiny_config, steps=2)
    with pytest.raises(ModelMismatchError, match="coverage"):
        train(EditedFaceSet(faceset_a, coverage="head"), faceset_b, model_dir, cfg)
    with pytest.raises(ModelMismatchError, match="at least 64 px"):
        train(EditedFaceSet(faceset_a, size=48), faceset_b, model_dir, cfg)
    assert not model_dir.exists()

    train(faceset_a, faceset_b, model_dir, cfg)
    with pytest.raises(ModelMismatchError, match="template"):
        train(EditedFaceSet(faceset_a, template="other-v9"), EditedFaceSet(faceset_b, template="other-v9"), model_dir,
              replace(cfg, steps=4))
    with pytest.raises(ModelMismatchError, match="holds a 'lite' model"):
        train(faceset_a, faceset_b, model_dir, replace(cfg, model="original", steps=4))
    assert read_manifest(model_dir)["step"] == 2


def test_preview_grid_and_metrics_log(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=6, preview_every=3, preview_faces=3))
    pngs = sorted((model_dir / "previews").glob("*.png"))
    assert [p.name for p in pngs] == ["step_0000003.png", "step_0000006.png"] and result.last_preview == pngs[-1]
    img = cv2.imread(str(pngs[-1]))
    assert img.shape == (3 * 64, 6 * 64, 3)
    lines = [json.loads(ln) for ln in (model_dir / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [3, 6]
    assert {"loss_a", "loss_b", "samples_per_s", "lr"} <= set(lines[0])
