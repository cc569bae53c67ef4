"""Convert tab: pick a model and a video, preview a frame with the blend/colour settings, render, play.

Everything shown here for download was written by `convert` through `provenance` (watermarked + signed).
The settings are generated from ConvertConfig's declarations (ui/form.py).
"""

from __future__ import annotations

import gradio as gr

from ..convert.config import ConvertConfig
from ..options import options
from . import form
from .context import UIContext, guarded, job_html, message, quiet, upload_dir
from .jobs import DONE
from .runners import devices, worker_for

MAIN = ("direction", "color", "blend", "upscale", "erode", "blur", "sharpen", "face")  # the rest: "More settings"


def build(ctx: UIContext, timer: gr.Timer) -> None:
    ws, queue = ctx.ws, ctx.queue
    gr.Markdown("Pick a trained model and a video. **Preview** renders one frame side by side with the current "
                "settings; **Render** converts the whole video. Outputs are watermarked and signed as synthetic.")
    with gr.Row():
        model = gr.Dropdown(ws.models(), label="Model", elem_id="convert-model", scale=2)
        media = gr.Dropdown(ws.media(), label="Video or image (workspace uploads/)", elem_id="convert-media", scale=2)
        upload = gr.File(label="…or upload one", file_count="single", type="filepath", elem_id="convert-upload",
                         height=110, scale=2)
    with gr.Row():
        device = gr.Dropdown(["auto"] + devices(), value="auto", label="Device", elem_id="convert-device")
        frames = gr.Slider(1, 4, value=1, step=1, label="Preview frames", elem_id="convert-frames")
    names = [o.name for o in options(ConvertConfig) if o.meta.ui]
    main = form.widgets(ConvertConfig, "convert", skip=[n for n in names if n not in MAIN])
    with gr.Accordion("More settings", open=False):
        more = form.widgets(ConvertConfig, "convert", skip=MAIN)
    fields = {**main, **more}
    with gr.Row():
        preview_btn = gr.Button("Preview", elem_id="convert-preview-btn")
        render_btn = gr.Button("Render", variant="primary", elem_id="convert-render")
        stop_btn = gr.Button("Cancel / stop", variant="stop", elem_id="convert-stop")
    status = gr.HTML(job_html(queue.latest("convert")), elem_id="convert-status")
    msg = gr.Markdown("", elem_id="convert-msg", elem_classes="mq-msg")
    with gr.Row():
        preview = gr.Image(label="Preview (original | swapped)", type="filepath", interactive=False, height=380,
                           buttons=["download", "fullscreen"], elem_id="convert-preview")
        video = gr.Video(label="Result", interactive=False, height=380, elem_id="convert-video")
    result = gr.File(label="Download (signed)", interactive=False, elem_id="convert-file")
    seen = gr.State("")

    def on_upload(path: str | None):
        if not path:
            return gr.skip(), gr.skip(), ""
        added, problems = ws.import_uploads([path], upload_dir())
        if problems:
            return gr.skip(), None, message(problems[0], ok=False)
        return gr.update(choices=ws.media(), value=added[0]), None, message(f"added {added[0]}")

    def submit(preview_n: int, model_name, source, dev, *values):
        if not model_name or not source:
            return gr.skip(), message("pick a model and a video first", ok=False)
        ws.resolve(model_name, "models"), ws.resolve(source, "uploads")
        chosen = form.read(ConvertConfig, list(fields), values)
        worker = worker_for(dev, queue.devices)
        params = {"input": source, "model": model_name, "preview": int(preview_n), "device": worker,
                  "settings": chosen}
        what = "preview" if preview_n else "render"
        job = queue.submit("convert", params, worker, title=f"{what} {source} with {model_name}")
        return job_html(job), message(f"queued job {job.id}")

    def on_stop():
        job = next((j for j in queue.list("convert") if j.status in ("queued", "running")), None)
        if job is None:
            return gr.skip(), message("no conversion is queued or running", ok=False)
        queue.stop(job.id)
        return job_html(queue.get(job.id)), message(f"{job.title}: stopping")

    def tick(sig: str):
        job = queue.latest("convert")
        new_sig = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
        if new_sig == sig:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), sig
        pv = vid = fil = gr.skip()
        if job and job.status == DONE and job.result:
            out = ws.publish(ws.resolve(job.result["output"], None))
            if job.result.get("preview"):
                pv = str(out)
            else:
                vid = str(out) if out.suffix == ".mp4" else None
                fil = str(out)
        return job_html(job), pv, vid, fil, new_sig

    settings = [device, *fields.values()]
    upload.upload(guarded(on_upload, 3), [upload], [media, upload, msg])
    preview_btn.click(guarded(submit, 2), [frames, model, media, *settings], [status, msg])
    render_btn.click(guarded(lambda *a: submit(0, *a), 2), [model, media, *settings], [status, msg])
    stop_btn.click(guarded(on_stop, 2), [], [status, msg])
    timer.tick(quiet(tick, 5), [seen], [status, preview, video, result, seen], show_progress="hidden")
