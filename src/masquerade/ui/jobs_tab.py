"""Jobs tab: every job in the workspace (running, queued, finished), its log, and stop / cancel."""

from __future__ import annotations

import time

import gradio as gr

from .context import UIContext, guarded, quiet, message

COLUMNS = ["id", "kind", "title", "status", "progress", "device", "started", "error"]


def rows(queue) -> list[list[str]]:
    out = []
    for j in queue.list():
        frac = j.fraction
        prog = f"{frac:.0%}" if frac is not None else str(j.progress.get("done") or "")
        started = time.strftime("%H:%M:%S", time.localtime(j.started)) if j.started else ""
        out.append([j.id, j.kind, j.title, j.status, prog, j.device, started, j.error or ""])
    return out


def build(ctx: UIContext, timer: gr.Timer) -> None:
    queue = ctx.queue
    gr.Markdown("Jobs run in the background, one at a time per device, and survive a page reload.")
    table = gr.Dataframe(rows(queue), headers=COLUMNS, interactive=False, elem_id="jobs-table")
    with gr.Row():
        pick = gr.Dropdown([j.id for j in queue.list()], label="Job", elem_id="jobs-pick")
        stop = gr.Button("Stop / cancel", variant="stop", elem_id="jobs-stop")
    log = gr.Textbox(label="Log", lines=10, interactive=False, elem_id="jobs-log")
    msg = gr.Markdown("", elem_classes="mq-msg")
    seen = gr.State("")

    def tick(sig: str, job_id: str | None):
        jobs = queue.list()
        new_sig = "|".join(f"{j.id}:{j.status}:{j.progress.get('done')}:{len(j.log)}" for j in jobs) + f"#{job_id}"
        if new_sig == sig:
            return gr.skip(), gr.skip(), gr.skip(), sig
        known = {j.id: j for j in jobs}
        text = "\n".join(known[job_id].log) if job_id in known else ""
        return rows(queue), gr.update(choices=[j.id for j in jobs]), text, new_sig

    def on_stop(job_id: str | None):
        if not job_id:
            return message("pick a job", ok=False)
        try:
            return message(f"job {job_id}: {queue.stop(job_id)}")
        except KeyError:
            return message(f"no job {job_id}", ok=False)

    stop.click(guarded(on_stop, 1), [pick], [msg])
    timer.tick(quiet(tick, 4), [seen, pick], [table, pick, log, seen], show_progress="hidden")
