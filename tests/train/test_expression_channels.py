"""Expression channels (issue 15): a model can be told what the source face is doing (mouth, eyes, smile,
head turn, nod, measured from its landmarks relative to that person's usual face), and every path that
renders a face (training, previews, held-out scores, convert, evaluate) tells it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_sampling import face

from masquerade.faces.landmark_measures import eye_opening, mouth_opening, yaw_proxy
from masquerade.faces.expression_reference import MEASURES, USUAL, YAW, baseline, measures, neutral_baseline
from masquerade.models import build_model
from masquerade.models.expression_input import ExpressionCode

SMALL = dict(e_dims=8, ae_dims=16, d_dims=8, expression=4)
SMALL_NETS = {"lite": SMALL, "hd": dict(SMALL, size=64, d_mask_dims=4)}  # every architecture with the channels


def test_measures_read_the_landmarks_as_ratios():
    m = measures(np.stack([face(0, mouth=0.2, eye=0.08), face(25), face(-25)]))
    assert m.shape == (3, len(MEASURES)) and m.dtype == np.float32
    assert m[0, 0] == pytest.approx(0.2) and m[0, 1] == pytest.approx(0.08)
    assert m[1, YAW] == pytest.approx(25.0) and m[2, YAW] == pytest.approx(-25.0)
    scaled = measures(face(10, mouth=0.1) * 3.0)  # any pixel frame: every measure is a ratio
    assert np.allclose(scaled, measures(face(10, mouth=0.1)), atol=1e-5)
    degenerate = face(0)
    degenerate[[33, 263]] = 0.0
    assert np.isnan(measures(degenerate)).all()


def test_measures_of_a_tensor_are_the_numpy_ones_on_its_device():
    """The trainer reads turned and blinked faces' measures from tensors; they must match what the face bank,
    held-out scores and convert read from arrays."""
    degenerate = face(0)
    degenerate[[33, 263]] = 0.0
    edge_on = face(0)
    edge_on[[234, 454], 0] = edge_on[1, 0]  # cheek edges on the nose: the yaw alone is unknown
    faces = np.stack([face(0, mouth=0.2, eye=0.08), face(25), face(-25, mouth=0.4), degenerate, edge_on])
    want = measures(faces)
    got = measures(torch.from_numpy(faces))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32 and got.shape == want.shape
    assert np.array_equal(np.isnan(got.numpy()), np.isnan(want)) and np.isnan(want[4, YAW]) and np.isfinite(want[4, 0])
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    for lm, row in zip(faces[:3], want[:3]):  # the vectorised formula reads what the per-face readings do
        assert row[:2] == pytest.approx([mouth_opening(lm), eye_opening(lm)], abs=1e-6)
        assert row[YAW] == pytest.approx(yaw_proxy(lm), abs=1e-4)


def test_the_code_is_relative_to_each_persons_usual_face():
    people = {"a": [face(0, eye=0.12)] * 20, "b": [face(0, eye=0.06)] * 20}
    code = ExpressionCode()
    for side, faces in people.items():
        code.set_baseline(side, baseline(measures(np.stack(faces))))
    at_rest = {side: code(torch.from_numpy(measures(np.stack(faces[:1]))), side)[0] for side, faces in people.items()}
    for side in people:  # each person's own usual face reads as 0 (eyes, smile, pitch)
        assert at_rest[side][[1, 2, 4]].abs().max() < 1e-5, side
    shut = torch.from_numpy(measures(face(0, eye=0.01)[None]))
    assert code(shut, "a")[0, 1] < -1.5 and code(shut, "b")[0, 1] < -1.0  # shut is shut for narrow eyes too
    wide_for_b = torch.from_numpy(measures(face(0, eye=0.12)[None]))
    assert code(wide_for_b, "b")[0, 1] > 1.5 and abs(float(code(wide_for_b, "a")[0, 1])) < 1e-5
    assert torch.equal(code(torch.full((1, 5), float("nan")), "a"), torch.zeros(1, 5))  # unknown: at rest


def nodding(drop: float) -> np.ndarray:
    """A frontal face whose nose tip sits `drop` face sizes below its eye line (the pitch measure)."""
    pts = face(0)
    pts[1, 1] = 40.0 + drop * 60
    return pts


def test_with_absolute_pitch_the_nod_is_read_alike_for_both_people():
    """b usually holds his head lower (a larger nose drop) than a. Relative, a at her usual tilt reads as
    'usual tilt' and his decoder draws his; absolute, she reads as holding her head higher than his usual."""
    pitch = MEASURES.index("pitch")
    usual = {"a": 0.45, "b": 0.57}
    relative, absolute = ExpressionCode(), ExpressionCode()
    for side, drop in usual.items():
        m = measures(np.stack([nodding(drop)] * 20))
        fitted, typical = baseline(m), baseline(m, absolute_pitch=True)
        assert fitted[2] == pytest.approx(drop, abs=1e-6) and typical[2] == pytest.approx(USUAL[2])
        assert np.array_equal(fitted[:2], typical[:2])  # eyes and smile stay relative to the person
        relative.set_baseline(side, fitted)
        absolute.set_baseline(side, typical)
    her_usual = torch.from_numpy(measures(nodding(usual["a"])[None]))
    assert abs(float(relative(her_usual, "a")[0, pitch])) < 1e-5
    assert float(absolute(her_usual, "a")[0, pitch]) == pytest.approx((usual["a"] - USUAL[2]) / 0.05, abs=1e-4)
    his_usual = torch.from_numpy(measures(nodding(usual["b"])[None]))
    gap = float(absolute(his_usual, "b")[0, pitch] - absolute(her_usual, "a")[0, pitch])
    assert gap == pytest.approx((usual["b"] - usual["a"]) / 0.05, abs=1e-4)  # his usual tilt is lower than hers


@pytest.mark.slow
def test_training_with_the_turn_reads_the_nod_absolute(faceset_a, faceset_b, tiny_config, tmp_path):
    import dataclasses

    from masquerade.convert import open_model
    from masquerade.faceset import FaceSet
    from masquerade.train import train
    from masquerade.train.validation import split_faceset

    config = dataclasses.replace(tiny_config, steps=2, preview_every=0, turn=12.0,
                                 model_options={**tiny_config.model_options, "expression": 4, "expression_code": 1})
    train(faceset_a, faceset_b, tmp_path / "m", config)
    saved = open_model(tmp_path / "m", "cpu").net.expression.baseline
    for i, path in enumerate((faceset_a, faceset_b)):
        fs = FaceSet.open(path)
        kept = split_faceset(fs, config.holdout).train
        own = baseline(measures(fs.load_tensors(64).landmarks.numpy()[kept]))
        assert np.allclose(saved[i, :2].numpy(), own[:2], atol=1e-6) and float(saved[i, 2]) == pytest.approx(USUAL[2])
        assert abs(float(own[2]) - USUAL[2]) > 1e-3  # the test's faces do differ from the typical nose drop
    # resumed with the turn off, the reading stays as created, and the user is told so
    resumed = train(faceset_a, faceset_b, tmp_path / "m", dataclasses.replace(config, steps=3, turn=0.0))
    assert any("keeps reading the nod as it was created" in n for n in resumed.notes), resumed.notes
    assert torch.equal(open_model(tmp_path / "m", "cpu").net.expression.baseline, saved)
    same = train(faceset_a, faceset_b, tmp_path / "m", dataclasses.replace(config, steps=4))
    assert not any("nod" in n for n in same.notes), same.notes
    # the neutral-referenced code (version 2) reads the nod about the typical face too, and the head turn about 0
    config = dataclasses.replace(config, model_options={**config.model_options, "expression_code": 2})
    train(faceset_a, faceset_b, tmp_path / "v2", config)
    saved = open_model(tmp_path / "v2", "cpu").net.expression.baseline
    assert saved.shape == (2, 3, len(MEASURES))
    assert torch.allclose(saved[:, 0, MEASURES.index("pitch")], torch.tensor(USUAL[2])) and (saved[:, 0, YAW] == 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL_NETS))
@pytest.mark.parametrize("variant", ["df", "liae"])
def test_the_decoder_reads_the_measures_and_saves_the_baselines(name, variant):
    torch.manual_seed(0)
    net = build_model(name, {**SMALL_NETS[name], "variant": variant}).eval()
    x = torch.rand(2, 3, 64, 64)
    shut, wide = (torch.from_numpy(measures(np.stack([face(0, mouth=m, eye=e)] * 2))) for m, e in ((0.0, 0.01), (0.3, 0.1)))
    with torch.no_grad():
        assert not torch.allclose(net.render(x, "b", shut, "a")[0], net.render(x, "b", wide, "a")[0])
        fa, _, fb, _ = net.reconstruct(x, x, shut, wide)  # training's pass = render, side by side
        assert torch.allclose(fa, net.render(x, "a", shut)[0], atol=1e-5)
        assert torch.allclose(fb, net.render(x, "b", wide)[0], atol=1e-5)
    values = torch.rand_like(net.expression.baseline[1]) + 0.1
    net.expression.set_baseline("b", values)
    assert torch.allclose(net.state_dict()["expression.baseline"][1], values)
    plain = build_model(name, {**SMALL_NETS[name], "expression": 0}).eval()
    with torch.no_grad():  # a net without expression channels ignores measures
        assert plain.expression_map("a") is None
        assert torch.equal(plain.render(x, "b", shut, "a")[0], plain.render(x, "b")[0])


def test_a_flipped_training_face_turns_its_head_the_other_way():
    from masquerade.train.augment import AugmentSettings
    from masquerade.train.data import FaceBank
    from masquerade.train.distributed import Ranks
    from masquerade.train.batches import sample_batch

    m = torch.from_numpy(measures(np.stack([face(20)] * 16)))
    bank = FaceBank(torch.randint(0, 255, (16, 5, 64, 64), dtype=torch.uint8), {}, None, m)
    batch = sample_batch(bank, 16, torch.Generator().manual_seed(1), AugmentSettings(warp=False), Ranks(), torch.device("cpu"))
    yaw = batch.measures[:, YAW]
    assert set(np.round(yaw.numpy(), 3)) == {20.0, -20.0}  # both: some faces were flipped, some not
    assert torch.equal(batch.measures[:, :YAW], m[:, :YAW])  # a flip changes nothing else


@pytest.mark.slow
def test_training_fits_each_persons_baseline_once_and_convert_reads_the_source(faceset_a, faceset_b, clip_a,
                                                                              tiny_config, tmp_path):
    import dataclasses

    from masquerade.convert import ConvertConfig, convert, open_model
    from masquerade.faceset import FaceSet
    from masquerade.train import train
    from masquerade.train.validation import split_faceset

    config = dataclasses.replace(tiny_config, model_options={**tiny_config.model_options, "expression": 4},
                                 steps=6, preview_every=3)
    model_dir = tmp_path / "m"
    train(faceset_a, faceset_b, model_dir, config)
    model = open_model(model_dir, "cpu")
    assert model.takes_expression
    for i, path in enumerate((faceset_a, faceset_b)):  # fitted on the faces it trained on (held-out ones left out)
        fs = FaceSet.open(path)
        kept = split_faceset(fs, config.holdout).train
        want = neutral_baseline(measures(fs.load_tensors(64).landmarks.numpy()[kept]))  # a new model's: version 2
        assert np.allclose(model.net.expression.baseline[i].numpy(), want, atol=1e-6)
    train(faceset_a, faceset_b, model_dir, dataclasses.replace(config, steps=8))  # a resume keeps them
    assert torch.equal(open_model(model_dir, "cpu").net.expression.baseline, model.net.expression.baseline)

    seen = []
    original = model.swap

    def spy(faces, direction, chunk=64, measures=None):
        seen.append(measures)
        return original(faces, direction, chunk, measures)

    model.swap = spy
    convert(clip_a[0], model, tmp_path / "out.mp4", ConvertConfig(), max_frames=4)
    got = torch.cat(seen)
    assert got.shape == (4, len(MEASURES)) and torch.isfinite(got).all()
    assert (got[:, 1] > 0.01).all() and (got[:, 2] > 0.2).all()  # eyes open, a mouth as wide as a mouth is


@pytest.mark.slow
def test_models_saved_before_the_setting_existed_keep_loading(faceset_a, faceset_b, tiny_config, tmp_path):
    """New lite models have expression channels by default; a folder saved without the setting rebuilds the
    network it saved (none), for convert, resume and --init-from alike."""
    import json

    from masquerade.convert import open_model
    from masquerade.models import make_config, saved_config
    from masquerade.train import train

    for name in SMALL_NETS:  # new models have the channels, a saved one without the setting has none
        assert make_config(name).expression == 16 and saved_config(name, {}).expression == 0
    model_dir = tmp_path / "old"
    train(faceset_a, faceset_b, model_dir, dataclasses_replace(tiny_config, model_options={**tiny_config.model_options,
                                                                                           "expression": 0}, steps=2))
    for manifest in model_dir.glob("snapshots/*/model.json"):  # as an older version wrote it
        data = json.loads(manifest.read_text())
        del data["arch_config"]["expression"]
        manifest.write_text(json.dumps(data))
    assert not open_model(model_dir, "cpu").takes_expression
    assert train(faceset_a, faceset_b, model_dir, dataclasses_replace(tiny_config, model=None, steps=3)).step == 3


def dataclasses_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


@pytest.mark.slow
def test_models_saved_with_the_five_measure_code_keep_loading_and_swapping_as_before(faceset_a, faceset_b,
                                                                                       tiny_config, tmp_path):
    """A model saved before the neutral-referenced code existed (no `expression_code` in its settings) is
    rebuilt with the older code, its p90/median baselines, and swaps exactly as it did."""
    import json

    from masquerade.convert import open_model
    from masquerade.train import train

    options = {**tiny_config.model_options, "expression": 4, "expression_code": 1}
    model_dir = tmp_path / "old"
    train(faceset_a, faceset_b, model_dir, dataclasses_replace(tiny_config, model_options=options, steps=2))
    faces = torch.rand(3, 3, 64, 64)
    marks = torch.from_numpy(measures(np.stack([face(0, mouth=0.2), face(20), face(-10, eye=0.02)])))
    before = open_model(model_dir, "cpu")
    want = before.swap(faces, "a2b", measures=marks)[0]
    assert before.net.expression.baseline.shape == (2, 3)
    for manifest in model_dir.glob("snapshots/*/model.json"):  # as an older version wrote it
        data = json.loads(manifest.read_text())
        del data["arch_config"]["expression_code"]
        data.pop("expression_code", None)
        manifest.write_text(json.dumps(data))
    old = open_model(model_dir, "cpu")
    assert old.net.expression.version == 1 and torch.equal(old.net.expression.baseline, before.net.expression.baseline)
    assert torch.equal(old.swap(faces, "a2b", measures=marks)[0], want)
    assert torch.equal(old.swap(faces, "a2b", measures=marks[:, :5])[0], want)  # it reads the first five only
