"""Training curves from metrics.jsonl: held-out training-window SSIM / L1 / identity distance and the training loss over
steps, with the training plan's phase switches drawn as vertical lines, as a PNG (matplotlib, Agg backend,
no display needed) and a small self-contained HTML page that embeds it with the latest preview grids.

Reads plain dicts (one per metrics.jsonl line), so the UI can plot the same lines it reads.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import atomic

PANELS = (  # (title, keys, y label)
    ("Held-out SSIM, training's 11-tap Gaussian window (higher is better)",
     ("val_ssim_gauss11_a", "val_ssim_gauss11_b", "val_ssim_gauss11_face_a", "val_ssim_gauss11_face_b"), "SSIM"),
    ("Held-out L1 (lower is better)", ("val_l1_a", "val_l1_b"), "L1"),
    ("Identity distance of held-out swaps (lower to target is better)",
     ("val_id_a2b_to_b", "val_id_a2b_to_a", "val_id_b2a_to_a", "val_id_b2a_to_b"), "distance"),
    ("Training loss", ("loss_a", "loss_b"), "loss"),
)


# Keys logged under other names by earlier versions -> today's. The training-window SSIM was plain "ssim" until
# evaluate's scikit-image SSIM (a 7x7 window, other values) made two scores of one name.
RENAMED = {f"val_ssim{part}_{side}": f"val_ssim_gauss11{part}_{side}" for part in ("", "_face") for side in "ab"}


def read_metrics(path: str | Path, last: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl as dicts (its `last` lines only, when given), keys under today's names (`RENAMED`); a torn
    line (a crash or a write in progress) is skipped, a missing file reads as none. The one reader of the log:
    the report, the UI, the plan and the benches use it."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[-last if last else 0:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            out.append({RENAMED.get(k, k): v for k, v in row.items()})
    return out


def phase_switches(lines: Iterable[dict[str, Any]]) -> list[tuple[float, str]]:
    """(step, phase name) of every plan event that started a phase (and the run's start)."""
    return [(float(r["step"]), str(r.get("phase", "?"))) for r in lines
            if r.get("event") == "plan" and not r.get("finished")]


def series(lines: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(float(r["step"]), float(r[key])) for r in lines
           if key in r and "step" in r and isinstance(r[key], (int, float)) and r.get("event") is None]
    return [p[0] for p in pts], [p[1] for p in pts]


def render_png(lines: Sequence[dict[str, Any]], title: str = "") -> bytes:
    """PNG bytes of the curves: one panel per group of keys that has data."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    panels = [(t, [k for k in keys if series(lines, k)[0]], y) for t, keys, y in PANELS]
    panels = [p for p in panels if p[1]]
    fig = Figure(figsize=(9, 2.6 * max(1, len(panels))), dpi=100)
    switches = phase_switches(lines)
    axes = [fig.add_subplot(max(1, len(panels)), 1, i + 1) for i in range(max(1, len(panels)))]
    if not panels:
        axes[0].text(0.5, 0.5, "no metrics yet", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, (name, keys, ylabel) in zip(axes, panels):
        for key in keys:
            xs, ys = series(lines, key)
            ax.plot(xs, ys, label=key, linewidth=1.2, marker="." if len(xs) < 40 else None)
        for step, phase in switches:
            ax.axvline(step, color="0.5", linestyle="--", linewidth=0.8)
            ax.text(step, 1.0, f" {phase}", transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="0.3")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("step")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_png(path: str | Path, lines: Sequence[dict[str, Any]], title: str = "") -> Path:
    return atomic.write_bytes(path, render_png(lines, title))


def write_html(path: str | Path, lines: Sequence[dict[str, Any]], previews: Sequence[str | Path] = (),
               title: str = "Training report") -> Path:
    """A self-contained page: the curves, a table of plan events, and preview grids (embedded, so the page
    works when the model folder is copied elsewhere)."""
    def img(data: bytes, alt: str) -> str:
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'

    events = [r for r in lines if r.get("event") == "plan"]
    rows = "".join(
        f"<tr><td>{int(e['step'])}</td><td>{html.escape(str(e.get('phase')))}</td>"
        f"<td>{html.escape(str(e.get('reason')))}</td><td>{e.get('improvement', '')}</td></tr>" for e in events
    )
    grids = "".join(f"<h3>{html.escape(Path(p).name)}</h3>{img(Path(p).read_bytes(), Path(p).name)}"
                    for p in previews if Path(p).is_file())
    page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>body{{font-family:sans-serif;max-width:960px;margin:auto}}img{{max-width:100%}}"
            f"td,th{{padding:2px 8px}}</style><h1>{html.escape(title)}</h1>{img(render_png(lines), 'curves')}"
            f"<h2>Training plan</h2><table><tr><th>step</th><th>phase</th><th>reason</th><th>improvement</th></tr>"
            f"{rows}</table><h2>Previews</h2>{grids}")
    return atomic.write_bytes(path, page.encode("utf-8"))
