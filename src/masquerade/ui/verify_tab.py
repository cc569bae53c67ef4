"""The Verify step: drop any file (or pick a result) and see, in a short table, whether it carries Masquerade's
marks; the full details stay folded."""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from ..provenance import verify
from .context import UIContext, guarded, message, upload_dir
from .workspace import UploadRefused, discard_upload

_LABEL = {"synthetic": "SYNTHETIC", "tampered": "TAMPERED", "stripped": "STRIPPED", "none": "NO MARKS",
          "error": "NOT CHECKED"}
_MEANING = {"synthetic": "made by Masquerade: a face in it was swapped",
            "tampered": "made by Masquerade, then changed after it was signed",
            "stripped": "the invisible mark of a Masquerade swap is there, but its signed label was removed",
            "none": "no Masquerade marks (this does not prove it is real: marks can be lost, e.g. by filming a screen)",
            "error": "the file could not be read"}
SHORT_HASH = 12


def _short(h: str | None) -> str:
    return h[:SHORT_HASH] if h else "—"


def verdict_table(v, shown_name: str) -> str:
    """The verdict as a few rows a person can read: what was found, which model, when."""
    stored = v.stored_manifest or {}
    signed = str(stored.get("signed_at") or "")
    when = signed.replace("T", " ")[:16] + " UTC" if signed else "—"
    label = "yes" + (", signature intact" if v.manifest_valid else ", signature broken") if v.manifest_present else "no"
    rows = [("File", shown_name),
            ("What was found", _MEANING.get(v.status, v.status)),
            ("Invisible watermark", "yes" if v.watermark_found else "no"),
            ("Signed label (C2PA)", label),
            ("Model", _short(v.model_hash or v.watermark_model_hash)),
            ("Signed on", when)]
    if v.status == "synthetic":
        rows.append(("Signed with", "this computer's key" if v.signer_trusted else
                     "a Masquerade key from another computer" if v.signer_is_masquerade_key else "another key"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(val))}</td></tr>" for k, val in rows)
    return (f"<table class='mq-verdict' data-status='{v.status}'><tr><td colspan='2' class='mq-big'>"
            f"{_LABEL.get(v.status, v.status)}</td></tr>{body}</table>")


def check(path: Path, shown_name: str) -> tuple[str, dict]:
    v = verify(path)
    details = {k: val for k, val in v.to_dict().items() if k != "path"}  # never the server's own paths
    details["file"] = shown_name
    return verdict_table(v, shown_name), details


def build(ctx: UIContext, timer: gr.Timer, pick: gr.Dropdown) -> None:
    ws = ctx.ws
    gr.Markdown("Check any picture or video for Masquerade's marks: drop a file, or pick one of your results.")
    with gr.Row():
        upload = gr.File(label="File to check", file_count="single", type="filepath", elem_id="verify-file")
        with gr.Column():
            pick.render()
            go = gr.Button("Check this result", variant="primary", elem_id="verify-go")
    verdict = gr.HTML("", elem_id="verify-verdict")
    msg = gr.Markdown("", elem_id="verify-msg", elem_classes="mq-msg")
    with gr.Accordion("All details", open=False, elem_id="verify-more"):
        details = gr.JSON(label="Details", elem_id="verify-details")

    def on_upload(path: str | None):
        """Verdict for a dropped file; the file box is cleared so the page offers no non-provenance download."""
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), ""
        p = Path(path)
        try:
            if p.stat().st_size > ws.max_upload_bytes:
                raise UploadRefused(f"{p.name}: over the upload limit of {ws.max_upload_bytes / 1e6:.0f} MB")
            table, found = check(p, p.name)
        finally:
            discard_upload(p, upload_dir())  # checked, not kept: the server never holds on to a user's file
        return None, found, table, ""

    def on_pick(rel: str | None):
        if not rel:
            return gr.skip(), gr.skip(), message("pick a result first", ok=False)
        table, found = check(ws.resolve(rel, "outputs"), Path(rel).name)
        return found, table, ""

    upload.upload(guarded(on_upload, 4), [upload], [upload, details, verdict, msg])  # message box last (guarded)
    go.click(guarded(on_pick, 3), [pick], [details, verdict, msg])
    pick.focus(lambda: gr.update(choices=ws.outputs()), None, [pick])
