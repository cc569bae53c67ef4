"""The UI's settings are generated from the config classes' declarations (issue 16), and the train tab shows
the held-out validation curves (issue 15)."""

from __future__ import annotations

import json
import re

import pytest

gr = pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")

from masquerade.convert.config import ConvertConfig  # noqa: E402
from masquerade.extract import ExtractConfig  # noqa: E402
from masquerade.faceset.curate import CurateConfig  # noqa: E402
from masquerade.options import ConfigFileError, options  # noqa: E402
from masquerade.models.hd import HDConfig  # noqa: E402
from masquerade.models.lite import LiteConfig  # noqa: E402
from masquerade.models.original import OriginalConfig  # noqa: E402
from masquerade.train.config import TrainConfig  # noqa: E402
from masquerade.train.upscaler_config import UpscalerTrainConfig  # noqa: E402
from masquerade.ui import form  # noqa: E402
from masquerade.ui.workspace import Workspace  # noqa: E402


@pytest.mark.parametrize("cls", [ExtractConfig, TrainConfig, ConvertConfig, CurateConfig])
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


def test_form_values_are_typed_and_checked_and_errors_name_settings_as_the_page_does():
    names = ["steps", "batch_size", "lr", "plan", "balance"]
    got = form.read(TrainConfig, names, ["40", "", "2e-4", "manual", False])  # optional numbers: text boxes
    assert got == {"steps": 40, "batch_size": None, "lr": 2e-4, "plan": "manual", "balance": False}
    assert isinstance(got["steps"], int)
    TrainConfig(**got).validate()
    assert form.read(TrainConfig, ["keep", "seed"], [5.0, 2]) == {"keep": 5, "seed": 2}
    with pytest.raises(ConfigFileError, match="^Saved copies kept must be a whole number of at least 1, not 0$"):
        form.read(TrainConfig, ["keep"], [0])
    with pytest.raises(ConfigFileError, match="^Training steps must be a whole number, not 'many'$"):
        form.read(TrainConfig, ["steps"], ["many"])


UI_CONFIGS = [ExtractConfig, TrainConfig, ConvertConfig, UpscalerTrainConfig, LiteConfig, HDConfig, OriginalConfig,
              CurateConfig]
FOR_EXPERTS = re.compile(r"--[a-z]|\.jsonl|\.html|ctrl-c|`|\bssim\b|\bl1\b|\bgan\b|\blr\b|->|\d+(\.\d+)? ?-> ?\d|"
                         r"correlation|\berror\b|\bdistance\b|\bflag\b", re.I)


@pytest.mark.parametrize("cls", UI_CONFIGS)
def test_every_setting_a_page_shows_has_a_plain_name_and_help_for_people(cls):
    """Issue 30: labels were flag names ("Lr", "Crf") and help was written for the command line or for
    research (flags, file names, measurements). Every shown setting now carries its UI wording."""
    for o in options(cls):
        if not o.meta.ui:
            continue
        title, tip = o.meta.title, o.meta.tip
        assert title and tip, f"{cls.__name__}.{o.name} has no UI wording"
        assert title != o.name.replace("_", " ").capitalize() or " " not in o.name, title
        assert not FOR_EXPERTS.search(title + " " + tip.replace("(CRF)", "")), f"{o.name}: {title!r} / {tip!r}"
        assert len(tip) <= 160 and tip.count(". ") <= 2, f"{o.name}: help of a sentence or two, not {tip!r}"


def test_expert_settings_fold_under_advanced_in_groups():
    with gr.Blocks() as page:
        made = form.widgets(TrainConfig, "t")
    folded = [b for b in page.blocks.values() if isinstance(b, gr.Accordion) and b.label == "Advanced"]
    assert len(folded) == 1
    inside = {c.elem_id for c in _descendants(folded[0])}
    main = [o.name for o in options(TrainConfig) if o.meta.ui and not o.meta.group]
    assert set(main) == {"model", "steps", "minutes", "preview_every"}
    assert all(made[n].elem_id not in inside for n in main)
    assert all(made[o.name].elem_id in inside for o in options(TrainConfig) if o.meta.ui and o.meta.group)
    assert made["lr"].label == "Learning rate" and "model type's usual rate" in made["lr"].info
    with gr.Blocks():
        conv = form.widgets(ConvertConfig, "c")
    assert conv["crf"].label == "Video quality (CRF)"


def _descendants(block):
    for child in getattr(block, "children", []):
        yield child
        yield from _descendants(child)


def test_train_charts_are_hidden_until_there_are_two_steps_and_speak_plainly(tmp_path):
    from masquerade.ui.train_view import LOSS, QUALITY, grid_html, read_metrics

    ws = Workspace(tmp_path / "ws")
    model = ws.area("models") / "m1"
    model.mkdir()
    assert read_metrics(model, LOSS) is None  # nothing logged yet: no empty, untitled box
    lines = [{"step": 10, "loss_a": 0.3, "loss_b": 0.31}]
    (model / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert read_metrics(model, LOSS) is None  # one point is no line
    lines += [{"step": s, "loss_a": 0.3 - s / 1000, "loss_b": 0.31 - s / 1000, "val_ssim_gauss11_a": 0.5 + s / 1000,
               "val_ssim_gauss11_b": 0.52 + s / 1000} for s in (20, 30)]
    lines.insert(1, {"event": "plan", "step": 15, "phase": "lr_dropout"})
    (model / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 4')  # torn line
    loss = read_metrics(model, LOSS)
    assert list(loss["step"]) == [10, 10, 20, 20, 30, 30] and set(loss["Person"]) == {"A", "B"}
    quality = read_metrics(model, QUALITY)
    assert list(quality["step"]) == [20, 20, 30, 30] and quality["value"].iloc[-1] == pytest.approx(0.55)
    assert "appears after" in grid_html(ws, model)  # no preview yet
    (model / "previews").mkdir()
    (model / "previews" / "step_00000030.png").write_bytes(_png())
    page = grid_html(ws, model, "alice", "bob")
    for name in ("alice", "alice redrawn", "alice as bob", "bob", "bob redrawn", "bob as alice"):
        assert f"<div>{name}</div>" in page
    assert "/gradio_api/file=" in page and str(ws.root / ".shown") in page.replace("%2F", "/")
    assert "data-step='30'" in page


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (12, 2)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_new_models_settings_are_fields_with_ranges_checked_before_the_job_is_queued():
    from masquerade.ui.train_tab import _check_arch, arch_fields

    _check_arch("lite", {"variant": "liae", "d_dims": 16})
    with pytest.raises(ConfigFileError, match="model setting: variant must be one of df, liae, not 'lia'"):
        _check_arch("lite", {"variant": "lia"})
    with pytest.raises(ConfigFileError, match="has no setting"):
        _check_arch("hd", {"widht": 3})
    with gr.Blocks():
        made = {o.name: form.widget(o, "t") for o in arch_fields("hd")}
    assert isinstance(made["d_mask_dims"], gr.Slider) and (made["d_mask_dims"].minimum, made["d_mask_dims"].maximum) == (2, 1024)
    assert isinstance(made["variant"], gr.Dropdown) and made["size"].step == 32  # the size must be a multiple of 32
