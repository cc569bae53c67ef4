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

# What a train job does when its settings leave these out: the UI saves and previews more often than the CLI
# (by the clock, as the CLI does: a step count means seconds on a GPU and minutes on a slow CPU).
UI_TRAIN_DEFAULTS = {"save_seconds": 120.0, "preview_seconds": 15.0}


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
            "sharpen": partial(sharpen_job, ws), "curate": partial(curate_job, ws)}


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


# What `curate` says in words for the command line (paths, flags), and what the page says instead: matched on
# the message, since the stage raises one NoFaceError type for each; the UI tests check each one still matches.
CURATE_PLAIN = (("reference photo", "no face was found in the photo of the person to keep; add one where the face "
                                    "is clearly seen"),
                ("is within", "no face here looks like the person in the photo; check that the photo shows this "
                              "person"),
                ("every face would be set aside", "these settings would set aside every face; make them less strict "
                                                  "under Advanced"),
                ("is writing to this face set", "this person's faces are being changed by another job; wait for it "
                                                "to finish, then try again"))


def curate_job(ws: Workspace, p: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Clean up one person's face set with the stage function `masquerade faces` calls: a dry run (nothing
    moves) first, then the same parameters with `dry_run` false. The face-recognition step reports progress,
    and its embeddings are cached in the face set, so the second run costs little."""
    from ..errors import MasqueradeError
    from ..faceset.curate import CurateConfig, curate
    from ..media import IMAGE_SUFFIXES
    from .workspace import PathRefused

    folder = ws.resolve(check_name(p["faceset"]), "facesets")
    photo = ws.resolve(p["reference"], "uploads") if p.get("reference") else None
    if photo is not None and photo.suffix.lower() not in IMAGE_SUFFIXES:
        raise PathRefused("the person to keep is shown by a photo, not a clip")
    dry = bool(p.get("dry_run", True))
    config = CurateConfig(reference=photo, sheet=True, **job_settings(CurateConfig, p))
    ctx.log(("checking" if dry else "cleaning up") + f" facesets/{folder.name}" +
            (f" (the person in uploads/{photo.name})" if photo else ""))
    try:
        report = curate(folder, config, dry_run=dry, progress=ctx.progress)
    except MasqueradeError as exc:
        ctx.log(str(exc))  # the stage's own words stay in the job's log
        plain = next((words for key, words in CURATE_PLAIN if key in str(exc)), None)
        if plain is None:
            raise
        raise type(exc)(plain) from None
    ctx.log(f"kept {report.kept} of {report.faces}; set aside {report.set_aside or 'nothing'}"
            + (" (dry run)" if dry else ""))
    return {"faceset": folder.name, "dry_run": dry, "faces": report.faces, "kept": report.kept,
            "set_aside": dict(report.set_aside), "embedded": report.embedded, "reference": photo is not None,
            "one_person": config.one_person, "sheet": ws.rel(report.sheet) if report.sheet else None}


def model_step(model_dir: Path) -> int | None:
    """The step a saved model has reached (for 'resume' labels), or None for a new one."""
    from ..models.store import read_manifest

    try:
        return read_manifest(model_dir).step
    except Exception:
        return None
