"""Train tab: pick two face sets, start / stop / resume, watch the loss, the held-out validation curves and
the preview grid. The settings are generated from TrainConfig's declarations (ui/form.py)."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from .. import atomic
from ..options import options, parse_pairs
from ..train.config import TrainConfig
from . import form
from .context import UIContext, guarded, quiet, job_html, message
from .jobs import QUEUED, RUNNING, Job
from .runners import devices, model_step, worker_for
from .workspace import PathRefused, Workspace, check_name

SERIES = ("loss_a", "loss_b")
MAIN = ("steps", "minutes", "batch_size", "lr", "preview_every")  # shown at once; the other settings under "More settings"
UI_DEFAULTS = {"model": "lite", "preview_every": 50, "save_every": 250}  # a UI user watches a short run


def read_metrics(model_dir: Path, limit: int = 2000) -> "object":
    """metrics.jsonl as a long table (step, loss, series) for the plot; the last `limit` lines."""
    import pandas as pd

    rows = []
    path = model_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines()[-limit:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written right now
            rows += [{"step": rec["step"], "loss": rec[s], "series": s} for s in SERIES if s in rec]
    frame = pd.DataFrame(rows, columns=["step", "loss", "series"])
    # explicit dtypes: an empty frame would be typed "nominal" and the plot keeps its first axis types
    return frame.astype({"step": "int64", "loss": "float64", "series": "str"})


def latest_preview(model_dir: Path) -> Path | None:
    """The newest preview PNG the trainer wrote (through provenance) under MODEL/previews/."""
    found = sorted((model_dir / "previews").glob("step_*.png")) if (model_dir / "previews").is_dir() else []
    return found[-1] if found else None


def arch_settings(name: str | None) -> str:
    """The architecture's settings, their defaults and what each accepts (from its config's declarations),
    as the hint under its settings box."""
    from ..models import architecture
    from ..options import accepts

    if not name:
        return ""
    shown = [f"{o.name}={o.default}" + (f" ({accepts(o)})" if accepts(o) else "")
             for o in options(architecture(name).config_class)]
    return "Settings of " + name + ": " + ", ".join(shown)


def _check_arch(name: str, values: dict) -> None:
    """Refuse a new model's architecture settings that its config's declarations do not allow (one line)."""
    from ..models import make_config
    from ..options import ConfigFileError

    try:
        make_config(name, values)
    except ValueError as exc:
        raise ConfigFileError(f"architecture setting: {exc}") from None


def curves_image(ws: Workspace, model_dir: Path) -> Path | None:
    """The held-out validation curves (train/curves.py, the plot report.html embeds) as a published PNG;
    rendered into the jobs area (never into the model folder) and shown through `.shown/`."""
    from ..train.curves import read_metrics as read_lines
    from ..train.curves import render_png

    metrics = model_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    folder = ws.area("jobs") / "curves"
    folder.mkdir(exist_ok=True)
    png = atomic.write_bytes(folder / f"{model_dir.name}.png", render_png(read_lines(metrics), title=model_dir.name))
    return ws.publish(png)


def _active(queue, model: str) -> Job | None:
    return next((j for j in queue.list("train") if j.params.get("model") == model and j.status in (QUEUED, RUNNING)), None)


def build(ctx: UIContext, timer: gr.Timer) -> None:
    ws, queue = ctx.ws, ctx.queue
    devs = ["auto"] + devices()
    gr.Markdown("Train a swap model on face sets A and B. Picking an existing model resumes it exactly "
                "(its architecture is kept). Leave steps empty to train until you press Stop.")
    with gr.Row():
        fs_a = gr.Dropdown(ws.facesets(), label="Face set A (the face to replace)", elem_id="train-a")
        fs_b = gr.Dropdown(ws.facesets(), label="Face set B (the new face)", elem_id="train-b")
        model = gr.Dropdown(ws.models(), allow_custom_value=True, label="Model (new name, or existing to resume)",
                            elem_id="train-model")
    names = [o.name for o in options(TrainConfig) if o.meta.ui]
    with gr.Row():
        arch = form.widget(next(o for o in options(TrainConfig) if o.name == "model"), "train", UI_DEFAULTS["model"],
                           elem_id="train-arch", label="Architecture (new models)")
        arch_opts = gr.Textbox(label="Architecture settings (new models)", placeholder="e.g. variant=liae, d_dims=32",
                               info=arch_settings(UI_DEFAULTS["model"]), elem_id="train-arch-options")
        device = gr.Dropdown(devs, value="auto", label="Device", elem_id="train-device")
    main = form.widgets(TrainConfig, "train", skip=[n for n in names if n not in MAIN], values=UI_DEFAULTS)
    with gr.Accordion("More settings", open=False):
        more = form.widgets(TrainConfig, "train", skip=("model", *MAIN), values=UI_DEFAULTS)
    settings = {**main, **more}
    with gr.Row():
        start = gr.Button("Start / resume", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop (saves a checkpoint)", variant="stop", elem_id="train-stop")
    status = gr.HTML(job_html(queue.latest("train")), elem_id="train-status")
    msg = gr.Markdown("", elem_id="train-msg", elem_classes="mq-msg")
    with gr.Row():
        # starts as None: a plot first given an empty table never draws its lines later (Gradio 6.31)
        plot = gr.LinePlot(None, x="step", y="loss", color="series", title="Training loss", height=320,
                           elem_id="train-plot")
        preview = gr.Image(label="Preview: A, A→A, A→B, B, B→B, B→A", type="filepath", interactive=False, height=380,
                           buttons=["download", "fullscreen"], elem_id="train-preview")  # provenance-signed PNGs
    curves = gr.Image(label="Held-out validation (SSIM/L1 A→A, B→B, identity distance; dashed lines: plan switches)",
                      type="filepath", interactive=False, elem_id="train-curves")
    seen = gr.State("")

    def on_start(a, b, name, arch_name, arch_text, dev, *values):
        if not a or not b:
            return gr.skip(), message("pick face sets A and B", ok=False)
        name = check_name(name)
        ws.resolve(a, "facesets"), ws.resolve(b, "facesets")
        if _active(queue, name):
            raise PathRefused(f"model {name} already has a queued or running job; stop it first")
        chosen = form.read(TrainConfig, list(settings), values)
        pairs = [p.strip() for p in (arch_text or "").replace("\n", ",").split(",") if p.strip()]
        model_options = parse_pairs(pairs, "architecture setting")
        step = model_step(ws.resolve(name, "models"))
        if step is None:  # a new model: its settings are checked here, not in the job after it was queued
            _check_arch(arch_name, model_options)
        worker = worker_for(dev, queue.devices)
        params = {"a": a, "b": b, "model": name, "arch": arch_name, "model_options": model_options, "device": worker,
                  "settings": chosen}
        verb = f"resume from step {step}" if step is not None else f"new {arch_name} model"
        job = queue.submit("train", params, worker, title=f"train {name} ({verb})")
        return job_html(job), message(f"queued job {job.id} on {worker}")

    def on_stop(name):
        job = (_active(queue, name) if name else None) or next(
            (j for j in queue.list("train") if j.status in (QUEUED, RUNNING)), None)
        if job is None:
            return gr.skip(), message("no training is queued or running", ok=False)
        state = queue.stop(job.id)
        what = "cancelled" if state == "cancelled" else "stopping after this step (a checkpoint is saved)"
        return job_html(queue.get(job.id)), message(f"{job.title}: {what}")

    def tick(sig: str, name: str | None):
        job = queue.latest("train")
        shown = name or (job.params.get("model") if job else None)
        try:
            model_dir = ws.resolve(check_name(shown), "models") if shown else None
        except PathRefused:
            model_dir = None
        metrics = model_dir / "metrics.jsonl" if model_dir else None
        mtime = metrics.stat().st_mtime_ns if metrics and metrics.is_file() else 0
        pv = latest_preview(model_dir) if model_dir else None
        new_sig = f"{job.id if job else ''}:{job.status if job else ''}:{job.progress.get('done') if job else ''}:{shown}:{mtime}:{pv}"
        if new_sig == sig:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), sig
        data = read_metrics(model_dir) if model_dir else None
        shown_pv = str(ws.publish(pv)) if pv else None
        png = curves_image(ws, model_dir) if model_dir and mtime else None
        return (job_html(job), (data if data is not None and len(data) else None), shown_pv,
                str(png) if png else None, new_sig)

    start.click(guarded(on_start, 2), [fs_a, fs_b, model, arch, arch_opts, device, *settings.values()], [status, msg])
    stop.click(guarded(on_stop, 2), [model], [status, msg])
    arch.change(lambda n: gr.update(info=arch_settings(n)), [arch], [arch_opts])
    timer.tick(quiet(tick, 5), [seen, model], [status, plot, preview, curves, seen], show_progress="hidden")
