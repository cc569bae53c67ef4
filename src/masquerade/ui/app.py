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

    from . import convert_tab, extract_tab, jobs_tab, train_tab, verify_tab
    from .context import UIContext
    from .runners import devices as local_devices
    from .runners import make_runners

    ws = Workspace(workspace, max_upload_bytes)
    queue = JobQueue(ws.area("jobs"), make_runners(ws), devices=list(devices or local_devices()), start=start_workers)
    ws.clear_shown()  # after the queue's lock: this server alone uses the workspace now
    ctx = UIContext(ws, queue)
    with gr.Blocks(title="Masquerade", analytics_enabled=False) as app:
        gr.Markdown("## Masquerade — face swap, every output watermarked and signed as synthetic")
        timer = gr.Timer(REFRESH_SECONDS)
        with gr.Tabs():
            with gr.Tab("Extract", id="extract", elem_id="tab-extract") as t_extract:
                extract_tab.build(ctx, timer)
            with gr.Tab("Train", id="train", elem_id="tab-train") as t_train:
                train_tab.build(ctx, timer)
            with gr.Tab("Convert", id="convert", elem_id="tab-convert") as t_convert:
                convert_tab.build(ctx, timer)
            with gr.Tab("Verify", id="verify", elem_id="tab-verify"):
                verify_tab.build(ctx, timer)
            with gr.Tab("Jobs", id="jobs", elem_id="tab-jobs"):
                jobs_tab.build(ctx, timer)
        _refresh_lists_on_tab(app, ctx, (t_extract, t_train, t_convert))
    app.masquerade = ctx
    return app


def _refresh_lists_on_tab(app, ctx, tabs) -> None:
    """Loading the page or opening a tab refreshes its pick lists (new uploads, face sets, models), keeping the current picks."""
    import gradio as gr

    by_id = {c.elem_id: c for c in app.blocks.values() if getattr(c, "elem_id", None)}
    lists = {"extract-media": ctx.ws.media, "extract-faceset": ctx.ws.facesets, "train-a": ctx.ws.facesets,
             "train-b": ctx.ws.facesets, "train-model": ctx.ws.models, "convert-model": ctx.ws.models,
             "convert-media": ctx.ws.media}
    comps = [by_id[k] for k in lists]

    def refresh():
        return [gr.update(choices=fn()) for fn in lists.values()]

    app.load(refresh, None, comps, show_progress="hidden")  # a reloaded page sees what exists now
    for tab in tabs:
        tab.select(refresh, None, comps, show_progress="hidden")
