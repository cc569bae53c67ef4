"""UI widgets generated from a stage's option declarations (masquerade.options): the tabs hold no hand-written
sliders, defaults or choice lists, so a new option or backend shows up here with no edit.

A bounded number becomes a slider, a choice (from the registry) a dropdown, a yes/no a checkbox, an optional
number (None = the architecture's or the saved model's default) a text box left empty. Names and help come
from the declaration's UI wording (`title`, `tip`); options with a `group` fold under "Advanced".
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import gradio as gr

from ..options import ConfigFileError, Option, from_mapping, options, problem


def title(o: Option) -> str:
    """The plain name a page shows: the declaration's `title`, else the field name in words."""
    return o.meta.title or o.name.replace("_", " ").capitalize()


def widget(o: Option, elem_prefix: str, value: Any = None, elem_id: str | None = None,
           label: str | None = None) -> gr.components.Component:
    """One widget for option `o`, its value the declared default (or `value`); its elem_id is
    PREFIX-field-name (the browser tests find widgets by it) unless given. Its help is the declaration's
    `tip` (written for people), else its `help`."""
    m, value = o.meta, o.default if value is None else value
    kw = dict(label=label or title(o), info=m.tip or m.help,
              elem_id=elem_id or f"{elem_prefix}-{o.name.replace('_', '-')}")
    allowed = m.allowed()
    if o.kind is bool:
        return gr.Checkbox(value=bool(value), **kw)
    if allowed is not None:
        return gr.Dropdown(list(allowed), value=value, allow_custom_value=False, **kw)
    # a browser number box cannot be empty: text, empty = default. An optional number whose default is a number
    # (`save_every`: None is for Python callers only) stays a number box: the page never offers None
    if o.kind in (int, float) and o.optional and o.default is None:
        return gr.Textbox(value="" if value is None else str(value), placeholder="automatic", max_lines=1, **kw)
    if o.kind in (int, float):
        low = m.low if m.low is not None else m.above
        if low is not None and m.high is not None and m.high - low <= 10_000 and not o.optional:
            step = m.step or m.multiple or (1 if o.kind is int else (m.high - low) / 100)
            return gr.Slider(low, m.high, value=value, step=step, **kw)
        return gr.Number(value=value, precision=0 if o.kind is int else None, minimum=low, maximum=m.high, **kw)
    return gr.Textbox(value="" if value is None else str(value), **kw)


def _rows(shown: Sequence[Option], elem_prefix: str, values: dict[str, Any], per_row: int,
          out: dict[str, gr.components.Component]) -> None:
    for start in range(0, len(shown), per_row):
        with gr.Row():
            for o in shown[start:start + per_row]:
                out[o.name] = widget(o, elem_prefix, values.get(o.name))


def widgets(cls: type, elem_prefix: str, skip: Iterable[str] = (), values: dict[str, Any] | None = None,
            per_row: int = 4, main: bool = True, advanced: bool = True) -> dict[str, gr.components.Component]:
    """Widgets for every UI option of `cls` except `skip`, keyed by field name in declaration order: those
    without a `group` (`main`) `per_row` to a row, then the grouped ones (`advanced`) folded in one
    "Advanced" accordion, a heading per group, so a new user sees only what most runs change."""
    skip, values = set(skip), values or {}
    shown = [o for o in options(cls) if o.meta.ui and o.name not in skip]
    out: dict[str, gr.components.Component] = {}
    if main:
        _rows([o for o in shown if not o.meta.group], elem_prefix, values, per_row, out)
    groups: dict[str, list[Option]] = {}
    for o in shown:
        if o.meta.group:
            groups.setdefault(o.meta.group, []).append(o)
    if advanced and groups:
        with gr.Accordion("Advanced", open=False, elem_id=f"{elem_prefix}-advanced"):
            for group, members in groups.items():
                gr.Markdown(f"**{group}**", elem_classes="mq-group")
                _rows(members, elem_prefix, values, per_row, out)
    order = [o.name for o in shown]
    return {name: out[name] for name in order if name in out}


def read(cls: type, names: Sequence[str], raw: Sequence[Any]) -> dict[str, Any]:
    """The typed settings from the widgets' values (in `names` order): empty boxes are None (the default),
    whole numbers come back as ints, and out-of-range values raise a ConfigFileError the tab shows, naming
    the setting as the page does ("Learning rate"), not by its command-line flag."""
    kinds = {o.name: o for o in options(cls)}
    values: dict[str, Any] = {}
    for name, value in zip(names, raw):
        o = kinds[name]
        shown = dataclasses.replace(o, meta=dataclasses.replace(o.meta, label=title(o)))
        if value is None or value == "":
            if o.optional:
                values[name] = None
            continue
        if o.kind in (int, float) and isinstance(value, str):
            try:
                value = o.kind(value.strip())
            except ValueError:
                raise ConfigFileError(f"{title(o)} must be {'a whole number' if o.kind is int else 'a number'}, "
                                      f"not {value!r}") from None
        if o.kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if o.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        why = problem(shown, value, words=True)
        if why:
            raise ConfigFileError(why)
        values[name] = value
    return from_mapping(cls, values, "settings")


def ui_names(cls: type) -> list[str]:
    """The names of the options of `cls` a page shows."""
    return [o.name for o in options(cls) if o.meta.ui]
