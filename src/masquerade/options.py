"""Options declared once, on a stage's config dataclass; the CLI, the UI and TOML files are generated from them.

A field declared with `opt(default, help=..., low=..., choices=...)` carries everything a front door needs:
its default, the help text, the allowed range or choices (a tuple, or a registry read when asked, so adding
a backend adds a choice with no other edit), the flag name. From that one declaration:
- `cli_parameters` makes the Typer options of a command (cli.py),
- `masquerade.ui.form` makes the UI widgets,
- `from_mapping` reads a TOML table (`--config FILE.toml`) or a UI form into typed values,
- `check` validates a config (ranges, choices, types), so a stage's `validate()` keeps only cross-field rules.

Torch-free and cheap to import on purpose: `masquerade train --help` reads these declarations.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .errors import MasqueradeError

Choices = tuple | Callable[[], Iterable[str]] | None


class ConfigFileError(MasqueradeError, ValueError):
    """A `--config` TOML file cannot be read, or names a setting its command does not have."""


@dataclass(frozen=True)
class Opt:
    """What a front door needs to know about one setting, beyond its default and type."""

    help: str
    flag: str | None = None  # the CLI flag(s), e.g. "--smooth/--no-smooth"; default "--" + name with dashes
    short: str | None = None  # a short flag such as "-n"
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    above: float | None = None  # exclusive lower bound (e.g. a learning rate > 0)
    multiple: int | None = None  # a whole number must be a multiple of this (e.g. a crop side the net halves 4x)
    choices: Choices = None  # allowed values, or a callable returning them (a registry's names)
    cli: bool = True  # a flag of the command (False: settable from TOML and Python only)
    ui: bool = True  # a widget in the UI's settings
    label: str | None = None  # the name errors use when it is not the flag (settings without one)
    step: float | None = None  # the UI slider's step
    # UI wording, beside the declaration so the UI needs no table of its own (the CLI keeps `help` and the flag):
    title: str | None = None  # the plain name a UI shows ("Learning rate"); default: the name, capitalised
    tip: str | None = None  # a sentence or two for a new user: no flags, file names or measurements
    group: str | None = None  # None: shown at once; else folded under "Advanced", in this group

    def allowed(self) -> tuple | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def opt(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
        **meta: Any) -> Any:
    """A dataclass field that is also an option (see `Opt` for `meta`)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"option": Opt(help, **meta)})


def registry(module: str, attr: str, extra: tuple[str, ...] = ()) -> Callable[[], tuple[str, ...]]:
    """Choices read from a registry dict when first asked (`module.attr`'s keys), so the declaring module
    does not import the backends, and a new backend's registry line is all it takes to offer it."""
    def names() -> tuple[str, ...]:
        return tuple(extra) + tuple(getattr(importlib.import_module(module), attr))
    return names


@dataclass(frozen=True)
class Option:
    """One declared setting of a config class, with its type resolved."""

    name: str
    kind: type  # int, float, str, bool or Path
    optional: bool  # None is allowed (left to the architecture's or the saved model's default)
    default: Any
    meta: Opt

    @property
    def flags(self) -> list[str]:
        first = self.meta.flag or "--" + self.name.replace("_", "-")
        return [first] + ([self.meta.short] if self.meta.short else [])

    @property
    def label(self) -> str:
        if self.meta.label:
            return self.meta.label
        return self.flags[0].split("/")[0] if self.meta.cli else self.name


_KINDS = {int: int, float: float, str: str, bool: bool, Path: Path}


def options(cls: type, skip: Iterable[str] = ()) -> list[Option]:
    """The declared options of config class `cls`, in field order (fields without `opt`, and the names in
    `skip`, are left out: a command that borrows another stage's settings drops the ones it cannot honour)."""
    hints = typing.get_type_hints(cls)
    found, skip = [], set(skip)
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("option")
        if meta is None or f.name in skip:
            continue
        hint, optional = hints[f.name], False
        args = typing.get_args(hint)
        if type(None) in args:
            optional, rest = True, [a for a in args if a is not type(None)]
            hint = rest[0] if len(rest) == 1 else hint
        kind = _KINDS.get(hint)
        if kind is None:
            raise TypeError(f"{cls.__name__}.{f.name}: options are int, float, str, bool or Path, not {hint!r}")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        found.append(Option(f.name, kind, optional, default, meta))
    return found


