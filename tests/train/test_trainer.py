import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from masquerade.errors import ModelMismatchError
from masquerade.faceset import FaceSetManifest
from masquerade.models import load_model
from masquerade.models.store import find_snapshot, read_manifest, sha256_hex
from masquerade.train import train

pytestmark = pytest.mark.slow  # every test here trains a model (the fast loop leaves them to CI)



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


@pytest.mark.parametrize("turn, blink, hair_out", [(0.0, 0.0, False), (12.0, 0.3, True)])
def test_stop_then_resume_equals_one_continuous_run(faceset_a, faceset_b, tiny_config, tmp_path, turn, blink, hair_out):
    # GAN on after step 6 so the discriminator, both optimisers and the augmentation RNG must all resume;
    # with the 3-D turn, the blinks and the hair left out of the masks, their draws, the depth maps and the
    # trimmed masks (rebuilt from the face set) must resume too.
    cfg = replace(tiny_config, steps=16, gan_weight=0.1, gan_warmup=6, turn=turn, blink=blink, hair_out=hair_out)
    train(faceset_a, faceset_b, tmp_path / "continuous", cfg)

    done = []
    first = train(faceset_a, faceset_b, tmp_path / "resumed", cfg,
                  progress=lambda *a: done.append(1), should_stop=lambda: len(done) >= 9)
    assert first.stopped and first.step == 9
    assert read_manifest(tmp_path / "resumed").step == 9
    second = train(faceset_a, faceset_b, tmp_path / "resumed", cfg)
    assert second.step == 16 and second.steps_run == 7 and not second.stopped

    a, b = _weights(tmp_path / "continuous"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_model_folder_loads_with_safetensors_and_json_only(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    result = train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=3))
    assert sorted(p.name for p in model_dir.iterdir() if p.name != "occlusion") in (["previews", "snapshots"], ["metrics.jsonl", "previews", "snapshots"])
    assert all(p.suffix in (".json", ".safetensors") for p in model_dir.glob("occlusion/*"))  # visible-face maps
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
    fs_manifest = FaceSetManifest.read(faceset_a)
    assert (model.config.template, model.config.coverage) == (fs_manifest.template, fs_manifest.coverage)
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
    assert read_manifest(model_dir).step == 2


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
    # the wall time since the last line and housekeeping's part of it: the second window holds the first preview
    assert lines[0]["housekeeping_s"] == 0.0 < lines[1]["housekeeping_s"] < lines[1]["wall_s"]


