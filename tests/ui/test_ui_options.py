"""The UI's settings are generated from the config classes' declarations (issue 16), and the train tab shows
the held-out validation curves (issue 15)."""

from __future__ import annotations

import json

import pytest

gr = pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")

from masquerade.convert.config import ConvertConfig  # noqa: E402
from masquerade.extract import ExtractConfig  # noqa: E402
from masquerade.options import ConfigFileError, options  # noqa: E402
from masquerade.train.config import TrainConfig  # noqa: E402
from masquerade.ui import form  # noqa: E402
from masquerade.ui.workspace import Workspace  # noqa: E402


@pytest.mark.parametrize("cls", [ExtractConfig, TrainConfig, ConvertConfig])
def test_every_ui_option_gets_a_widget_with_its_default_and_choices(cls):
    with gr.Blocks():
        made = form.widgets(cls, "x")
    declared = [o for o in options(cls) if o.meta.ui]
    assert list(made) == [o.name for o in declared]
    for o in declared:
        w = made[o.name]
        assert w.elem_id == "x-" + o.name.replace("_", "-")
        empty = "" if isinstance(w, gr.Textbox) else None  # an optional number is a text box: empty = default
        assert w.value == (o.default if o.default is not None else empty), o.name
        allowed = o.meta.allowed()
        if allowed and o.kind is not bool:
            assert [c[0] for c in w.choices] == list(allowed), o.name  # from the registry
        if isinstance(w, gr.Slider):
            assert (w.minimum, w.maximum) == (o.meta.low, o.meta.high)


def test_a_new_colour_backend_shows_up_in_the_convert_settings(monkeypatch):
    from masquerade.convert import color

    monkeypatch.setitem(color.color, "sepia", color.color["none"])
    with gr.Blocks():
        made = form.widgets(ConvertConfig, "c")
    assert "sepia" in [c[0] for c in made["color"].choices]


def test_form_values_are_typed_and_checked():
    names = ["steps", "batch_size", "lr", "plan", "balance"]
    got = form.read(TrainConfig, names, ["40", "", "2e-4", "manual", False])  # optional numbers: text boxes
    assert got == {"steps": 40, "batch_size": None, "lr": 2e-4, "plan": "manual", "balance": False}
    assert isinstance(got["steps"], int)
    TrainConfig(**got).validate()
    assert form.read(TrainConfig, ["keep", "seed"], [5.0, 2]) == {"keep": 5, "seed": 2}
    with pytest.raises(ConfigFileError, match="--keep must be a whole number >= 1"):
        form.read(TrainConfig, ["keep"], [0])
    with pytest.raises(ConfigFileError, match="--steps must be a whole number, not 'many'"):
        form.read(TrainConfig, ["steps"], ["many"])


def test_train_tab_publishes_the_validation_curves(tmp_path):
    from PIL import Image

    from masquerade.ui.train_tab import curves_image

    ws = Workspace(tmp_path / "ws")
    model = ws.area("models") / "m1"
    model.mkdir()
    assert curves_image(ws, model) is None  # nothing logged yet
    lines = [{"step": s, "loss_a": 0.3 - s / 1000, "loss_b": 0.31 - s / 1000, "val_ssim_a": 0.5 + s / 1000,
              "val_ssim_b": 0.52 + s / 1000, "val_l1_a": 0.1, "val_l1_b": 0.1} for s in (10, 20, 30)]
    lines.insert(1, {"event": "plan", "step": 15, "phase": "lr_dropout"})
    (model / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    png = curves_image(ws, model)
    assert png is not None and png.is_relative_to(ws.root / ".shown")  # served only as a published copy
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 300
    assert not (model / "curves.png").exists() and sorted(p.name for p in model.iterdir()) == ["metrics.jsonl"]


def test_a_new_models_architecture_settings_are_checked_before_the_job_is_queued():
    from masquerade.ui.train_tab import _check_arch, arch_settings

    _check_arch("lite", {"variant": "liae", "d_dims": 16})
    with pytest.raises(ConfigFileError, match="architecture setting: variant must be one of df, liae, not 'lia'"):
        _check_arch("lite", {"variant": "lia"})
    with pytest.raises(ConfigFileError, match="has no setting"):
        _check_arch("hd", {"widht": 3})
    assert "d_mask_dims=22 (2 to 1024)" in arch_settings("hd")
