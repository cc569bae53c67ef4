"""Convert tab: pick a model and a video, preview a frame with the blend/colour settings, render, play.

Everything shown here for download was written by `convert` through `provenance` (watermarked + signed).
"""

from __future__ import annotations

import gradio as gr

from ..convert import blend as blend_mod
from ..convert import color as color_mod
from .context import UIContext, guarded, job_html, message, quiet, upload_dir
from .jobs import DONE
from .runners import devices, worker_for


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
        direction = gr.Radio(["a2b", "b2a"], value="a2b", label="Direction", elem_id="convert-direction")
        color = gr.Dropdown(list(color_mod.color), value="rct", label="Colour match", elem_id="convert-color")
        blend = gr.Dropdown(list(blend_mod.blend), value="alpha", label="Blend", elem_id="convert-blend")
        device = gr.Dropdown(["auto"] + devices(), value="auto", label="Device", elem_id="convert-device")
    with gr.Row():
        erode = gr.Slider(-10, 20, value=2.0, step=0.5, label="Mask erode (% of face width)", elem_id="convert-erode")
        blur = gr.Slider(0, 30, value=6.0, step=0.5, label="Mask feather (% of face width)", elem_id="convert-blur")
        sharpen = gr.Slider(0, 2, value=0.0, step=0.1, label="Sharpen", elem_id="convert-sharpen")
        frames = gr.Slider(1, 4, value=1, step=1, label="Preview frames", elem_id="convert-frames")
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

    def submit(preview_n: int, model_name, source, *settings):
        if not model_name or not source:
            return gr.skip(), message("pick a model and a video first", ok=False)
        ws.resolve(model_name, "models"), ws.resolve(source, "uploads")
        d, c, b, dev, e, bl, sh = settings
        worker = worker_for(dev, queue.devices)
        params = {"input": source, "model": model_name, "preview": int(preview_n), "device": worker,
                  "settings": {"direction": d, "color": c, "blend": b, "erode": float(e), "blur": float(bl),
                               "sharpen": float(sh)}}
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

    settings = [direction, color, blend, device, erode, blur, sharpen]
    upload.upload(guarded(on_upload, 3), [upload], [media, upload, msg])
    preview_btn.click(guarded(submit, 2), [frames, model, media, *settings], [status, msg])
    render_btn.click(guarded(lambda *a: submit(0, *a), 2), [model, media, *settings], [status, msg])
    stop_btn.click(guarded(on_stop, 2), [], [status, msg])
    timer.tick(quiet(tick, 5), [seen], [status, preview, video, result, seen], show_progress="hidden")
