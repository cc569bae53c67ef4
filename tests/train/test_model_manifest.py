"""The model folder's manifests as typed records: every shape earlier versions wrote still reads (with the
defaults those versions meant), today's shape round-trips, and what no version wrote is refused with a
reason instead of failing later inside convert."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from masquerade.convert import faceset_size
from masquerade.errors import ModelError
from masquerade.faces.align import TEMPLATE_NAME
from masquerade.models import build_model, load_model
from masquerade.models.manifest import ModelManifest, UpscalerManifest
from masquerade.models.store import MODEL_JSON, WEIGHTS, find_snapshot, save_weights

TINY = dict(e_dims=8, ae_dims=32, d_dims=8)


def _old_folder(path, **manifest):
    """A model folder of the earlier layout (four files at its top) whose model.json holds exactly `manifest`
    besides what every version wrote (schema, architecture, settings, size)."""
    torch.manual_seed(0)
    net = build_model("lite", dict(TINY))
    path.mkdir(parents=True)
    digest = save_weights(net, path / WEIGHTS)
    written = {"schema_version": 1, "architecture": "lite", "arch_config": dataclasses.asdict(net.config),
               "size": net.config.size, "template": TEMPLATE_NAME, "coverage": "face", **manifest}
    written = {k: (digest if v == "<digest>" else v) for k, v in written.items() if v is not None}
    (path / MODEL_JSON).write_text(json.dumps(written))
    return path


def test_a_manifest_of_the_first_version_loads_with_the_defaults_it_meant(tmp_path):
    """Saved before precision, the nod reading, the expression code, warm starts and the crop size were
    recorded (and before snapshots recorded a step and a hash)."""
    folder = _old_folder(tmp_path / "m", facesets={"a": ["x"], "b": ["y"]}, train_config={"steps": 3})
    model = load_model(folder, device="cpu")
    m = model.manifest
    assert (m.step, m.weights_sha256, m.precision, m.expression_code, m.init_from) == (0, None, None, None, None)
    assert m.nod_reading == "relative" and m.faceset_size is None and m.facesets == {"a": ["x"], "b": ["y"]}
    assert model.faceset_size is None and faceset_size(model, "a2b") == m.size == model.config.size


def test_a_crop_size_recorded_as_one_number_counts_for_both_sides(tmp_path):
    model = load_model(_old_folder(tmp_path / "m", faceset_size=128, weights_sha256="<digest>"), device="cpu")
    assert model.manifest.faceset_size == {"a": 128, "b": 128}
    assert faceset_size(model, "a2b") == faceset_size(model, "b2a") == 128


def test_the_loaded_model_carries_its_manifest_and_folder(tmp_path):
    folder = _old_folder(tmp_path / "m", faceset_size={"a": 256, "b": 128}, step=7, weights_sha256="<digest>",
                         nod_reading="absolute")
    model = load_model(folder, device="cpu")
    assert model.manifest == find_snapshot(folder).manifest and model.model_dir == folder
    assert (model.manifest.step, model.manifest.nod_reading) == (7, "absolute")
    assert (faceset_size(model, "a2b"), faceset_size(model, "b2a")) == (256, 128)


def test_today_s_manifest_round_trips_and_keys_of_a_newer_version_are_kept():
    record = ModelManifest.for_net("lite", build_model("lite", dict(TINY)).config, TEMPLATE_NAME, "face",
                                   faceset_size={"a": 128, "b": 64}, precision="fp32").with_step(5, "ab" * 32)
    written = record.to_dict()
    assert written["step"] == 5 and written["schema_version"] == 1 and written["arch_config"]["e_dims"] == 8
    assert ModelManifest.from_dict(json.loads(json.dumps(written))) == record
    newer = ModelManifest.from_dict({**written, "colour_space": "linear"})
    assert newer.extra == {"colour_space": "linear"} and newer.to_dict()["colour_space"] == "linear"


@pytest.mark.parametrize("broken,why", [({"architecture": None}, "records no architecture"),
                                        ({"size": "large"}, "wrong type")])
def test_a_manifest_that_describes_no_model_is_refused_with_the_reason(tmp_path, broken, why):
    folder = _old_folder(tmp_path / "m", **broken)
    with pytest.raises(ModelError, match=why):
        load_model(folder, device="cpu")


def test_an_upscaler_manifest_of_the_first_version_reads():
    first = {"schema_version": 1, "kind": "masquerade.upscaler", "side": "b", "config": {"in_size": 64},
             "weights": "b_64to256-0123456789ab.safetensors", "weights_sha256": "cd" * 32, "steps": 0}
    record = UpscalerManifest.from_dict(first)
    assert (record.side, record.steps, record.held_out, record.faceset, record.seconds) == ("b", 0, {}, {}, None)
    assert UpscalerManifest.from_dict(record.to_dict()) == record
    with pytest.raises(ValueError, match="records no side"):
        UpscalerManifest.from_dict({k: v for k, v in first.items() if k != "side"})
