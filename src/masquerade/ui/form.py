"""UI widgets generated from a stage's option declarations (masquerade.options): the tabs hold no hand-written
sliders, defaults or choice lists, so a new option or backend shows up here with no edit.

A bounded number becomes a slider, a choice (from the registry) a dropdown, a yes/no a checkbox, an optional
number (None = the architecture's or the saved model's default) a text box left empty.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import gradio as gr

from ..options import ConfigFileError, Option, from_mapping, options


def _label(o: Option) -> str:
    return o.name.replace("_", " ").capitalize()


def widget(o: Option, elem_prefix: str, value: Any = None, elem_id: str | None = None,
           label: str | None = None) -> gr.components.Component:
    """One widget for option `o`, its value the declared default (or `value`); its elem_id is
    PREFIX-field-name (the browser tests find widgets by it) unless given."""
    m, value = o.meta, o.default if value is None else value
    kw = dict(label=label or _label(o), info=m.help, elem_id=elem_id or f"{elem_prefix}-{o.name.replace('_', '-')}")
    allowed = m.allowed()
    if o.kind is bool:
        return gr.Checkbox(value=bool(value), **kw)
    if allowed is not None:
        return gr.Dropdown(list(allowed), value=value, allow_custom_value=False, **kw)
    if o.kind in (int, float) and o.optional:  # a browser number box cannot be empty: text, empty = default
        return gr.Textbox(value="" if value is None else str(value), placeholder="default", max_lines=1, **kw)
    if o.kind in (int, float):
        low = m.low if m.low is not None else m.above
        if low is not None and m.high is not None and m.high - low <= 10_000 and not o.optional:
            step = m.step or (1 if o.kind is int else (m.high - low) / 100)
            return gr.Slider(low, m.high, value=value, step=step, **kw)
        return gr.Number(value=value, precision=0 if o.kind is int else None, minimum=low, maximum=m.high, **kw)
    return gr.Textbox(value="" if value is None else str(value), **kw)


def widgets(cls: type, elem_prefix: str, skip: Iterable[str] = (), values: dict[str, Any] | None = None,
            per_row: int = 4) -> dict[str, gr.components.Component]:
    """Widgets for every UI option of `cls` except `skip`, `per_row` to a row, keyed by field name."""
    skip, values = set(skip), values or {}
    shown = [o for o in options(cls) if o.meta.ui and o.name not in skip]
    out: dict[str, gr.components.Component] = {}
    for start in range(0, len(shown), per_row):
        with gr.Row():
            for o in shown[start:start + per_row]:
                out[o.name] = widget(o, elem_prefix, values.get(o.name))
    return out


def read(cls: type, names: Sequence[str], raw: Sequence[Any]) -> dict[str, Any]:
    """The typed settings from the widgets' values (in `names` order): empty boxes are None (the default),
    whole numbers come back as ints, and out-of-range values raise a ConfigFileError the tab shows."""
    kinds = {o.name: o for o in options(cls)}
    values: dict[str, Any] = {}
    for name, value in zip(names, raw):
        o = kinds[name]
        if value is None or value == "":
            if o.optional:
                values[name] = None
            continue
        if o.kind in (int, float) and isinstance(value, str):
            try:
                value = o.kind(value.strip())
            except ValueError:
                raise ConfigFileError(f"{o.label} must be {'a whole number' if o.kind is int else 'a number'}, "
                                      f"not {value!r}") from None
        if o.kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        values[name] = value
    return from_mapping(cls, values, "settings")
