"""The Swap step: pick a trained model and a clip, preview the swap at a chosen moment, render the clip (or a
part of it from a start to an end time), play it.

Everything shown here for download was written by `convert` through `provenance` (watermarked + signed).
The settings are generated from ConvertConfig's declarations (ui/form.py); expert ones fold under "Advanced".
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..convert.config import ConvertConfig
from . import form
from .context import UIContext, active, guarded, job_html, message, quiet, upload_dir
from .jobs import DONE
from .runners import devices, worker_for

SKIP = ("start", "end")  # laid out beside the frame picker, not among the settings


def clip_of_a(ctx: UIContext) -> str | None:
    """The first clip person A's faces were found in: the clip a new user most likely wants to change."""
    job = next((j for j in ctx.queue.list("extract") if j.params.get("person") == "a"), None)
    clips = [c for c in (job.params.get("inputs") or []) if c in ctx.ws.media()] if job else []
    return clips[0] if clips else None


def duration(ctx: UIContext, name: str | None) -> float:
    """Seconds of clip `name` in uploads/ (0 for a photo or nothing)."""
    from ..media import probe

    if not name:
        return 0.0
    info = probe(ctx.ws.resolve(name, "uploads"))
    return (info.frame_count or 0) / info.fps if info.kind == "video" and info.fps else 0.0


