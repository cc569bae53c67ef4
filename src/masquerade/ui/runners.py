"""Job runners: turn a job's parameters (workspace-relative names) into calls of the stage functions.

Why names and not paths in job params: a job record is data from the browser that is stored and run later,
so each runner resolves its names through the Workspace gate again at run time.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

from .jobs import JobContext, Runner
from .workspace import Workspace, check_name, is_model

# What a train job does when its settings leave these out: the UI saves and previews more often than the CLI.
UI_TRAIN_DEFAULTS = {"save_every": 500, "preview_every": 50}


def devices() -> list[str]:
    """Worker keys for this machine: the CPU, then each CUDA GPU (or MPS)."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def worker_for(choice: str, available: list[str]) -> str:
    """The worker a stage device choice runs on: `auto` takes the first accelerator, else the CPU."""
    if choice in ("", "auto", None):
        return available[1] if len(available) > 1 else "cpu"
    if choice == "cuda":
        choice = "cuda:0"
    return choice if choice in available else "cpu"


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None)))}


def job_settings(cls: type, p: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A job's stage settings: the UI settings of `cls` (ui/form.py builds them from the same declarations),
    from the job's `settings` and, for older or hand-made jobs, its top-level keys. Checked again here (a job
    record is data from the browser): names that are not UI settings of the stage are ignored, so no path or
    device reaches a stage this way, and a value of the wrong type or out of range fails the job."""
    from ..options import from_mapping, options

    allowed = {o.name for o in options(cls) if o.meta.ui} - set(skip)
    given = {**{k: v for k, v in p.items() if k in allowed}, **(p.get("settings") or {})}
    return from_mapping(cls, {k: v for k, v in given.items() if k in allowed}, "settings")


def make_runners(ws: Workspace) -> dict[str, Runner]:
    """The runners bound to one workspace, keyed by job kind.

    Module-level functions bound with `partial` (not closures): each job runs in a process of its own, which
    receives its runner by pickling (see `jobs`)."""
    return {"extract": partial(extract_job, ws), "train": partial(train_job, ws), "convert": partial(convert_job, ws),
            "sharpen": partial(sharpen_job, ws)}


def extract_job(ws: Workspace, p: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    from ..extract import ExtractConfig, extract

    inputs = [ws.resolve(name, "uploads") for name in p["inputs"]]
    out = ws.resolve(check_name(p["output"]), "facesets")
    config = ExtractConfig(**job_settings(ExtractConfig, p))
    ctx.log(f"extracting {len(inputs)} source(s) into facesets/{out.name}")
    summary = extract(inputs, out, config, progress=ctx.progress)
    ctx.log(f"{summary.faces_kept} faces from {summary.frames_read} frames")
    return {**_clean(summary.to_dict()), "output": ws.rel(out), "faceset": out.name, "rejected": summary.rejected}


def train_job(ws: Workspace, p: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    from ..train import TrainConfig, train

    fs_a, fs_b = ws.resolve(p["a"], "facesets"), ws.resolve(p["b"], "facesets")
    model_dir = ws.resolve(check_name(p["model"]), "models")
    resuming = is_model(model_dir)
    settings = {**UI_TRAIN_DEFAULTS, **job_settings(TrainConfig, p, skip=("model",))}
    config = TrainConfig(model=None if resuming else p.get("arch") or "lite",
                         model_options=dict(p.get("model_options") or {}), device=p.get("device", "auto"),
                         threads=p.get("threads") or None, **settings)
    ctx.log(("resuming" if resuming else "training new") + f" model models/{model_dir.name}")
    res = train(fs_a, fs_b, model_dir, config, progress=ctx.progress, should_stop=ctx.should_stop)
    ctx.log(f"step {res.step} ({res.steps_run} this run), loss A {res.loss_a:.4f} B {res.loss_b:.4f}")
    out = _clean({k: v for k, v in dataclasses.asdict(res).items() if k not in ("model_dir", "last_preview")})
    out.update(model=model_dir.name, last_preview=ws.rel(res.last_preview) if res.last_preview else None)
    return out


def convert_job(ws: Workspace, p: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    from ..convert import ConvertConfig, convert
    from ..media import probe

    src = ws.resolve(p["input"], "uploads")
    model_dir = ws.resolve(p["model"], "models")
    preview = int(p.get("preview", 0))
    config = ConvertConfig(preview=preview, device=p.get("device", "auto"), **job_settings(ConvertConfig, p))
    base = f"{src.stem}__{model_dir.name}__{ctx.job.id}"
    if preview:
        folder = ws.area("outputs") / "previews"
        folder.mkdir(exist_ok=True)
        out = folder / f"{base}.png"
    else:
        out = ws.area("outputs") / (base + (".mp4" if probe(src).kind == "video" else ".png"))
    summary = convert(src, model_dir, out, config, progress=ctx.progress)
    ctx.log(f"{summary.frames} frame(s), {summary.faces_swapped} face(s) swapped -> {ws.rel(out)}")
    return {**_clean(summary.to_dict()), "output": ws.rel(out), "preview": bool(preview)}


def sharpen_job(ws: Workspace, p: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Train a model's face sharpener (identity upscaler) for one side on that person's face set, the same
    stage function `masquerade train-upscaler` calls."""
    from ..train.upscaler import train_model_upscaler
    from ..train.upscaler_config import UpscalerTrainConfig

    model_dir = ws.resolve(check_name(p["model"]), "models")
    faceset = ws.resolve(check_name(p["faceset"]), "facesets")
    side = str(p.get("side", "b"))
    config = UpscalerTrainConfig(device=p.get("device", "auto"), **job_settings(UpscalerTrainConfig, p, skip=("device",)))
    ctx.log(f"training the face sharpener of models/{model_dir.name} for side {side} on facesets/{faceset.name}")
    res = train_model_upscaler(faceset, model_dir, side, config, progress=ctx.progress, should_stop=ctx.should_stop)
    ctx.log(f"{res.steps} steps in {res.seconds:.0f}s")
    return {"model": model_dir.name, "side": side, "steps": res.steps, "stopped": res.stopped,
            **{k: float(v) for k, v in (res.metrics or {}).items()}}


def model_step(model_dir: Path) -> int | None:
    """The step a saved model has reached (for 'resume' labels), or None for a new one."""
    from ..models.store import read_manifest

    try:
        return int(read_manifest(model_dir).get("step", 0))
    except Exception:
        return None
