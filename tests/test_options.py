"""Options are declared once (issue 16): the CLI flags, `--config FILE.toml`, validation and `train --help`'s
model list all come from the config dataclasses and the registries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from masquerade import cli
from masquerade.convert.config import ConvertConfig
from masquerade.extract import ExtractConfig
from masquerade.options import ConfigFileError, check, from_mapping, options, parse_pairs
from masquerade.train.config import TrainConfig, TrainConfigError
from masquerade.train.upscaler_config import UpscalerTrainConfig

STAGES = {"extract": ExtractConfig, "train": TrainConfig, "convert": ConvertConfig,
          "train-upscaler": UpscalerTrainConfig, "evaluate": ConvertConfig}
SKIPPED = {"evaluate": {"preview", "start", "end"}}  # convert's settings evaluate cannot honour


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_flag_is_a_declared_option_with_its_default(name):
    from masquerade.cli_stages import build

    command = build(name, cli._stages()[name])
    by_flag = {opt: p for p in command.params for opt in p.opts + p.secondary_opts}
    for o in options(STAGES[name]):
        flag = o.flags[0].split("/")[0]
        if not o.meta.cli or o.name in SKIPPED.get(name, ()):
            assert flag not in by_flag, f"{flag} is not a flag of {name} today"
            continue
        assert by_flag[flag].default == o.default, flag
        assert by_flag[flag].help == o.meta.help
    assert "--config" in by_flag


def test_defaults_are_valid_and_ranges_come_from_the_declarations():
    for cls in STAGES.values():
        check(cls())
    with pytest.raises(TrainConfigError, match="--holdout must be a finite number from 0 to 0.5"):
        TrainConfig(holdout=0.6).validate()
    with pytest.raises(Exception, match="--crf must be a whole number from 0 to 51"):
        ConvertConfig(crf=52).validate()


def test_evaluate_and_train_upscaler_take_their_settings_from_the_stage_configs(tmp_path, monkeypatch):
    """evaluate swaps exactly as convert would (its flags are ConvertConfig's); train-upscaler's flags and
    [train-upscaler] table are UpscalerTrainConfig's."""
    from masquerade.evaluate.run import EvalReport

    seen = _fake(monkeypatch, "masquerade.evaluate.run.evaluate", EvalReport())
    cfg = tmp_path / "e.toml"
    cfg.write_text('[evaluate]\ncolor = "hist"\nerode = 4\n')
    assert cli.main(["evaluate", "-m", "m", "--source", "s.mp4", "--target-faces", "fb", "--direction", "b2a",
                     "--upscale", "off", "--config", str(cfg)]) == 0
    config = seen["args"][3]
    assert isinstance(config, ConvertConfig)
    assert (config.direction, config.upscale, config.color, config.erode) == ("b2a", "off", "hist", 4.0)
    cfg.write_text('[evaluate]\npreview = 3\n')
    assert cli.main(["evaluate", "-m", "m", "--source", "s.mp4", "--target-faces", "fb", "--config", str(cfg)]) == 2

    seen = _fake(monkeypatch, "masquerade.train.upscaler.train_model_upscaler",
                 SimpleNamespace(metrics={}, steps=1, seconds=1.0, path="p"))
    cfg.write_text('[train-upscaler]\nbatch_size = 6\nsteps = 9\n')
    assert cli.main(["train-upscaler", "fa", "-m", "m", "--side", "a", "--minutes", "2", "--config", str(cfg)]) == 0
    config = seen["args"][3]
    assert (config.minutes, config.steps, config.batch_size, config.device) == (2.0, 9, 6, "auto")


def test_architecture_settings_declare_their_ranges_and_choices():
    """A model's settings are checked from its config's declarations wherever they come from (--arch-option,
    TOML, UI), and the UI's hint lists what each accepts."""
    from masquerade.models import build_model, make_config
    from masquerade.models.lite import LiteConfig
    from masquerade.models.hd import HDConfig
    from masquerade.options import accepts

    assert [o.name for o in options(LiteConfig)] == ["size", "e_dims", "ae_dims", "d_dims", "variant", "expression", "expression_code"]
    for name, values, fragment in (("lite", {"variant": "lia"}, "variant must be one of df, liae"),
                                   ("hd", {"size": 144}, "a multiple of 32"),
                                   ("original", {"bottleneck": 0}, "bottleneck must be a whole number from 8"),
                                   ("lite", {"expression_code": 4}, "expression_code must be one of 1, 2, 3, not 4")):
        with pytest.raises(ValueError, match=fragment):
            make_config(name, values)
    with pytest.raises(ValueError, match="variant must be one of"):
        build_model("lite", LiteConfig(variant="lia"))  # a config built by hand is checked too
    hd, lite = ({o.name: o for o in options(c)} for c in (HDConfig, LiteConfig))
    assert accepts(hd["variant"]) == "df|liae" and accepts(lite["size"]) == "32 to 512, a multiple of 16"
    assert accepts(lite["expression_code"]) == "1|2|3"  # numbered choices read as choices too


def test_a_new_backend_is_a_choice_everywhere_with_one_registry_line(monkeypatch):
    from masquerade.cli_stages import build
    from masquerade.convert import color

    monkeypatch.setitem(color.color, "sepia", color.color["none"])
    ConvertConfig(color="sepia").validate()  # validation
    assert from_mapping(ConvertConfig, {"color": "sepia"}, "t") == {"color": "sepia"}  # TOML / UI values
    flag = next(p for p in build("convert", cli._stages()["convert"]).params if p.name == "color")
    assert "sepia" in flag.metavar  # the CLI's --help


def _fake(monkeypatch, target: str, result: object) -> dict:
    seen: dict = {}

    def fake(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return result
    monkeypatch.setattr(target, fake)
    return seen


TRAINED = SimpleNamespace(world_size=1, step=1, steps_run=1, samples_per_second=1.0, precision="fp32", loss_a=0.1,
                          loss_b=0.2, model_dir="m", last_preview=None, notes=[])


def test_config_file_sets_options_and_flags_given_win(tmp_path, monkeypatch):
    seen = _fake(monkeypatch, "masquerade.train.train", TRAINED)
    cfg = tmp_path / "run.toml"
    cfg.write_text('[train]\nmodel = "hd"\nkeep = 7\nlr = 1\nplan = "manual"\nseed = 4\n'
                   '[train.model_options]\nvariant = "liae"\nd_dims = 16\n[convert]\ncrf = 99\n')
    argv = ["train", "a", "b", "-o", str(tmp_path / "m"), "--config", str(cfg), "--keep", "2",
            "--arch-option", "d_dims=32", "--arch-option", "e_dims=8"]
    assert cli.main(argv) == 0
    config = seen["args"][3]
    assert (config.model, config.keep, config.lr, config.plan, config.seed) == ("hd", 2, 1.0, "manual", 4)
    assert config.model_options == {"variant": "liae", "d_dims": 32, "e_dims": 8}
    assert config.steps is None and config.holdout == 0.05  # neither in the file nor given: the declared default


@pytest.mark.parametrize("text, fragment", [
    ("[convert]\nbogus = 1\n", "unknown setting 'bogus'"),
    ("[convert]\ncrf = 99\n", "--crf must be a whole number from 0 to 51"),
    ("[convert]\ncolor = 3\n", "--color must be one of"),
    ("[convert\n", "not valid TOML"),
])
def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, text, fragment):
    seen = _fake(monkeypatch, "masquerade.convert.convert", None)
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert cli.main(["convert", "in.mp4", "-m", "m", "-o", str(tmp_path / "o.mp4"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in " ".join(err.split()) and "Traceback" not in err
    assert seen == {}


def test_arch_option_values_read_as_toml_scalars():
    assert parse_pairs(["variant=liae", "d_dims=32", "x=0.5", "on=true", "name=\"a b\""], "--arch-option") == \
        {"variant": "liae", "d_dims": 32, "x": 0.5, "on": True, "name": "a b"}
    with pytest.raises(Exception, match="key=value"):
        parse_pairs(["variant"], "--arch-option")


def test_unknown_setting_from_a_form_is_refused():
    with pytest.raises(ConfigFileError, match="unknown setting 'sizee'"):
        from_mapping(ExtractConfig, {"sizee": 3}, "form")
    assert from_mapping(ExtractConfig, {"blur-threshold": 5}, "form") == {"blur_threshold": 5.0}


def test_train_help_lists_the_models_without_importing_torch():
    code = ("import sys\nfrom masquerade.cli import main\nrc = main(['train', '--help'])\n"
            "assert rc == 0, rc\nassert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    from masquerade.models import CATALOGUE

    for name, arch in CATALOGUE.items():
        assert arch.line(name) in " ".join(proc.stdout.split()), name
    assert "--arch-option" in proc.stdout and "--config" in proc.stdout


@pytest.mark.parametrize("name", ["original", "hd", "lite"])
def test_catalogue_figures_match_the_built_network(name):
    """What `train --help` says of a model (declared without torch) is what torch counts on the real network
    (built on the meta device: no memory, no compute)."""
    import torch

    from masquerade.models import CATALOGUE, build_model, model_cost

    with torch.device("meta"):
        cost = model_cost(build_model(name))
    arch = CATALOGUE[name]
    assert arch.params_m == pytest.approx(cost["params"] / 1e6, rel=0.01)
    assert arch.gflop_train == pytest.approx(cost["gflop_train"], rel=0.01)


HELP_LIMIT = 250  # characters: what an option does and its trade-off; measurements belong in docs/


def _leaf_commands(command, path=()):
    """(name, click command) of every command of the app, the stage commands built as when they run."""
    command = command.build() if hasattr(command, "build") else command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield " ".join(path), command


def test_every_help_text_is_a_sentence_or_two():
    """`--help` says what each option does and what it costs; run logs and figures go to docs/ (issue 31:
    `--turn`'s help had grown to 499 characters). Checked on every flag of every command as built, and on every
    declared option (TOML- and UI-only ones too), including each architecture's settings."""
    import typer

    from masquerade.models import ARCHITECTURES
    from masquerade.faceset.curate import CurateConfig
    from masquerade.train.occlusion_config import MaskTrainConfig

    too_long = []
    commands = list(_leaf_commands(typer.main.get_command(cli.app)))
    assert {"extract", "train", "convert", "verify", "ui"} <= {name for name, _ in commands}
    for name, command in commands:
        too_long += [f"{name} {p.opts[0] if p.opts else p.name}: {len(p.help)}" for p in command.params
                     if len(getattr(p, "help", None) or "") > HELP_LIMIT]
    configs = {*STAGES.values(), CurateConfig, MaskTrainConfig, *(a.config_class for a in ARCHITECTURES.values())}
    for cls in configs:
        too_long += [f"{cls.__name__}.{o.name} {what}: {len(text)}" for o in options(cls)
                     for what, text in (("help", o.meta.help), ("tip", o.meta.tip or "")) if len(text) > HELP_LIMIT]
    assert too_long == []
