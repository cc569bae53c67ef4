"""How cli.py turns a stage's config class into a command: its declared options become the flags, plus
`--config FILE.toml`, and the command is built only when it runs or shows its help.

Why deferred: building a command reads its config class, and importing a stage's package costs seconds
(OpenCV for convert); `masquerade --help` and the other commands should not pay for it, and `train --help`
must never import torch (masquerade.options and masquerade.lazy keep TrainConfig's module torch-free).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import click
import typer

from . import options

_GIVEN = ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


@dataclass(frozen=True)
class Stage:
    """A stage command: `body(config, **own)` does the work; `own` are its parameters that are not options of
    the stage (inputs, -o, --ray, ...), declared in its signature as usual Typer parameters."""

    body: Callable[..., None]
    config_class: str  # "module:Class", imported when the command is built
    section: str  # the TOML table `--config` reads, e.g. "convert"
    extra: Callable[[], list[inspect.Parameter]] | None = None  # more flags (e.g. --arch-option)
    file_extra: tuple[str, ...] = ()  # TOML keys that are not options (e.g. model_options), passed to `finish`
    finish: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None  # (values, extra flags) -> values
    epilog: Callable[[], str] | None = None  # text after the options in --help
    skip: tuple[str, ...] = ()  # options of the config class this command does not offer (e.g. evaluate: preview)

    def load(self) -> type:
        module, name = self.config_class.split(":")
        return getattr(importlib.import_module(module), name)


class Deferred(click.Command):
    """Stands in the command list (name and one-line help) until the command is run or its help is shown."""

    def __init__(self, name: str, stage: Stage):
        super().__init__(name, help=inspect.getdoc(stage.body))
        self.stage = stage

    def build(self) -> click.Command:
        return build(self.name, self.stage)


def config_from(ctx: click.Context, cls: type, stage: Stage, flags: dict[str, Any], config_file: Path | None,
                extra_values: dict[str, Any]) -> Any:
    """The config: the dataclass defaults, then the TOML file's [section], then the flags given on the
    command line (a flag left at its default does not override the file)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        table = options.read_toml(config_file, stage.section)
        values = options.from_mapping(cls, table, f"--config {config_file} [{stage.section}]", extra=stage.file_extra,
                                      skip=stage.skip)
    for name, value in flags.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in _GIVEN:
            values[name] = value
    if stage.finish:
        values = stage.finish(values, extra_values)
    return cls(**values)


def build(name: str, stage: Stage) -> click.Command:
    cls = stage.load()
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
           for p in inspect.signature(stage.body, eval_str=True).parameters.values() if p.name != "config"]
    flags = options.cli_parameters(cls, stage.skip)
    extra = stage.extra() if stage.extra else []
    config_file = inspect.Parameter(
        "config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
        default=typer.Option(None, "--config", metavar="FILE.toml",
                             help=f"TOML file whose \\[{stage.section}] table sets any of this command's settings "
                                  "(flags given on the command line win)."))
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    params = [ctx_param, *own, *flags, *extra, config_file]

    def command(ctx: typer.Context, **kw: Any) -> None:
        own_values = {p.name: kw.pop(p.name) for p in own}
        extra_values = {p.name: kw.pop(p.name) for p in extra}
        config_path = kw.pop("config_file")
        config = config_from(ctx, cls, stage, kw, config_path, extra_values)
        stage.body(config, **own_values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = inspect.getdoc(stage.body)
    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    sub.command(name, epilog=stage.epilog() if stage.epilog else None)(command)
    cmd = typer.main.get_command(sub)
    cmd.name = name
    return cmd


def deferred(stages: dict[str, Stage]) -> dict[str, click.Command]:
    return {name: Deferred(name, stage) for name, stage in stages.items()}
