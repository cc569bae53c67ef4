"""The Train step's optional last part: train the model's face sharpener (identity upscaler) for person B, so a
swap draws B's face at full size. The same stage function as `masquerade train-upscaler`; its settings come
from UpscalerTrainConfig's declarations (ui/form.py)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..train.upscaler_config import UpscalerTrainConfig
from . import form
from .context import UIContext, active, guarded, job_html, latest, message, quiet
from .jobs import DONE
from .person_tab import faceset_of
from .runners import worker_for
from .workspace import PathRefused, check_name, is_model

SKIP = ("device", "threads")  # the job runs on the training's device with the worker's threads


def faceset_b(ctx: UIContext, model: str) -> str | None:
    """Person B's face set of `model`: the one its newest training used, else person B's."""
    job = next((j for j in ctx.queue.list("train") if j.params.get("model") == model), None)
    return (job.params.get("b") if job else None) or faceset_of(ctx, "b")


def build(ctx: UIContext, timer: gr.Timer, model: gr.Dropdown) -> dict[str, Any]:
    ws, queue = ctx.ws, ctx.queue
    with gr.Accordion("Sharper faces (optional, after training)", open=False, elem_id="sharpen"):
        gr.Markdown("The model draws small faces. A face sharpener learns person B's face at full size from "
                    "their face pictures, and the swap then uses it by itself. A few minutes help; longer is better.")
        fields = form.widgets(UpscalerTrainConfig, "sharpen", skip=SKIP, values={"minutes": 5.0}, per_row=3)
        with gr.Row():
            start = gr.Button("Train the face sharpener", elem_id="sharpen-start")
            stop = gr.Button("Stop", variant="stop", visible=False, elem_id="sharpen-stop")
        status = gr.HTML(job_html(queue.latest("sharpen"), empty="No face sharpener trained yet."),
                         elem_id="sharpen-status")
        msg = gr.Markdown("", elem_id="sharpen-msg", elem_classes="mq-msg")
    seen = gr.State("")

    def on_start(name: str | None, *values: Any):
        newest = queue.latest("train")
        name = name or (newest.params.get("model") if newest else None)  # the model the page shows
        if not name:
            return gr.skip(), message("train a model first (or pick one by its name above)", ok=False)
        name = check_name(name)
        if not is_model(ws.resolve(name, "models")):
            raise PathRefused(f"{name} has not saved anything yet; train it first")
        fs = faceset_b(ctx, name)
        if not fs:
            raise PathRefused("person B has no faces yet; find them in step 2")
        if active(queue.latest("sharpen")):
            raise PathRefused("a face sharpener is training already; wait for it or stop it")
        chosen = form.read(UpscalerTrainConfig, list(fields), values)
        worker = worker_for("auto", queue.devices)
        job = queue.submit("sharpen", {"model": name, "faceset": fs, "side": "b", "settings": chosen,
                                       "device": worker}, worker, title=f"Train the face sharpener of {name}")
        return job_html(job), ""

    def on_stop():
        job = queue.latest("sharpen")
        if not active(job):
            return gr.skip(), message("the face sharpener is not training", ok=False)
        queue.stop(job.id)
        return job_html(queue.get(job.id)), message("stopping; what it learnt is kept")

    def tick(sig: str):
        job = latest(queue, "sharpen")
        new_sig = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
        if new_sig == sig:
            return gr.skip(), gr.skip(), gr.skip(), sig
        ended = job is not None and not active(job) and not sig.startswith(f"{job.id}:{job.status}")
        note: Any = gr.skip()
        if ended:
            note = message(f"the face sharpener of {job.params.get('model')} is ready; Swap uses it by itself") \
                if job.status == DONE else ""
        return job_html(job), gr.update(visible=active(job)), note, new_sig

    start.click(guarded(on_start, 2), [model, *fields.values()], [status, msg])
    stop.click(guarded(on_stop, 2), [], [status, msg])
    timer.tick(quiet(tick, 4), [seen], [status, stop, msg, seen], show_progress="hidden")
    return {}
