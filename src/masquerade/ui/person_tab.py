"""The "Person A" and "Person B" steps: a person's clips become one face set named after that person; then
the faces are looked through, cleaned up (ui/cleanup_panel.py) and bad ones dropped.

Why one tab per person and not one Extract form: a face set is one person. A form that takes any uploads
and a name let a new user put two people's clips in one face set; here each upload goes to the person whose
tab it is, and the face set's name is that person's name. The extraction settings are generated from
ExtractConfig's declarations (ui/form.py), all folded under "Advanced".
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..extract import ExtractConfig
from . import form
from .cleanup_panel import Panel
from .context import UIContext, active, guarded, job_html, latest, message, quiet, upload_dir
from .faces import face_files, remove_faces
from .jobs import DONE
from .workspace import PathRefused, check_name

INTRO = {
    "a": "**Person A** is the person in the video you want to change: their face will be replaced. Give them a "
         "name, add one or more clips or photos of **only this person**, then press *Find faces*.",
    "b": "**Person B** is the face you want to see instead. Give them a name, add clips or photos of **only this "
         "person**, then press *Find faces*.",
}
NEXT = {"a": ("Next: faces of person B →", "person-b"), "b": ("Next: train →", "train")}


def faceset_of(ctx: UIContext, side: str) -> str | None:
    """The face set of person `side` (A or B): the one their newest finished face-finding job made."""
    job = next((j for j in ctx.queue.list("extract") if j.params.get("person") == side and j.status == DONE), None)
    name = job.params.get("output") if job else None
    return name if name in ctx.ws.facesets() else None


def build(ctx: UIContext, timer: gr.Timer, tabs: gr.Tabs, side: str) -> dict[str, Any]:
    """Build the step for person `side`; returns the components the app refreshes when the step is opened."""
    ws, queue = ctx.ws, ctx.queue
    p, who = side, f"person {side.upper()}"
    gr.Markdown(INTRO[side])
    with gr.Row():
        with gr.Column(scale=3):
            name = gr.Dropdown(ws.facesets(), value=faceset_of(ctx, side), allow_custom_value=True,
                               label=f"Name of {who}",
                               info="A new name, or a person whose faces you collected before (more clips add to them).",
                               elem_id=f"{p}-name")
            media = gr.Dropdown([], multiselect=True, label=f"Clips and photos of {who}",
                                info="What you add here; earlier uploads can be picked too.", elem_id=f"{p}-media")
            fields = form.widgets(ExtractConfig, p, per_row=3)
            with gr.Row():
                start = gr.Button("Find faces", variant="primary", elem_id=f"{p}-start")
                next_btn = gr.Button(NEXT[side][0], variant="primary", visible=False, elem_id=f"{p}-next")
        upload = gr.File(label=f"Add clips or photos of {who}", file_count="multiple", type="filepath",
                         elem_id=f"{p}-upload", scale=2)
    status = gr.HTML(job_html(latest(queue, "extract", person=side), empty="No faces found yet."),
                     elem_id=f"{p}-status")
    msg = gr.Markdown("", elem_id=f"{p}-msg", elem_classes="mq-msg")
    cleanup = Panel(ctx, side)  # folded: other people, near-identical frames, coverage (ui/cleanup_panel.py)
    gr.Markdown(f"### Faces of {who}\nClick a face that is not {who}, blurred or cut off, then *Drop chosen faces*.")
    with gr.Row():
        drop = gr.Dropdown([], multiselect=True, label="Chosen faces (click faces to choose)", elem_id=f"{p}-drop",
                           scale=3)
        drop_btn = gr.Button("Drop chosen faces", variant="stop", elem_id=f"{p}-drop-btn")
    gallery = gr.Gallery(label=f"Faces of {who}", columns=8, height="auto", allow_preview=False,
                         buttons=["fullscreen"], elem_id=f"{p}-gallery")  # real faces: no download offered
    shown = gr.State([])  # face file names in gallery order, to map a click to a face
    seen = gr.State("")

    def on_upload(files: list[str] | None, selected: list[str] | None):
        added, problems = ws.import_uploads(files, upload_dir())
        text = "  \n".join(message(p, ok=False) for p in problems)
        value = list(dict.fromkeys([*(selected or []), *added]))  # this person's clips: what was added here
        return gr.update(choices=ws.media(), value=value), None, text

    def on_start(person: str | None, sources: list[str] | None, *values: Any):
        if not person:
            return gr.skip(), message(f"give {who} a name first", ok=False)
        if not sources:
            return gr.skip(), message(f"add at least one clip or photo of {who}", ok=False)
        fs_name = check_name(person)
        for s in sources:
            ws.resolve(s, "uploads")
        if active(latest(queue, "extract", person=side)):
            raise PathRefused(f"faces of {who} are being found already; wait for that to finish")
        chosen = form.read(ExtractConfig, list(fields), values)
        job = queue.submit("extract", {"inputs": list(sources), "output": fs_name, "settings": chosen, "person": side},
                           "cpu", title=f"Find the faces of {fs_name} ({who})")
        return job_html(job), ""

    def show_faces(fs_name: str | None):
        """The gallery follows the chosen person: their faces, captioned by clip and frame."""
        try:
            folder = ws.resolve(check_name(fs_name), "facesets") if fs_name else None
        except PathRefused:
            folder = None
        if folder is None or fs_name not in ws.facesets():
            return [], gr.update(choices=[], value=[]), []
        faces = face_files(folder)
        pictures = [(str(ws.publish(path)), caption) for path, _, caption in faces]
        choices = [(caption, file) for _, file, caption in faces]
        return pictures, gr.update(choices=choices, value=[]), [f for _, f, _ in faces]

    def on_select(evt: gr.SelectData, names: list[str], chosen: list[str] | None):
        chosen = list(chosen or [])
        if evt.index is None or not 0 <= int(evt.index) < len(names):
            return gr.skip()
        f = names[int(evt.index)]
        return chosen + [f] if f not in chosen else [c for c in chosen if c != f]

    def on_drop(fs_name: str | None, chosen: list[str] | None):
        if not fs_name or not chosen:
            return gr.skip(), gr.skip(), gr.skip(), message("click faces in the gallery to choose some first", ok=False)
        n = remove_faces(ws.resolve(check_name(fs_name), "facesets"), chosen)
        faces, drop_update, names = show_faces(fs_name)
        return faces, drop_update, names, message(f"dropped {n} face(s) of {fs_name}; {len(names)} left")

    def tick(sig: str, current: str | None):
        job = latest(queue, "extract", person=side)
        new_sig = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
        if new_sig == sig:
            return (gr.skip(),) * 7 + (sig,)
        ended = job is not None and not active(job) and not sig.startswith(f"{job.id}:{job.status}")
        name_update: Any = gr.skip()
        note: Any = gr.skip()
        faces: tuple = (gr.skip(),) * 3
        if ended:  # the message follows the job: what was asked is replaced by what came of it
            note = ""
            if job.status == DONE and job.result:
                kept, made = job.result.get("faces_kept", 0), job.result.get("faceset")
                if made == current or not current:  # the gallery follows the face set the job filled
                    name_update = gr.update(choices=ws.facesets(), value=made)
                    faces = show_faces(made)
                note = message(f"found {kept} face(s) of {made}. Drop any that are wrong below, then go on.")
        next_visible = job is not None and job.status == DONE
        return (job_html(job), name_update, *faces, note, gr.update(visible=next_visible), new_sig)

    upload.upload(guarded(on_upload, 3), [upload, media], [media, upload, msg])
    start.click(guarded(on_start, 2), [name, media, *fields.values()], [status, msg])
    name.change(show_faces, [name], [gallery, drop, shown])
    gallery.select(on_select, [shown, drop], [drop])
    dropped = drop_btn.click(guarded(on_drop, 4), [name, drop], [gallery, drop, shown, msg])
    cleanup.wire(timer, name, [gallery, drop, shown], show_faces, dropped)
    next_btn.click(lambda: gr.Tabs(selected=NEXT[side][1]), None, [tabs])
    timer.tick(quiet(tick, 8), [seen, name], [status, name, gallery, drop, shown, msg, next_btn, seen],
               show_progress="hidden")
    return {f"{p}-name": name}
