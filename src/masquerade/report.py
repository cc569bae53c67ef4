"""The demo's `report.html`: one self-contained page (images embedded) showing what happened and how well.

Images that hold swapped pixels are embedded from files written through `provenance` (watermarked and
signed); the rest (input faces, the loss plot) are plain pictures of non-synthetic data.
"""

from __future__ import annotations

import base64
import html
import io
import platform
from pathlib import Path

import numpy as np

from . import __version__
from .faceset import FaceSet


def _img(data: bytes, alt: str, width: str = "100%") -> str:
    return f'<img alt="{html.escape(alt)}" style="max-width:{width}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _face_strip(faceset: Path, n: int = 8, size: int = 96) -> bytes:
    import cv2

    fs = FaceSet.open(faceset)
    idx = np.linspace(0, len(fs) - 1, min(n, len(fs))).round().astype(int)
    return _png(np.concatenate([cv2.resize(fs.crop(int(i)), (size, size), interpolation=cv2.INTER_AREA) for i in idx], 1))


def _loss_plot(metrics: Path) -> bytes | None:
    """The training curves (losses, held-out scores, plan switches) as the model folder's report.html draws them."""
    from .train.curves import read_metrics, render_png

    rows = read_metrics(metrics)
    return render_png(rows) if rows else None


def _fmt(v) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:.3f}"
    return html.escape(str(v))


def _axes(values: dict) -> str:
    return " / ".join(_fmt(values.get(k, float("nan"))) for k in ("yaw", "pitch", "roll"))


def _metrics_table(ev: dict) -> str:
    ident, pose, rec = ev.get("identity", {}), ev.get("pose_error_deg", {}), ev.get("reconstruction", {})
    rows = [
        ("Identity: embedding distance swapped→target (B)", ident.get("distance_to_target"), "lower is better; dlib < 0.6 = same person"),
        ("Identity: embedding distance swapped→source (A)", ident.get("distance_to_source"), "higher is better"),
        ("Identity: cosine similarity to target / source", f"{_fmt(ident.get('cosine_to_target', float('nan')))} / {_fmt(ident.get('cosine_to_source', float('nan')))}", ""),
        ("Identity retrieval (share of frames nearer the target)", ident.get("retrieval"), "1.0 = every frame"),
        ("Head pose error yaw / pitch / roll (°)", _axes(pose), "swapped vs source, mean |Δ|"),
        ("Head pose offset yaw / pitch / roll (°)", _axes(ev.get("pose_offset_deg", {})), "mean signed Δ: a constant tilt (another face shape reads a few degrees off)"),
        ("Head pose error without the offset (°)", _axes(ev.get("pose_motion_error_deg", {})), "mean |Δ − offset|: how far the head's movements stray from the source's"),
        ("Head pose correlation yaw / pitch / roll", _axes(ev.get("pose_corr", {})), "1 = the head turns with the source's; ≈ 0 = it keeps the target's usual pose"),
        ("Expression error (inter-ocular units)", ev.get("expression_error"), "swapped vs source landmarks"),
        ("Mouth opening: correlation with the source / mean |Δ|",
         f"{_fmt(ev.get('mouth_corr', float('nan')))} / {_fmt(ev.get('mouth_error', float('nan')))}",
         "1 = the mouth follows the source; ≈ 0 = it ignores it; n/a = the source's mouth does not move"),
        ("Eye opening: correlation with the source / mean |Δ|",
         f"{_fmt(ev.get('eye_corr', float('nan')))} / {_fmt(ev.get('eye_error', float('nan')))}", "as above, for the eyelids"),
        ("Blink agreement", ev.get("blink_agreement", float("nan")), "share of the source's blinks the swap reproduces; n/a = no blinks"),
        ("Flicker: output − input (mean |Δ| per frame, 0–255)", ev.get("flicker_delta"), "≤ 0 means no added flicker"),
        ("Watermark decoded in output frames", ev.get("watermark_frames_ok"), "share of frames, each alone"),
        ("Watermark decoded from the video", "yes" if ev.get("watermark_video_ok") else "no", "frames pooled, as verify reads it"),
    ]
    for side, r in rec.items():
        kind = "held-out" if r.get("held_out") else "training"
        rows.append((f"Reconstruction {side.upper()}→{side.upper()} SSIM (7×7 window) / PSNR ({kind} faces: {r.get('faces')})",
                     f"{_fmt(r.get('ssim_box7'))} / {_fmt(r.get('psnr'))} dB", "SSIM ≥ 0.75 is the demo's bar"))
    body = "".join(f"<tr><td>{html.escape(a)}</td><td><b>{_fmt(b) if not isinstance(b, str) else b}</b></td>"
                   f"<td class=n>{html.escape(c)}</td></tr>" for a, b, c in rows)
    return f"<table>{body}</table>"


