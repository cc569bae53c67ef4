"""Verify tab: drop any file (or pick a workspace output) and see whether it carries Masquerade's marks."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..provenance import verify
from .context import UIContext, guarded, message, upload_dir
from .workspace import UploadRefused, discard_upload

_LABEL = {"synthetic": "SYNTHETIC", "tampered": "TAMPERED (altered after signing)",
          "stripped": "STRIPPED (watermark without its manifest)", "none": "NO MARKS", "error": "ERROR"}


def verdict_markdown(path: Path, shown_name: str) -> tuple[str, dict]:
    v = verify(path)
    details = {**v.to_dict(), "path": shown_name}  # never show the server's own paths
    return f"### {_LABEL.get(v.status, v.status)}\n`{shown_name}`: {v.summary}", details


def build(ctx: UIContext, timer: gr.Timer) -> None:
    ws = ctx.ws
    gr.Markdown("Drop any image or video to check for Masquerade's signed manifest and invisible watermark. "
                "A file without marks is not proven real: marks can be removed by re-recording the screen.")
    with gr.Row():
        upload = gr.File(label="File to verify", file_count="single", type="filepath", elem_id="verify-file")
        with gr.Column():
            pick = gr.Dropdown(ws.outputs(), label="…or a workspace output", elem_id="verify-pick")
            go = gr.Button("Verify the picked output", elem_id="verify-go")
    verdict = gr.Markdown("", elem_id="verify-verdict")
    details = gr.JSON(label="Details", elem_id="verify-details")

    def on_upload(path: str | None):
        """Verdict for a dropped file; the file box is cleared so the page offers no non-provenance download."""
        if not path:
            return gr.skip(), None, ""
        p = Path(path)
        try:
            if p.stat().st_size > ws.max_upload_bytes:
                raise UploadRefused(f"{p.name}: over the upload limit of {ws.max_upload_bytes / 1e6:.0f} MB")
            text, details = verdict_markdown(p, p.name)
        finally:
            discard_upload(p, upload_dir())  # checked, not kept: the server never holds on to a user's file
        return None, details, text

    def on_pick(rel: str | None):
        if not rel:
            return None, message("pick an output first", ok=False)
        text, details = verdict_markdown(ws.resolve(rel, "outputs"), rel)
        return details, text

    upload.upload(guarded(on_upload, 3), [upload], [upload, details, verdict])  # message box last (guarded)
    go.click(guarded(on_pick, 2), [pick], [details, verdict])
    pick.focus(lambda: gr.update(choices=ws.outputs()), None, [pick])
