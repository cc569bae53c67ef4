"""The Train step: a model learns persons A and B; start / stop / resume, watch two charts and the preview grid,
then optionally train the face sharpener. The settings are generated from TrainConfig's and the chosen model
type's declarations (ui/form.py): most are folded under "Advanced"."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..options import options
from ..train.config import TrainConfig
from . import form, sharpen_panel, train_view
from .context import UIContext, active, guarded, job_html, message, quiet
from .jobs import DONE, QUEUED, RUNNING, Job
from .person_tab import faceset_of
from .runners import UI_TRAIN_DEFAULTS, devices, model_step, worker_for
from .workspace import PathRefused, check_name

UI_DEFAULTS = {"model": "lite", **UI_TRAIN_DEFAULTS}  # a UI user watches a short run: shown as the job uses them
HIDDEN = ("model", "init_decoders")  # the model type has its own field; starting from another model is CLI-only


def arch_fields(name: str) -> list:
    """The declared settings of model type `name` (its config class), each a field of its own."""
    from ..models import architecture

    return options(architecture(name).config_class)


def _check_arch(name: str, values: dict) -> None:
    """Refuse a new model's settings that its type's declarations do not allow (one line)."""
    from ..models import make_config
    from ..options import ConfigFileError

    try:
        make_config(name, values)
    except ValueError as exc:
        raise ConfigFileError(f"model setting: {exc}") from None


def _active(queue, model: str) -> Job | None:
    return next((j for j in queue.list("train") if j.params.get("model") == model and j.status in (QUEUED, RUNNING)), None)


def build(ctx: UIContext, timer: gr.Timer, tabs: gr.Tabs) -> dict[str, Any]:
    """Build the step; returns the components the app refreshes when the step is opened."""
    ws, queue = ctx.ws, ctx.queue
    types = [o for o in options(TrainConfig) if o.name == "model"][0]
    gr.Markdown("The model learns to draw both people's faces. Watch the preview: when the faces in the "
                "*as B* / *as A* columns look like the other person, stop and go on to *Swap*. A stopped "
                "model can be trained more later: start it again with the same name.")
    with gr.Row():
        fs_a = gr.Dropdown(ws.facesets(), value=faceset_of(ctx, "a"), label="Person A (the face to replace)",
                           elem_id="train-a")
        fs_b = gr.Dropdown(ws.facesets(), value=faceset_of(ctx, "b"), label="Person B (the new face)",
                           elem_id="train-b")
        model = gr.Dropdown(ws.models(), allow_custom_value=True, label="Model name",
                            info="A new name starts a new model; an existing one goes on training it.",
                            elem_id="train-model")
    with gr.Row():
        arch = form.widget(types, "train", UI_DEFAULTS["model"], elem_id="train-arch")
        device = gr.Dropdown(["auto"] + devices(), value="auto", label="Device",
                             info="Where the work runs: auto picks a graphics card when there is one.",
                             elem_id="train-device")
    main = form.widgets(TrainConfig, "train", skip=HIDDEN, values=UI_DEFAULTS, per_row=3, advanced=False)
    arch_widgets: dict[str, dict[str, Any]] = {}
    with gr.Accordion("Model type settings (new models only)", open=False, elem_id="train-arch-settings"):
        for name in types.meta.allowed():
            with gr.Column(visible=name == UI_DEFAULTS["model"]) as col:
                fields = arch_fields(name)
                with gr.Row():
                    arch_widgets[name] = {o.name: form.widget(o, f"train-{name}") for o in fields}
            arch_widgets[name]["__column__"] = col
    more = form.widgets(TrainConfig, "train", skip=HIDDEN, values=UI_DEFAULTS, main=False)
    settings = {**main, **more}
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop (keeps what it learnt)", variant="stop", visible=False, elem_id="train-stop")
        next_btn = gr.Button("Next: swap faces →", variant="primary", visible=False, elem_id="train-next")
    status = gr.HTML(job_html(queue.latest("train"), empty="No training yet."), elem_id="train-status")
    msg = gr.Markdown("", elem_id="train-msg", elem_classes="mq-msg")
    grid = gr.HTML(train_view.grid_html(ws, None), elem_id="train-preview")
    with gr.Row():
        # start as None and hidden: an empty plot is an untitled box, and one given an empty table first
        # never draws its lines later (Gradio 6.31)
        loss = gr.LinePlot(None, x="step", y="value", color="Person", height=300, visible=False,
                           elem_id="train-plot", **train_view.LOSS_CHART)
        quality = gr.LinePlot(None, x="step", y="value", color="Person", height=300, visible=False,
                              elem_id="train-quality", **train_view.QUALITY_CHART)
    sharpen = sharpen_panel.build(ctx, timer, model)
    seen = gr.State("")
    flat = [(name, key, w) for name, ws_ in arch_widgets.items() for key, w in ws_.items() if key != "__column__"]

    def on_start(a, b, name, arch_name, dev, *values):
        if not a or not b:
            return gr.skip(), message("pick person A and person B (find their faces in steps 1 and 2)", ok=False)
        if a == b:
            return gr.skip(), message("person A and person B must be two different people", ok=False)
        name = check_name(name or f"{a}-to-{b}")
        ws.resolve(a, "facesets"), ws.resolve(b, "facesets")
        if _active(queue, name):
            raise PathRefused(f"model {name} is training already; stop it first")
        chosen = form.read(TrainConfig, list(settings), values[:len(settings)])
        arch_values = dict(zip([(n, k) for n, k, _ in flat], values[len(settings):]))
        model_options = {k: v for (n, k), v in arch_values.items() if n == arch_name}
        model_options = form.read(arch_config(arch_name), list(model_options), list(model_options.values()))
        step = model_step(ws.resolve(name, "models"))
        if step is None:  # a new model: its settings are checked here, not in the job after it was queued
            _check_arch(arch_name, model_options)
        worker = worker_for(dev, queue.devices)
        params = {"a": a, "b": b, "model": name, "arch": arch_name, "model_options": model_options, "device": worker,
                  "settings": chosen}
        verb = f"going on from step {step}" if step is not None else f"new {arch_name} model"
        job = queue.submit("train", params, worker, title=f"Train {name} ({verb})")
        return job_html(job), ""

    def on_stop(name):
        job = (_active(queue, name) if name else None) or next(
            (j for j in queue.list("train") if j.status in (QUEUED, RUNNING)), None)
        if job is None:
            return gr.skip(), message("no training is running", ok=False)
        state = queue.stop(job.id)
        what = "cancelled" if state == "cancelled" else "stopping after this step; what it learnt is kept"
        return job_html(queue.get(job.id)), message(what)

    def tick(sig: str, name: str | None, a: str | None, b: str | None):
        job = queue.latest("train")
        shown = name or (job.params.get("model") if job else None)
        try:
            model_dir = ws.resolve(check_name(shown), "models") if shown else None
        except PathRefused:
            model_dir = None
        metrics = model_dir / "metrics.jsonl" if model_dir else None
        mtime = metrics.stat().st_mtime_ns if metrics and metrics.is_file() else 0
        pv = train_view.latest_preview(model_dir) if model_dir else None
        state = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
        new_sig = f"{state}:{shown}:{mtime}:{pv}:{a}:{b}"
        if new_sig == sig:
            return (gr.skip(),) * 7 + (sig,)
        ended = job is not None and not active(job) and not sig.startswith(f"{job.id}:{job.status}")
        note: Any = gr.skip()
        if ended:  # the message follows the job
            note = message(f"{job.params.get('model')} has trained {job.result.get('step')} steps. Train more, "
                           f"or go on to Swap.") if job.status == DONE and job.result else ""
        curves = [train_view.read_metrics(model_dir, s) if model_dir else None
                  for s in (train_view.LOSS, train_view.QUALITY)]
        plots = [gr.update(value=c, visible=c is not None) for c in curves]
        running = active(job)
        return (job_html(job), *plots, train_view.grid_html(ws, model_dir, a or "A", b or "B"),
                gr.update(visible=running), gr.update(visible=bool(model_dir and mtime) and not running), note, new_sig)

    def on_arch(name: str):
        return [gr.update(visible=n == name) for n in arch_widgets]

    def arch_config(name: str) -> type:
        from ..models import architecture

        return architecture(name).config_class

    start.click(guarded(on_start, 2), [fs_a, fs_b, model, arch, device, *settings.values(), *[w for *_, w in flat]],
                [status, msg])
    stop.click(guarded(on_stop, 2), [model], [status, msg])
    arch.change(on_arch, [arch], [w["__column__"] for w in arch_widgets.values()])
    next_btn.click(lambda: gr.Tabs(selected="swap"), None, [tabs])
    timer.tick(quiet(tick, 8), [seen, model, fs_a, fs_b], [status, loss, quality, grid, stop, next_btn, msg, seen],
               show_progress="hidden")
    return {"train-a": fs_a, "train-b": fs_b, "train-model": model, **sharpen}