def _model_words(model_dir: Path | None) -> str:
    """'<code>lite</code>, 64 px': the architecture and size the demo actually trained, from its manifest."""
    from .models.store import read_manifest

    try:
        manifest = read_manifest(Path(model_dir))
    except Exception:  # noqa: BLE001 - a report still renders without the model's name
        return "a swap model"
    return f"<code>{html.escape(manifest.architecture)}</code>, {manifest.size} px"


def write_report(result) -> Path:
    """Render `DIR/report.html` for a finished `DemoResult`."""
    out = result.out_dir / "report.html"
    ev = result.evaluation.to_dict() if result.evaluation else {}
    previews = sorted((result.model_dir / "previews").glob("step_*.png")) if result.model_dir else []
    loss = _loss_plot(result.model_dir / "metrics.jsonl") if result.model_dir else None
    verdicts = "".join(f"<li><code>{html.escape(name)}</code>: <b>{html.escape(v['summary'])}</b></li>"
                       for name, v in result.verdicts.items())
    parts = [
        f"<h1>Masquerade {__version__} — demo report</h1>",
        f"<p>Finished in {result.seconds / 60:.1f} minutes on {html.escape(platform.machine())} "
        f"({html.escape(platform.processor() or 'CPU')}). The model ({_model_words(result.model_dir)}) was <b>trained from "
        f"scratch in this run</b>: {result.train_steps} steps in {result.train_seconds:.0f} s "
        f"({result.samples_per_s:.0f} samples/s). No pretrained weights, no downloads.</p>",
        "<h2>1. Input faces (extracted and aligned)</h2>",
        "<p>A: astronaut (scikit-image sample, public domain)</p>", _img(_face_strip(result.facesets["a_train"]), "faces A"),
        "<p>B: Grace Hopper (matplotlib sample, public domain)</p>", _img(_face_strip(result.facesets["b_train"]), "faces B"),
        "<h2>2. Training preview</h2><p>Columns: A, A→A, A→B, B, B→B, B→A (faces from the training set).</p>",
        _img(previews[-1].read_bytes(), "training preview", "640px") if previews else "<p>no preview</p>",
        "<h2>3. Loss curves</h2>", _img(loss, "loss curves", "640px") if loss else "<p>no metrics</p>",
        "<h2>4. Before / after</h2><p>Held-out frames of A (never trained on): original | A's head with B's face.</p>",
        _img(result.preview.read_bytes(), "before and after") if result.preview else "",
        f"<p>Full video: <a href='{html.escape(str(result.output.relative_to(result.out_dir)))}'>"
        f"{html.escape(result.output.name)}</a></p>" if result.output else "",
        "<h2>5. Provenance (<code>masquerade verify</code>)</h2>", f"<ul>{verdicts}</ul>",
        "<h2>6. Quality (<code>masquerade evaluate</code>)</h2>", _metrics_table(ev),
        "<h2>Responsible use</h2><p>Swap only faces of people who consented. Every file Masquerade writes carries "
        "an invisible watermark and a signed C2PA manifest saying it is synthetic.</p>",
    ]
    style = ("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:4px 10px}td.n{color:#777;font-size:90%}")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>Masquerade demo report</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    from .atomic import write_bytes

    write_bytes(out, page.encode("utf-8"))
    return out