def build(ctx: UIContext, timer: gr.Timer, tabs: gr.Tabs, verify_pick: gr.Dropdown) -> dict[str, Any]:
    ws, queue = ctx.ws, ctx.queue
    gr.Markdown("Pick the model and the clip of person A. *Preview* shows the swap at the moment you choose, "
                "before and after side by side; *Swap the clip* does the whole clip (or the part from the start "
                "to the end time). Everything made here is marked as synthetic: invisibly in the picture, and "
                "with a signed label in the file.")
    models = ws.models()
    with gr.Row():
        model = gr.Dropdown(models, value=models[-1] if len(models) == 1 else None, label="Model",
                            elem_id="convert-model", scale=2)
        media = gr.Dropdown(ws.media(), value=clip_of_a(ctx), label="Clip or photo of person A",
                            elem_id="convert-media", scale=2)
        upload = gr.File(label="…or add one", file_count="single", type="filepath", elem_id="convert-upload",
                         height=110, scale=2)
    main = form.widgets(ConvertConfig, "convert", skip=SKIP, per_row=3, advanced=False)
    with gr.Row():
        part = form.widgets(ConvertConfig, "convert", skip=[n for n in form.ui_names(ConvertConfig) if n not in SKIP])
        at = gr.Slider(0, 10, value=0, step=0.1, label="Preview at (seconds)",
                       info="The moment of the clip the preview shows.", elem_id="convert-at")
        frames = gr.Slider(1, 4, value=1, step=1, label="Preview frames",
                           info="More than one: moments spread from the chosen one to the end time.",
                           elem_id="convert-frames")
    more = form.widgets(ConvertConfig, "convert", skip=SKIP, main=False)
    with gr.Accordion("Device", open=False):
        device = gr.Dropdown(["auto"] + devices(), value="auto", label="Device",
                             info="Where the work runs: auto picks a graphics card when there is one.",
                             elem_id="convert-device")
    fields = {**main, **part, **more}
    with gr.Row():
        preview_btn = gr.Button("Preview", elem_id="convert-preview-btn")
        render_btn = gr.Button("Swap the clip", variant="primary", elem_id="convert-render")
        stop_btn = gr.Button("Stop", variant="stop", visible=False, elem_id="convert-stop")
        next_btn = gr.Button("Next: check the result →", variant="primary", visible=False, elem_id="convert-next")
    status = gr.HTML(job_html(queue.latest("convert"), empty="Nothing swapped yet."), elem_id="convert-status")
    msg = gr.Markdown("", elem_id="convert-msg", elem_classes="mq-msg")
    preview = gr.Image(label="Preview: before | after", type="filepath", interactive=False,
                       buttons=["download", "fullscreen"], elem_id="convert-preview")
    with gr.Row():
        video = gr.Video(label="Result", interactive=False, height=420, elem_id="convert-video")
        result = gr.File(label="Download (marked and signed as synthetic)", interactive=False, elem_id="convert-file")
    seen = gr.State("")

    def picker(name: str | None):
        """The frame picker spans the chosen clip."""
        seconds = duration(ctx, name)
        return gr.update(maximum=max(round(seconds, 1), 0.1), value=0, interactive=seconds > 0)

    def on_upload(path: str | None):
        if not path:
            return gr.skip(), gr.skip(), ""
        added, problems = ws.import_uploads([path], upload_dir())
        if problems:
            return gr.skip(), None, message(problems[0], ok=False)
        return gr.update(choices=ws.media(), value=added[0]), None, ""

    def submit(preview_n: int, at_s: float, model_name, source, dev, *values):
        if not model_name or not source:
            return gr.skip(), message("pick a model and a clip first", ok=False)
        ws.resolve(model_name, "models"), ws.resolve(source, "uploads")
        chosen = form.read(ConvertConfig, list(fields), values)
        if preview_n:  # the preview starts at the picked moment; the end time still bounds a spread of frames
            end = chosen.get("end")
            chosen.update(start=float(at_s or 0.0), end=end if end and end > float(at_s or 0.0) else None)
        ConvertConfig(**chosen).validate()
        worker = worker_for(dev, queue.devices)
        params = {"input": source, "model": model_name, "preview": int(preview_n), "device": worker,
                  "settings": chosen}
        what = f"Preview at {float(at_s or 0):.1f} s of" if preview_n else "Swap"
        job = queue.submit("convert", params, worker, title=f"{what} {source} with {model_name}")
        return job_html(job), ""

    def on_stop():
        job = next((j for j in queue.list("convert") if active(j)), None)
        if job is None:
            return gr.skip(), message("nothing is being swapped", ok=False)
        queue.stop(job.id)
        return job_html(queue.get(job.id)), message("stopping")

    def tick(sig: str):
        job = queue.latest("convert")
        new_sig = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
        if new_sig == sig:
            return (gr.skip(),) * 8 + (sig,)
        pv = vid = fil = pick = note = gr.skip()
        ended = job is not None and not active(job) and not sig.startswith(f"{job.id}:{job.status}")
        if ended:
            note = ""
        if job and job.status == DONE and job.result:
            out = ws.publish(ws.resolve(job.result["output"], None))
            if job.result.get("preview"):
                pv = str(out)
            else:
                vid = str(out) if out.suffix == ".mp4" else None
                fil = str(out)
                rel = job.result["output"].removeprefix("outputs/")
                pick = gr.update(choices=ws.outputs(), value=rel)
                if ended:
                    note = message(f"done: {job.result.get('faces_swapped', 0)} face(s) swapped in "
                                   f"{job.result.get('frames', 0)} frame(s). Check it on the next step.")
        render_done = bool(job and job.status == DONE and job.result and not job.result.get("preview"))
        return (job_html(job), pv, vid, fil, pick, gr.update(visible=active(job)), gr.update(visible=render_done),
                note, new_sig)

    settings = [device, *fields.values()]
    upload.upload(guarded(on_upload, 3), [upload], [media, upload, msg])
    media.change(picker, [media], [at])
    preview_btn.click(guarded(submit, 2), [frames, at, model, media, *settings], [status, msg])
    render_btn.click(guarded(lambda *a: submit(0, 0.0, *a), 2), [model, media, *settings], [status, msg])
    stop_btn.click(guarded(on_stop, 2), [], [status, msg])
    next_btn.click(lambda: gr.Tabs(selected="verify"), None, [tabs])
    timer.tick(quiet(tick, 9), [seen], [status, preview, video, result, verify_pick, stop_btn, next_btn, msg, seen],
               show_progress="hidden")
    return {"convert-model": model, "convert-media": media}