# -- validation ---------------------------------------------------------------------------------------------
def problem(o: Option, value: Any, words: bool = False) -> str | None:
    """Why `value` is not allowed for option `o` (one line naming it and what it accepts), or None.
    `words`: say ranges as "between 32 and 1024" / "of at least 1" rather than "from 32 to 1024" / ">= 1"."""
    m = o.meta
    if value is None:
        return None if o.optional else f"{o.label} must be set"
    if o.kind is bool:
        return None if isinstance(value, bool) else f"{o.label} must be true or false, not {value!r}"
    if o.kind in (str, Path):
        allowed = m.allowed()
        if allowed is not None and str(value) not in allowed:
            return f"{o.label} must be one of {', '.join(allowed)}, not {value!r}"
        return None if isinstance(value, (str, Path)) else f"{o.label} must be text, not {value!r}"
    whole = o.kind is int
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = number and (not whole or isinstance(value, int))
    ok = ok and (m.low is None or value >= m.low) and (m.high is None or value <= m.high)
    ok = ok and (m.above is None or value > m.above)
    ok = ok and (m.multiple is None or value % m.multiple == 0)
    allowed = m.allowed()
    if ok and allowed is not None and value not in allowed:  # a numbered choice, e.g. a code version
        return f"{o.label} must be one of {', '.join(map(str, allowed))}, not {value!r}"
    if ok:
        return None
    what = ("a whole number" if whole else "a number") if words else ("a whole number" if whole else "a finite number")
    fmt = (lambda v: repr(o.kind(v))) if words else (lambda v: f"{v:g}")
    if m.low is not None and m.high is not None:
        span = f"between {fmt(m.low)} and {fmt(m.high)}" if words else f"{what} from {fmt(m.low)} to {fmt(m.high)}"
    elif m.above is not None:
        span = f"{what} > {fmt(m.above)}"
    elif m.low is not None:
        span = f"{what} of at least {fmt(m.low)}" if words else f"{what} >= {fmt(m.low)}"
    else:
        span = what
    if m.multiple is not None:
        span += f", a multiple of {m.multiple}"
    return f"{o.label} must be {span}, not {value!r}"


def accepts(o: Option) -> str:
    """What option `o` accepts, briefly, for hints ("df|liae", "32 to 512, a multiple of 16"); "" if anything."""
    m = o.meta
    allowed = m.allowed()
    if allowed is not None:
        return "|".join(map(str, allowed))
    if o.kind not in (int, float):
        return ""
    low = m.low if m.low is not None else m.above
    parts = [f"{low:g} to {m.high:g}" if low is not None and m.high is not None
             else f"> {m.above:g}" if m.above is not None else f">= {m.low:g}" if m.low is not None else ""]
    if m.multiple is not None:
        parts.append(f"a multiple of {m.multiple}")
    return ", ".join(p for p in parts if p)


def check(config: Any, error: type[Exception] = MasqueradeError, words: bool = False) -> None:
    """Raise `error` for the first declared option of `config` whose value is out of range or unknown."""
    for o in options(type(config)):
        why = problem(o, getattr(config, o.name), words)
        if why:
            raise error(why)


# -- values from a file or a form -----------------------------------------------------------------------------
def from_mapping(cls: type, values: Mapping[str, Any], where: str, error: type[Exception] = ConfigFileError,
                 extra: Iterable[str] = (), skip: Iterable[str] = ()) -> dict[str, Any]:
    """Typed keyword arguments for `cls` from a TOML table or a UI form; unknown names (and those in `skip`)
    and values of the wrong type raise `error` naming `where` (e.g. "cfg.toml [train]"). Names in `extra`
    pass through as-is."""
    known = {o.name: o for o in options(cls, skip)}
    extra = set(extra)
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name in extra:
            out[name] = value
            continue
        o = known.get(name)
        if o is None:
            raise error(f"{where}: unknown setting {key!r}; it takes {', '.join(sorted(set(known) | extra))}")
        if o.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif o.kind is Path and isinstance(value, str):
            value = Path(value).expanduser()
        why = problem(o, value)
        if why:
            raise error(f"{where}: {why}")
        out[name] = value
    return out


def read_toml(path: Path, section: str) -> dict[str, Any]:
    """The `[section]` table of TOML file `path` ({} when it has none); one-line errors for the user."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"--config {path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"--config {path}: not valid TOML ({exc})") from None
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigFileError(f"--config {path}: [{section}] must be a table of settings")
    return table


def parse_pairs(pairs: Iterable[str], flag: str) -> dict[str, Any]:
    """`key=value` strings (e.g. repeated `--arch-option`) as a dict; values read as TOML scalars (numbers,
    true/false, quoted text) and otherwise kept as text, so `variant=liae` and `d_dims=32` both work."""
    import tomllib

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise MasqueradeError(f"{flag} takes key=value (e.g. {flag} variant=liae), not {pair!r}")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[key.strip().replace("-", "_")] = value
    return out


# -- the CLI ------------------------------------------------------------------------------------------------
def cli_parameters(cls: type, skip: Iterable[str] = ()) -> list[Any]:
    """Keyword-only `inspect.Parameter`s holding `typer.Option`s for the declared CLI options of `cls`
    (less those in `skip`).

    Their defaults are the dataclass's; `choices` are shown as the metavar. Values are checked by the
    config's `validate()` (one message for the CLI, the UI and Python callers), not by click.
    """
    import inspect
    from typing import Optional

    import typer

    params = []
    for o in options(cls, skip):
        if not o.meta.cli:
            continue
        allowed = o.meta.allowed()
        metavar = "[" + "|".join(allowed) + "]" if allowed else None
        annotation = Optional[o.kind] if o.optional else o.kind
        info = typer.Option(o.default, *o.flags, help=o.meta.help, metavar=metavar, show_default=o.default is not None)
        params.append(inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation))
    return params
