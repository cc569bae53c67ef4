"""What the Train step shows while a model learns: two charts in plain words and the preview grid, large,
with its six columns named above the picture.

Why charts of our own and not the training report's PNG: the report is written for people tuning models
(raw metric keys, several panels); a new user needs two questions answered — is it still getting better,
and how well does it draw faces it never saw — with axes and legends in words, and nothing drawn before
there is something to show.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from .workspace import Workspace

LOSS = {"loss_a": "A", "loss_b": "B"}  # metrics.jsonl keys -> legend (its title: "Person")
QUALITY = {"val_ssim_gauss11_a": "A", "val_ssim_gauss11_b": "B"}  # training's SSIM (an 11-tap Gaussian window)
COLUMNS = ("A", "A redrawn", "A as B", "B", "B redrawn", "B as A")  # train/preview.py's column order
LOSS_CHART = dict(title="Training: difference between drawn and real faces (lower is better)",
                  x_title="Training step", y_title="Difference")
QUALITY_CHART = dict(title="Likeness of faces kept aside from training: SSIM, training's Gaussian window (higher is better)",
                     x_title="Training step", y_title="Likeness (0 to 1)")


def read_metrics(model_dir: Path, series: dict[str, str], limit: int = 2000):
    """The model's metrics log as a long table (step, value, Person) of the keys in `series`, or None until
    it holds two steps of them (one point draws no line, only an axis labelled with that one value)."""
    import pandas as pd

    from ..train.curves import read_metrics as read_log

    rows = [{"step": rec["step"], "value": float(rec[k]), "Person": who}
            for rec in read_log(model_dir / "metrics.jsonl", last=limit)
            for k, who in series.items() if k in rec and "step" in rec]
    frame = pd.DataFrame(rows, columns=["step", "value", "Person"])
    if frame["step"].nunique() < 2:
        return None
    # explicit dtypes: the plot keeps the axis types of the first table it is given
    return frame.astype({"step": "int64", "value": "float64", "Person": "str"})


def latest_preview(model_dir: Path) -> Path | None:
    """The newest preview PNG the trainer wrote (through provenance) under MODEL/previews/."""
    found = sorted((model_dir / "previews").glob("step_*.png")) if (model_dir / "previews").is_dir() else []
    return found[-1] if found else None


def file_url(shown: Path) -> str:
    """The URL Gradio serves a published file under (`.shown/` is its only allowed folder)."""
    return "/gradio_api/file=" + quote(str(shown))


def grid_html(ws: Workspace, model_dir: Path | None, a: str = "A", b: str = "B") -> str:
    """The newest preview grid at full width, each column named above it in the people's names."""
    pv = latest_preview(model_dir) if model_dir else None
    if pv is None:
        return "<div class='mq-grid' data-step=''><i>The preview appears after the first preview step.</i></div>"
    step = pv.stem.removeprefix("step_").lstrip("0") or "0"
    names = [c.replace("A", "\0").replace("B", b).replace("\0", a) for c in COLUMNS]
    head = "".join(f"<div>{html.escape(n)}</div>" for n in names)
    return (f"<div class='mq-grid' data-step='{html.escape(step)}'><div class='mq-cols'>{head}</div>"
            f"<img src='{file_url(ws.publish(pv))}' alt='preview at step {html.escape(step)}'>"
            f"<small>Step {html.escape(step)}. Each row: a face of each person, redrawn by the model, and drawn as the "
            f"other person.</small></div>")
