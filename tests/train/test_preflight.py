"""Everything `train` refuses before doing any work: each case raises the right error with a message that
says what to do, and leaves no model folder behind."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from masquerade.errors import FaceSetError, OutputError
from masquerade.train import train
from masquerade.train.config import TrainConfig, TrainConfigError

BAD_SETTINGS = [
    (dict(steps=0), "--steps must be a whole number >= 1"),
    (dict(steps=-5), "--steps must be"),
    (dict(lr=float("nan")), "--lr must be a finite number > 0"),
    (dict(lr=float("inf")), "--lr must be a finite number"),
    (dict(lr=0.0), "--lr must be a finite number > 0"),
    (dict(lr=-1e-4), "--lr must be"),
    (dict(batch_size=0), "--batch-size must be a whole number >= 1"),
    (dict(batch_size=-1), "--batch-size must be"),
    (dict(save_every=-1), "--save-every must be a whole number >= 1"),
    (dict(save_every=0), "--save-every must be a whole number >= 1"),
    (dict(preview_every=-3), "--preview-every must be"),
    (dict(keep=0), "--keep must be a whole number >= 1"),
    (dict(precision="bogus"), "--precision must be one of auto, fp32, bf16"),
    (dict(model="nonesuch"), "--model must be one of"),
    (dict(lr_schedule="zigzag"), "lr_schedule must be one of"),
    (dict(gan_weight=float("nan")), "--gan-weight must be a finite number >= 0"),
    (dict(warmup_steps=-1), "--warmup-steps must be"),
    (dict(steps=2.5), "--steps must be a whole number"),
    (dict(batch_size=True), "--batch-size must be a whole number"),
]


@pytest.mark.parametrize("change,message", BAD_SETTINGS, ids=[next(iter(c)) + "=" + repr(next(iter(c.values()))) for c, _ in BAD_SETTINGS])
def test_bad_settings_are_refused_before_any_work(faceset_a, faceset_b, tiny_config, tmp_path, change, message):
    with pytest.raises(TrainConfigError, match=message.replace("(", r"\(")):
        train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, **change))
    assert not (tmp_path / "m").exists()


def test_defaults_and_the_tiny_config_are_valid(tiny_config):
    TrainConfig().validate()
    tiny_config.validate()
    replace(tiny_config, steps=None, lr=None, batch_size=None, save_every=None, preview_every=0).validate()


def test_identical_face_sets_are_refused(faceset_a, faceset_b, tiny_config, tmp_path):
    with pytest.raises(FaceSetError, match="same folder"):
        train(faceset_a, faceset_a, tmp_path / "m", tiny_config)
    copy = shutil.copytree(faceset_a, tmp_path / "copy_of_a")
    with pytest.raises(FaceSetError, match="hold the same faces"):
        train(faceset_a, copy, tmp_path / "m", tiny_config)
    assert not (tmp_path / "m").exists()


def test_output_overlapping_a_face_set_or_holding_other_files_is_refused(faceset_a, faceset_b, tiny_config, tmp_path):
    data = tmp_path / "data"
    a = shutil.copytree(faceset_a, data / "a")
    cases = [
        (a, "same path as the input"),
        (a / "model", "inside the input folder"),
        (data, "would contain the input"),
    ]
    for out, message in cases:
        with pytest.raises(OutputError, match=message):
            train(a, faceset_b, out, tiny_config)
    assert not (a / "model").exists() and not (data / "snapshots").exists()

    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"not a model")
    with pytest.raises(OutputError, match="holds other files"):
        train(faceset_a, faceset_b, other, tiny_config)
    assert sorted(p.name for p in other.iterdir()) == ["holiday.jpg"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        train(faceset_a, faceset_b, tmp_path / "file", tiny_config)


@pytest.mark.slow
def test_a_broken_signing_key_is_found_before_training(faceset_a, faceset_b, tiny_config, tmp_path, monkeypatch):
    from masquerade import provenance
    from masquerade.errors import ProvenanceError

    def broken():
        raise ProvenanceError("signing key is damaged; restore it")

    monkeypatch.setattr(provenance, "check_credentials", broken)
    with pytest.raises(ProvenanceError, match="damaged"):
        train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, preview_every=5))
    assert not (tmp_path / "m").exists()
    # A run that writes no previews signs nothing, so it needs no key.
    assert train(faceset_a, faceset_b, tmp_path / "m", replace(tiny_config, steps=1, preview_every=0)).step == 1
