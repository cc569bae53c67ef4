"""Jobs tab: every job in the workspace (running, waiting, finished) and the log of one: the running job's
unless another is picked. Stop shows only while the shown job is waiting or running."""

from __future__ import annotations

import time

import gradio as gr

from .context import STATUS_WORDS, UIContext, active, guarded, message, quiet

COLUMNS = ["Job", "What", "State", "Progress", "Device", "Started", "Problem"]
KIND_WORDS = {"extract": "find faces", "train": "train", "convert": "swap", "sharpen": "face sharpener"}


def rows(queue) -> list[list[str]]:
    out = []
    for j in queue.list():
        frac = j.fraction
        prog = f"{frac:.0%}" if frac is not None else str(j.progress.get("done") or "")
        started = time.strftime("%H:%M:%S", time.localtime(j.started)) if j.started else ""
        out.append([j.id, j.title or KIND_WORDS.get(j.kind, j.kind), STATUS_WORDS.get(j.status, j.status), prog,
                    j.device, started, j.error or ""])
    return out


def shown_job(queue, picked: str | None):
    """The job whose log is shown: the one picked, else the running one, else the newest."""
    jobs = queue.list()
    known = {j.id: j for j in jobs}
    if picked in known:
        return known[picked]
    return next((j for j in jobs if j.status == "running"), None) or next((j for j in jobs if active(j)), None) \
        or (jobs[0] if jobs else None)


def build(ctx: UIContext, timer: gr.Timer) -> None:
    queue = ctx.queue
    gr.Markdown("Work runs in the background, one job at a time per device, and goes on when you reload the page "
                "or close it. The log below follows the running job; pick another job to read its log.")
    table = gr.Dataframe(rows(queue), headers=COLUMNS, interactive=False, elem_id="jobs-table")
    with gr.Row():
        pick = gr.Dropdown([j.id for j in queue.list()], value=None, label="Show the log of",
                           info="Empty: the running job.", elem_id="jobs-pick")
        stop = gr.Button("Stop this job", variant="stop", visible=False, elem_id="jobs-stop")
    log = gr.Textbox(label="Log", lines=12, interactive=False, elem_id="jobs-log")
    msg = gr.Markdown("", elem_classes="mq-msg")
    seen = gr.State("")

    def tick(sig: str, job_id: str | None):
        jobs = queue.list()
        new_sig = "|".join(f"{j.id}:{j.status}:{j.progress.get('done')}:{len(j.log)}" for j in jobs) + f"#{job_id}"
        if new_sig == sig:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), sig
        job = shown_job(queue, job_id)
        text = (f"{job.title} — {STATUS_WORDS.get(job.status, job.status)}\n" + "\n".join(job.log)) if job else ""
        return rows(queue), gr.update(choices=[j.id for j in jobs]), text, gr.update(visible=active(job)), new_sig

    def on_stop(job_id: str | None):
        job = shown_job(queue, job_id)
        if job is None or not active(job):
            return message("no job is running", ok=False)
        return message(f"{job.title}: {STATUS_WORDS.get(queue.stop(job.id), '')}")

    stop.click(guarded(on_stop, 1), [pick], [msg])
    timer.tick(quiet(tick, 5), [seen, pick], [table, pick, log, stop, seen], show_progress="hidden")
