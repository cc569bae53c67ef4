"""Stage 3: swap faces in a video, an image or a folder of images, writing only through `provenance`."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelMismatchError, OutputError
from ..faces.align import TEMPLATE_NAME
from ..media import VIDEO_SUFFIXES, probe, read_frames
from ..provenance import Provenance, SyntheticVideoWriter, write_synthetic_image
from ..records import Frame, ProgressFn, no_progress
from .config import ConvertConfig
from .swapper import Swapper, Timings

_IMAGE_OUT = (".png", ".jpg", ".jpeg")


@dataclass
class ConvertSummary:
    output: str
    frames: int = 0
    faces_swapped: int = 0
    frames_passed_through: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "fps": round(self.fps, 2)}


def _load(model, device: str):
    if isinstance(model, (str, Path)):
        from ..models import load_model

        model = load_model(model, device=device)
    if getattr(model.config, "template", TEMPLATE_NAME) != TEMPLATE_NAME:
        raise ModelMismatchError(f"the model was trained on faces aligned with template {model.config.template!r}, "
                                 f"but this Masquerade aligns with {TEMPLATE_NAME!r}; retrain it on re-extracted faces")
    return model


def check_output(info, output: Path, config: ConvertConfig) -> None:
    src = Path(info.path).resolve()
    if output.resolve() == src:
        raise OutputError(f"{output}: the output must not overwrite the input")
    if config.preview:
        if output.suffix.lower() != ".png":
            raise OutputError(f"{output}: --preview writes a PNG; give an output ending in .png")
    elif info.kind == "video" and output.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise OutputError(f"{output}: a video converts to .mp4, .m4v or .mov")
    elif info.kind == "image" and output.suffix.lower() not in _IMAGE_OUT:
        raise OutputError(f"{output}: an image converts to .png or .jpg")
    elif info.kind == "folder" and (output.suffix or (output.exists() and not output.is_dir())):
        raise OutputError(f"{output}: a folder of images converts to a folder")
    if not config.preview and info.kind != "folder" and not output.parent.is_dir():
        raise OutputError(f"{output.parent}: the output folder does not exist")


def convert(input: str | Path, model, output: str | Path, config: ConvertConfig = ConvertConfig(),
            progress: ProgressFn = no_progress) -> ConvertSummary:
    """Swap faces in `input` with `model` (a model folder or a loaded SwapModel) and write `output`.

    Frames are read in order, faces batched through the model, frames written in order. A video keeps its
    fps, length and audio. Nothing appears at `output` unless the whole conversion succeeds.
    """
    config.validate()
    info = probe(input)
    output = Path(output)
    check_output(info, output, config)
    model = _load(model, config.device)
    provenance = Provenance(model_hash=model.hash, source=str(input))
    summary = ConvertSummary(str(output))
    timings = Timings()
    started = time.perf_counter()
    reference = make_reference_picker(config)
    swapper = Swapper(model, config, video=info.kind == "video" and not config.preview, timings=timings,
                      reference=reference)
    try:
        if config.preview:
            _preview(info, swapper, output, provenance, config, summary)
        elif info.kind == "video":
            with SyntheticVideoWriter(output, info.fps, info.width, info.height, provenance,
                                      audio_from=str(input) if info.has_audio else None, crf=config.crf) as writer:
                for frame, swapped, n in swap_frames(read_frames(input), swapper, config, timings):
                    t = time.perf_counter()
                    writer.write(swapped)
                    timings.add("mark+encode", t)
                    _count(summary, n)
                    progress("convert", summary.frames, info.frame_count, _stats(summary, started))
        else:
            _convert_stills(info, swapper, output, provenance, config, summary, progress, started, timings)
    finally:
        swapper.close()
    summary.seconds = time.perf_counter() - started
    summary.stage_seconds = {k: round(v, 3) for k, v in timings.seconds.items()}
    return summary


def _count(summary: ConvertSummary, faces: int) -> None:
    summary.frames += 1
    summary.faces_swapped += faces
    summary.frames_passed_through += faces == 0


def _stats(summary: ConvertSummary, started: float) -> dict[str, float]:
    return {"faces": summary.faces_swapped, "fps": summary.frames / max(time.perf_counter() - started, 1e-6)}


def swap_frames(frames, swapper: Swapper, config: ConvertConfig, timings: Timings):
    """Yield (frame, swapped image, faces swapped) in order, running the model on batches of frames."""
    batch: list[Frame] = []
    t = time.perf_counter()
    for frame in frames:
        timings.add("decode", t)
        batch.append(frame)
        if len(batch) == config.batch_size:
            yield from _swap_batch(batch, swapper)
            batch = []
        t = time.perf_counter()
    if batch:
        yield from _swap_batch(batch, swapper)


def _swap_batch(batch: list[Frame], swapper: Swapper):
    jobs = [job for slot, f in enumerate(batch) for job in swapper.prepare(f.image, f.timestamp, slot)]
    swapper.run_model(jobs)
    for slot, frame in enumerate(batch):
        mine = [j for j in jobs if j.slot == slot]
        yield frame, swapper.finish(frame.image, mine) if mine else frame.image, len(mine)


def _convert_stills(info, swapper, output: Path, provenance, config, summary, progress, started, timings) -> None:
    frames = read_frames(info.path)
    if info.kind == "image":
        frame, swapped, n = next(swap_frames(frames, swapper, config, timings))
        if n == 0:
            from ..errors import NoFaceError

            raise NoFaceError(f"{info.path}: no face found, so there is nothing to swap; nothing was written")
        write_synthetic_image(output, swapped, provenance)
        _count(summary, n)
        return
    # A folder: swapped images are written (marked and signed); images without a face are copied unchanged.
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for frame, swapped, n in swap_frames(frames, swapper, config, timings):
            target = staging / frame.name
            if n:
                write_synthetic_image(target.with_suffix(".png" if target.suffix.lower() not in _IMAGE_OUT else target.suffix),
                                      swapped, provenance)
            else:
                shutil.copyfile(frame.source, target)
            _count(summary, n)
            progress("convert", summary.frames, info.frame_count, _stats(summary, started))
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _preview(info, swapper, output: Path, provenance, config: ConvertConfig, summary: ConvertSummary) -> None:
    """Side-by-side (original | swapped) rows of `config.preview` evenly spaced frames, one PNG."""
    import cv2

    total = info.frame_count or 1
    wanted = sorted({int(round(i)) for i in np.linspace(0, max(total - 1, 0), config.preview)})
    picked = [f for f in read_frames(info.path) if f.index in wanted]
    rows = []
    for frame, swapped, n in _swap_batch(picked, swapper):
        rows.append(np.concatenate([frame.image, swapped], axis=1))
        _count(summary, n)
    width = min(1600, rows[0].shape[1])
    rows = [cv2.resize(r, (width, int(r.shape[0] * width / r.shape[1])), interpolation=cv2.INTER_AREA) for r in rows]
    write_synthetic_image(output, np.concatenate(rows, axis=0), provenance)


def make_reference_picker(config: ConvertConfig):
    if config.reference is None:
        return None
    from .reference import reference_picker

    return reference_picker(config.reference)