def test_held_out_scores_are_logged_and_report_html_is_written(faceset_a, faceset_b, tiny_config, tmp_path):
    model_dir = tmp_path / "m"
    train(faceset_a, faceset_b, model_dir, replace(tiny_config, steps=6, preview_every=3, preview_faces=2, holdout=0.2))
    lines = [json.loads(ln) for ln in (model_dir / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [3, 6]
    for ln in lines:
        assert {f"val_{k}_{s}" for k in ("ssim_gauss11", "ssim_gauss11_face", "l1") for s in "ab"} <= set(ln)
        assert 0 <= ln["val_ssim_gauss11_a"] <= 1 and ln["val_l1_b"] > 0
        assert not any(k.startswith("val_id_") for k in ln)  # identity only every few previews
    page = (model_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # the curves and the latest preview grid
    assert not list(model_dir.glob(".*"))  # written atomically: no temp file left

    off = tmp_path / "off"
    train(faceset_a, faceset_b, off, replace(tiny_config, steps=3, preview_every=3, preview_faces=2, holdout=0.0))
    (line,) = [json.loads(ln) for ln in (off / "metrics.jsonl").read_text().splitlines()]
    assert not any(k.startswith("val_") for k in line)


def test_training_never_sees_the_held_out_faces(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    from masquerade.train import trainer
    from masquerade.train.validation import FaceSubset

    seen = []
    real = trainer.load_bank
    monkeypatch.setattr(trainer, "load_bank", lambda fs, *a: seen.append(fs) or real(fs, *a))
    train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, steps=1, holdout=0.2))
    assert all(isinstance(fs, FaceSubset) for fs in seen) and len(seen) == 2
    for fs in seen:
        held = set(range(len(fs.faceset.records))) - set(fs.indices)
        assert held and not held & set(fs.indices)


def test_init_from_copies_the_shared_encoder_but_not_the_decoders(faceset_a, faceset_b, tiny_config, tmp_path):
    cfg = replace(tiny_config, steps=2, holdout=0.0)
    train(faceset_a, faceset_b, tmp_path / "donor", cfg)
    donor = _weights(tmp_path / "donor")
    # lr ~0 so one step leaves the starting weights visible (Adam's first step moves each weight by ~lr)
    warm = replace(cfg, steps=1, lr=1e-12, seed=11, init_from=str(tmp_path / "donor"))
    result = train(faceset_a, faceset_b, tmp_path / "warm", warm)
    cold = train(faceset_a, faceset_b, tmp_path / "cold", replace(warm, init_from=None))
    got, fresh = _weights(tmp_path / "warm"), _weights(tmp_path / "cold")
    from masquerade.train.warmstart import DECODER_PREFIXES  # the decoders and their expression maps

    shared = [k for k in donor if not k.startswith(DECODER_PREFIXES)]
    assert shared and len(shared) < len(donor)
    for k in donor:
        if k in shared:
            torch.testing.assert_close(got[k], donor[k], rtol=0, atol=1e-9, msg=k)
        elif donor[k].is_floating_point() and donor[k].numel() > 1:
            torch.testing.assert_close(got[k], fresh[k], rtol=0, atol=1e-9, msg=k)  # the seed's own decoders
    assert read_manifest(tmp_path / "warm").init_from["weights_sha256"] == sha256_hex(
        find_snapshot(tmp_path / "donor").weights.read_bytes())
    assert result.notes == () and cold.notes == ()

    both = train(faceset_a, faceset_b, tmp_path / "both", replace(warm, init_decoders=True))
    dec = [k for k in donor if k.startswith(DECODER_PREFIXES) and donor[k].is_floating_point()]
    assert any(k.startswith("expression_maps.") for k in dec)
    got = _weights(tmp_path / "both")
    assert all(torch.allclose(got[k], donor[k], atol=1e-9) for k in dec)

    # resuming ignores the flag (with a note); a different size or width is refused in one line
    again = train(faceset_a, faceset_b, tmp_path / "cold", replace(warm, steps=2))
    assert any("--init-from" in n and "ignored" in n for n in again.notes)
    with pytest.raises(ModelMismatchError, match="e_dims 8 vs 16"):
        train(faceset_a, faceset_b, tmp_path / "wide", replace(warm, model_options=dict(cfg.model_options, e_dims=16)))
    assert not (tmp_path / "wide").exists()


def test_balanced_sampling_draws_by_the_banks_weights(faceset_a, monkeypatch):
    from masquerade.faceset import FaceSet
    from masquerade.train import batches, distributed
    from masquerade.train.augment import AugmentSettings
    from masquerade.train.data import load_bank

    fs = FaceSet.open(faceset_a)
    bank = load_bank(fs, 64, torch.device("cpu"), balance=True)
    assert bank.weights is not None and len(bank.weights) == len(bank) and float(bank.weights.sum()) == pytest.approx(1)
    assert load_bank(fs, 64, torch.device("cpu")).weights is None
    drawn = []
    real_apply = batches.apply
    monkeypatch.setattr(batches, "apply", lambda pixels, *a: drawn.append(pixels) or real_apply(pixels, *a))
    bank.weights = torch.zeros(len(bank), dtype=torch.float64)
    bank.weights[2] = 1.0  # only face 2 may ever be drawn
    gen = torch.Generator().manual_seed(0)
    batches.sample_batch(bank, 4, gen, AugmentSettings(), distributed.Ranks(), torch.device("cpu"))
    assert all(torch.equal(p, bank.pixels[2]) for p in drawn[0])


def test_auto_plan_switches_on_the_held_out_curve_and_resumes_exactly(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                     monkeypatch):
    from masquerade.train import monitor, trainer
    from masquerade.train.plan import PlanConfig
    from masquerade.train.step import StepRunner

    # every phase ends at its 2nd evaluation (any gain below 1000% is a plateau): switches at steps 4 and 8
    monkeypatch.setattr(monitor, "PLAN_CONFIG", PlanConfig(patience=1, min_improvement=10.0, min_steps=2,
                                                           detail_share=0.0))  # plateaus only: no budget switch
    seen = []
    sample, step = trainer.sample_batch, StepRunner.step
    monkeypatch.setattr(trainer, "sample_batch", lambda bank, n, gen, aug, *a: seen.append(["warp", aug.warp]) or sample(bank, n, gen, aug, *a))
    monkeypatch.setattr(StepRunner, "step", lambda self, a, b, lr, gan_on, dropout_seed=None:
                        seen.append(["dropout", dropout_seed is not None]) or step(self, a, b, lr, gan_on, dropout_seed))
    cfg = replace(tiny_config, steps=10, preview_every=2, preview_faces=2, holdout=0.2, plan="auto")
    train(faceset_a, faceset_b, tmp_path / "continuous", cfg)
    lines = [json.loads(ln) for ln in (tmp_path / "continuous" / "metrics.jsonl").read_text().splitlines()]
    events = [(e["step"], e["phase"], e["reason"]) for e in lines if e.get("event") == "plan"]
    assert events == [(0, "warp", "start"), (4, "lr_dropout", "plateau"), (8, "no_warp", "plateau")]
    warps = [w for k, w in seen if k == "warp"][::2]  # two draws (A and B) per step
    drops = [d for k, d in seen if k == "dropout"]
    assert warps == [True] * 8 + [False] * 2 and drops == [False] * 4 + [True] * 6
    assert "no_warp" in (tmp_path / "continuous" / "report.html").read_text()

    done = []
    first = train(faceset_a, faceset_b, tmp_path / "resumed", cfg,
                  progress=lambda *a: done.append(1), should_stop=lambda: len(done) >= 5)
    assert first.step == 5
    train(faceset_a, faceset_b, tmp_path / "resumed", cfg)
    again = [json.loads(ln) for ln in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [(e["step"], e["phase"]) for e in again if e.get("event") == "plan"] == [(s, p) for s, p, _ in events]
    a, b = _weights(tmp_path / "continuous"), _weights(tmp_path / "resumed")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)

    manual = train(faceset_a, faceset_b, tmp_path / "noholdout", replace(cfg, steps=1, holdout=0.0))
    assert any("--plan auto" in n for n in manual.notes)


def test_a_bounded_run_keeps_its_last_share_for_the_warp_off_phase(faceset_a, faceset_b, tiny_config, tmp_path,
                                                                   monkeypatch):
    """With the default plan a short budget never reaches a plateau (min_steps 1000); the last 30% of --steps
    still trains with the warp off, switched at the first preview past 70%."""
    from masquerade.train import trainer

    seen = []
    sample = trainer.sample_batch
    monkeypatch.setattr(trainer, "sample_batch", lambda bank, n, gen, aug, *a: seen.append(aug.warp) or sample(bank, n, gen, aug, *a))
    cfg = replace(tiny_config, steps=10, preview_every=1, preview_faces=2, holdout=0.2, plan="auto")
    train(faceset_a, faceset_b, tmp_path / "m", cfg)
    lines = [json.loads(ln) for ln in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    events = [e for e in lines if e.get("event") == "plan"]
    assert [(e["step"], e["phase"], e["reason"]) for e in events] == [(0, "warp", "start"), (7, "no_warp", "budget")]
    assert events[1]["previous"] == "warp" and events[1]["budget_used"] == pytest.approx(0.7)
    assert seen[::2] == [True] * 7 + [False] * 3
    # continued with a larger budget: the warp comes back until 70% of the new one
    train(faceset_a, faceset_b, tmp_path / "m", replace(cfg, steps=20))
    lines = [json.loads(ln) for ln in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert [(e["step"], e["phase"], e["reason"]) for e in lines if e.get("event") == "plan"][2:] == [
        (11, "warp", "budget grew"), (14, "no_warp", "budget")]
    # step 11 still trains as the snapshot left it (the plan reconsiders at each preview), 12-14 warped
    assert seen[20::2] == [False] + [True] * 3 + [False] * 6


def test_minutes_end_a_run_as_a_budget_not_as_an_interruption(faceset_a, faceset_b, tiny_config, tmp_path):
    res = train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, steps=None, minutes=0.02, preview_every=0))
    assert res.step >= 1 and not res.stopped
    assert _weights(tmp_path / "m")  # ended cleanly: a complete snapshot on disk
