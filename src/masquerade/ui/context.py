"""What every tab shares: the workspace gate, the job queue, and small renderers for job status.

Why job status is rendered from the queue and not kept per page: a reloaded page (a new browser session)
has no memory, so each tab shows the latest job of its kind straight from the persisted queue.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import MasqueradeError
from .jobs import FAILED, Job, JobQueue
from .workspace import Workspace

CSS = """
.mq-job {padding: 6px 10px; border-radius: 6px; border: 1px solid var(--border-color-primary);}
.mq-job progress {width: 100%; height: 14px;}
.mq-job[data-status=failed] {border-color: #c0392b;}
.mq-job[data-status=done] {border-color: #27ae60;}
.mq-msg {min-height: 1.5em;}
.mq-group p {margin: 10px 0 0 0;}
.mq-grid {width: 100%; max-width: 960px; margin: 0 auto;}
.mq-grid .mq-cols {display: grid; grid-template-columns: repeat(6, 1fr); text-align: center; font-weight: 600;
                   font-size: 0.95em; padding: 4px 0;}
.mq-grid img {width: 100%; height: auto; image-rendering: pixelated; display: block;}
.mq-verdict {border-collapse: collapse;}
.mq-verdict td, .mq-verdict th {padding: 4px 12px; border: 1px solid var(--border-color-primary); text-align: left;}
.mq-verdict .mq-big {font-size: 1.3em; font-weight: 700;}
"""

# What a person reads for each job state (the page keeps the code in data-status for tests and styles).
STATUS_WORDS = {"queued": "waiting", "running": "running", "done": "finished", "failed": "failed",
                "cancelled": "cancelled", "stopped": "stopped", "interrupted": "interrupted (start it again)"}
TASK_WORDS = {"extract": ("finding faces", "frames"), "train": ("training", "steps"), "convert": ("swapping", "frames"),
              "train-upscaler": ("training the face sharpener", "steps"), "embed": ("recognising faces", "faces")}


@dataclass
class UIContext:
    ws: Workspace
    queue: JobQueue

    def close(self) -> None:
        self.queue.close()


def latest(queue: JobQueue, kind: str, **match: Any) -> Job | None:
    """The newest job of `kind` whose params hold `match` (e.g. the extract job of person A)."""
    return next((j for j in queue.list(kind) if all(j.params.get(k) == v for k, v in match.items())), None)


def active(job: Job | None) -> bool:
    return job is not None and job.status in ("queued", "running")


def job_html(job: Job | None, empty: str = "No job yet.") -> str:
    """One job as a status line with a progress bar (the UI's own bar, fed by the stage's ProgressFn)."""
    if job is None:
        return f"<div class='mq-job' data-status='none'>{html.escape(empty)}</div>"
    p = job.progress
    done, total = p.get("done", 0), p.get("total")
    task, unit = TASK_WORDS.get(str(p.get("task") or ""), (str(p.get("task") or ""), ""))
    count = f"{done} of {total} {unit}" if total else (f"{done} {unit}" if done else "")
    task = task if job.status == "running" else ""
    frac = job.fraction
    bar = (f"<progress max='1000' value='{int(frac * 1000)}'></progress>" if frac is not None and job.status == "running"
           else "<progress></progress>" if job.status == "running" else "")
    err = f"<div class='mq-error'>⚠ {html.escape(job.error)}</div>" if job.status == FAILED and job.error else ""
    return (f"<div class='mq-job' data-status='{job.status}' data-job='{html.escape(job.id)}'>"
            f"<b>{html.escape(job.title)}</b> — <span class='mq-status'>{STATUS_WORDS.get(job.status, job.status)}</span> "
            f"{html.escape(task)} {html.escape(count)}{bar}{err}</div>")


def upload_dir() -> str:
    """The folder Gradio saves browser uploads in (and serves from): handlers delete what they got from it."""
    from gradio.utils import get_upload_folder

    return get_upload_folder()


def message(text: str, ok: bool = True) -> str:
    return ("✓ " if ok else "⚠ ") + text


def guarded(fn: Callable[..., Any], n_outputs: int) -> Callable[..., Any]:
    """Wrap a handler whose last output is the tab's message box: a user mistake becomes a message there."""

    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except MasqueradeError as exc:
            import gradio as gr

            skips = [gr.skip()] * (n_outputs - 1)
            return (*skips, message(str(exc), ok=False)) if skips else message(str(exc), ok=False)

    wrapper.__name__ = getattr(fn, "__name__", "handler")
    return wrapper


def quiet(fn: Callable[..., Any], n_outputs: int) -> Callable[..., Any]:
    """Wrap a timer handler: a failure is logged once per tick and the page keeps what it shows, instead of
    an error toast every 1.5 s."""

    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            import gradio as gr

            logging.getLogger("masquerade.ui").exception("refreshing the page failed")
            return tuple([gr.skip()] * n_outputs)

    wrapper.__name__ = getattr(fn, "__name__", "tick")
    return wrapper
