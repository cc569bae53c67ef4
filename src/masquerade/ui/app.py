"""`build_app(workspace)`: the Gradio Blocks with one tab per stage plus a jobs list.

Why Gradio: the stages are plain Python functions, and Gradio turns them into a local web page with file
upload/download, galleries, video playback, plots and timers without a separate frontend to build or ship
(one pinned wheel, in the `ui` extra). See docs/ui.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .jobs import JobQueue
from .workspace import DEFAULT_MAX_UPLOAD, Workspace

REFRESH_SECONDS = 1.5


def configure_gradio_env(workspace: Path) -> None:
    """Keep Gradio's upload cache inside the workspace and its analytics off (set before gradio is imported)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(workspace).expanduser().resolve() / ".gradio"))


def build_app(workspace: str | Path = Path("masquerade-workspace"), max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
              devices: Sequence[str] | None = None, start_workers: bool = True):
    """The UI over `workspace`; the returned Blocks carries `.masquerade` (a UIContext: workspace + queue)."""
    configure_gradio_env(Path(workspace))
    import gradio as gr

    from . import jobs_tab, person_tab, swap_tab, train_tab, verify_tab
    from .context import UIContext
    from .runners import devices as local_devices
    from .runners import make_runners

    ws = Workspace(workspace, max_upload_bytes)
    queue = JobQueue(ws.area("jobs"), make_runners(ws), devices=list(devices or local_devices()), start=start_workers)
    ws.clear_shown()  # after the queue's lock: this server alone uses the workspace now
    ctx = UIContext(ws, queue)
    with gr.Blocks(title="Masquerade", analytics_enabled=False) as app:
        gr.Markdown("## Masquerade — swap a face in a video\nFive steps, left to right: collect the faces of the "
                    "person to replace (A) and of the new face (B), train a model on both, swap, then check the "
                    "result. Everything Masquerade makes is marked as synthetic.")
        timer = gr.Timer(REFRESH_SECONDS)
        verify_pick = gr.Dropdown(ws.outputs(), label="…or one of your results", elem_id="verify-pick", render=False)
        refresh: dict = {}
        with gr.Tabs(elem_id="steps") as tabs:
            with gr.Tab("1 · Person A", id="person-a", elem_id="tab-person-a") as t_a:
                refresh.update(person_tab.build(ctx, timer, tabs, "a"))
            with gr.Tab("2 · Person B", id="person-b", elem_id="tab-person-b") as t_b:
                refresh.update(person_tab.build(ctx, timer, tabs, "b"))
            with gr.Tab("3 · Train", id="train", elem_id="tab-train") as t_train:
                refresh.update(train_tab.build(ctx, timer, tabs))
            with gr.Tab("4 · Swap", id="swap", elem_id="tab-swap") as t_swap:
                refresh.update(swap_tab.build(ctx, timer, tabs, verify_pick))
            with gr.Tab("5 · Verify", id="verify", elem_id="tab-verify"):
                verify_tab.build(ctx, timer, verify_pick)
            with gr.Tab("Jobs", id="jobs", elem_id="tab-jobs"):
                jobs_tab.build(ctx, timer)
        _refresh_lists_on_tab(app, ctx, refresh, (t_a, t_b, t_train, t_swap))
    app.masquerade = ctx
    return app


def _refresh_lists_on_tab(app, ctx, comps: dict, tabs) -> None:
    """Loading the page or opening a step refreshes its pick lists (new uploads, face sets, models). An empty
    pick is filled with what the earlier steps made (person A's and B's face sets, the newest model, A's clip),
    so a new user goes from step to step without choosing again; a pick already made is kept."""
    import gradio as gr

    from .person_tab import faceset_of
    from .swap_tab import clip_of_a

    def newest_model():
        job = next((j for j in ctx.queue.list("train")), None)
        return job.params.get("model") if job and job.params.get("model") in ctx.ws.models() else None

    lists = {"a-name": (ctx.ws.facesets, lambda: faceset_of(ctx, "a")),
             "b-name": (ctx.ws.facesets, lambda: faceset_of(ctx, "b")),
             "train-a": (ctx.ws.facesets, lambda: faceset_of(ctx, "a")),
             "train-b": (ctx.ws.facesets, lambda: faceset_of(ctx, "b")),
             "train-model": (ctx.ws.models, newest_model),
             "convert-model": (ctx.ws.models, newest_model),
             "convert-media": (ctx.ws.media, lambda: clip_of_a(ctx))}
    names = [k for k in lists if k in comps]

    def refresh(*current):
        out = []
        for key, value in zip(names, current):
            choices, default = lists[key]
            out.append(gr.update(choices=choices(), value=value or default()))
        return out

    targets = [comps[k] for k in names]
    app.load(refresh, targets, targets, show_progress="hidden")  # a reloaded page sees what exists now
    for tab in tabs:
        tab.select(refresh, targets, targets, show_progress="hidden")
