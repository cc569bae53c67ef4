"""Extract tab: upload or pick media, extract a face set in the background, browse faces, drop bad ones.

The extraction settings are generated from ExtractConfig's declarations (ui/form.py)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..extract import ExtractConfig
from . import form
from .context import UIContext, guarded, job_html, message, quiet, upload_dir
from .faces import face_files, remove_faces
from .jobs import DONE
from .workspace import check_name


def build(ctx: UIContext, timer: gr.Timer) -> None:
    ws, queue = ctx.ws, ctx.queue
    gr.Markdown("Upload videos or images (or pick ones already in the workspace), name the face set, extract. "
                "Then look through the faces and drop bad ones (wrong person, blurry, misaligned).")
    with gr.Row():
        upload = gr.File(label="Upload videos / images", file_count="multiple", type="filepath",
                         elem_id="extract-upload", scale=2)
        with gr.Column(scale=3):
            media = gr.Dropdown(ws.media(), multiselect=True, label="Sources (workspace uploads/)", elem_id="extract-media")
            with gr.Row():
                name = gr.Textbox(label="Face set name", placeholder="e.g. alice", elem_id="extract-name")
            with gr.Accordion("Settings", open=False):
                fields = form.widgets(ExtractConfig, "extract", per_row=3)
            start = gr.Button("Extract", variant="primary", elem_id="extract-start")
    status = gr.HTML(job_html(queue.latest("extract")), elem_id="extract-status")
    msg = gr.Markdown("", elem_id="extract-msg", elem_classes="mq-msg")
    gr.Markdown("### Faces")
    with gr.Row():
        faceset = gr.Dropdown(ws.facesets(), value=None, label="Face set", elem_id="extract-faceset")
        drop = gr.Dropdown([], multiselect=True, label="Faces to drop (click faces to add)", elem_id="extract-drop", scale=2)
        drop_btn = gr.Button("Drop selected faces", variant="stop", elem_id="extract-drop-btn")
    gallery = gr.Gallery(label="Detected faces", columns=10, height=420, allow_preview=False,
                         buttons=["fullscreen"], elem_id="extract-gallery")  # real faces: no download offered
    shown = gr.State([])  # file names in gallery order, to map a click to a face
    seen = gr.State("")

    def on_upload(files: list[str] | None, selected: list[str] | None):
        added, problems = ws.import_uploads(files, upload_dir())
        text = (message(f"added {', '.join(added)}") if added else "") + \
               ("  \n" if added and problems else "") + "  \n".join(message(p, ok=False) for p in problems)
        value = added or list(selected or [])  # new uploads become the selection
        return gr.update(choices=ws.media(), value=value), None, text

    def on_start(sources: list[str] | None, fs_name: str, *values: Any):
        if not sources:
            return gr.skip(), message("pick or upload at least one video or image", ok=False)
        fs_name = check_name(fs_name)
        for s in sources:
            ws.resolve(s, "uploads")
        chosen = form.read(ExtractConfig, list(fields), values)
        job = queue.submit("extract", {"inputs": list(sources), "output": fs_name, "settings": chosen},
                           "cpu", title=f"extract → {fs_name}")
        return job_html(job), message(f"queued job {job.id}")

    def show_faces(fs_name: str | None):
        if not fs_name:
            return [], gr.update(choices=[], value=[]), [], ""
        faces = [(str(ws.publish(path)), n) for path, n in face_files(ws.resolve(fs_name, "facesets"))]
        names = [n for _, n in faces]
        return faces, gr.update(choices=names, value=[]), names, message(f"{fs_name}: showing {len(names)} face(s)")

    def on_select(evt: gr.SelectData, names: list[str], chosen: list[str] | None):
        chosen = list(chosen or [])
        if evt.index is None or not 0 <= int(evt.index) < len(names):
            return gr.skip()
        f = names[int(evt.index)]
        return chosen + [f] if f not in chosen else [c for c in chosen if c != f]

    def on_drop(fs_name: str | None, chosen: list[str] | None):
        if not fs_name or not chosen:
            return gr.skip(), gr.skip(), gr.skip(), message("click faces in the gallery to choose some first", ok=False)
        n = remove_faces(ws.resolve(fs_name, "facesets"), chosen)
        faces, drop_update, names, _ = show_faces(fs_name)
        return faces, drop_update, names, message(f"dropped {n} face(s) from {fs_name}; {len(names)} left")

    def tick(sig: str, current: str | None):
        job = queue.latest("extract")
        new_sig = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
        if new_sig == sig:
            return gr.skip(), gr.skip(), sig
        fs_update: Any = gr.skip()
        if job and job.status == DONE and job.result and not sig.startswith(f"{job.id}:{DONE}"):
            fs_update = gr.update(choices=ws.facesets(), value=job.result.get("faceset") if not current else current)
        return job_html(job), fs_update, new_sig

    upload.upload(guarded(on_upload, 3), [upload, media], [media, upload, msg])
    start.click(guarded(on_start, 2), [media, name, *fields.values()], [status, msg])
    faceset.change(guarded(show_faces, 4), [faceset], [gallery, drop, shown, msg])
    gallery.select(on_select, [shown, drop], [drop])
    drop_btn.click(guarded(on_drop, 4), [faceset, drop], [gallery, drop, shown, msg])
    timer.tick(quiet(tick, 3), [seen, faceset], [status, faceset, seen], show_progress="hidden")
