"""Stage 3: swap faces in a video, an image or a folder of images, writing only through `provenance`.

Every kind of input goes through the same steps and the same loop (`pipeline.run_frames`); this module only
decides where frames come from and where they go, and that the output is ours to write (`outputs`):
an output equal to, inside or containing the input is refused, an existing file is replaced only if
Masquerade made it, and a folder output gains files beside what is there without losing any.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MediaError, NoFaceError, OutputError
from ..faces.align import get_template
from ..media import probe, read_frames, video_format
from ..outputs import claim_file, partial_path, refuse_overlap, sweep_partials
from ..provenance import Provenance, SyntheticVideoWriter, made_by_masquerade, write_synthetic_image
from ..records import ProgressFn, no_progress
from .config import ConvertConfig
from .pipeline import FrameWork, Timings, run_frames
from .steps import StepContext, build_steps, close_steps

_IMAGE_OUT = (".png", ".jpg", ".jpeg")
_VIDEO_OUT = (".mp4", ".m4v", ".mov")


@dataclass
class ConvertSummary:
    output: str
    frames: int = 0
    faces_swapped: int = 0
    frames_passed_through: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the user should know: e.g. an older snapshot was used, and why

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "fps": round(self.fps, 2)}

    def count(self, item: FrameWork) -> None:
        """Add one finished frame."""
        self.frames += 1
        self.faces_swapped += len(item.faces)
        self.frames_passed_through += not item.faces


# -- the model ------------------------------------------------------------------------------------------
def open_model(model, device: str = "auto"):
    """A model folder (loaded) or an already loaded model, checked to align faces as this Masquerade does.

    A model loaded from a folder carries its manifest, and so its `faceset_size` (the crop size of the face
    sets it trained on: convert cuts faces exactly as training did, see `faceset_size`), and the folder itself
    (`model_dir`, where `--upscale auto` looks for the identity upscalers).
    """
    if isinstance(model, (str, os.PathLike)):
        from ..models import load_model

        model = load_model(Path(model), device=device)
    get_template(model.config.template)  # a known one (the align step uses it), or refused
    return model


def model_notes(model) -> tuple[str, ...]:
    """What loading the model found that the user should hear (a damaged newest snapshot passed over); a loaded
    model passed in by a caller has already been reported by it, or carries its notes the same way."""
    return tuple(getattr(model, "notes", None) or ())


def faceset_size(model, direction: str) -> int:
    """Side of the aligned crops the model's input faces were made from in training (before `resize_crop`).

    A model's `faceset_size` is recorded per identity (`{"a": 256, "b": 128}`, see `ModelManifest`); the input
    side of `direction` counts (a2b feeds A's faces). A model that records none is fed crops warped straight
    at its own size.
    """
    size = int(model.config.size)
    recorded = (model.faceset_size or {}).get(direction[0])
    return max(int(recorded), size) if recorded else size


def make_steps(model, config: ConvertConfig, video: bool, names: list[str] | None = None, upscaler=None) -> list:
    """The steps convert runs for this model and config (`video`: frames of one clip, in order).

    `upscaler`: a loaded identity upscaler for the target side; None looks beside the model (`upscale`)."""
    ctx = StepContext(model, config, video, faceset_size(model, config.direction), make_reference_picker(config),
                      upscaler)
    return build_steps(ctx, names)


def make_reference_picker(config: ConvertConfig):
    if config.reference is None:
        return None
    from .reference import reference_picker

    return reference_picker(config.reference)


# -- checking the output --------------------------------------------------------------------------------
def check_output(info, output: Path, config: ConvertConfig) -> None:
    """Refuse an output of the wrong kind, one that overlaps the input, or an existing file not ours."""
    output = Path(output)
    kind = "preview" if config.preview else info.kind
    if kind == "preview" and output.suffix.lower() != ".png":
        raise OutputError(f"{output}: --preview writes a PNG; give an output ending in .png")
    if kind == "video" and output.suffix.lower() not in _VIDEO_OUT:
        raise OutputError(f"{output}: a video converts to a file ending in .mp4, .m4v or .mov")
    if kind == "image" and output.suffix.lower() not in _IMAGE_OUT:
        raise OutputError(f"{output}: an image converts to a file ending in .png or .jpg")
    if kind == "folder" and output.exists() and not output.is_dir():
        raise OutputError(f"{output}: a folder of images converts to a folder, and this is a file")
    refuse_overlap(output, [info.path])
    if kind == "folder":
        return
    if not output.parent.is_dir():
        raise OutputError(f"{output.parent}: the output folder does not exist; create it first")
    claim_file(output, made_by_masquerade)


# -- the stage ------------------------------------------------------------------------------------------
def convert(input: str | Path, model, output: str | Path, config: ConvertConfig = ConvertConfig(),
            progress: ProgressFn = no_progress, max_frames: int | None = None, upscaler=None) -> ConvertSummary:
    """Swap faces in `input` with `model` (a model folder or a loaded SwapModel) and write `output`.

    Frames are read in order, faces batched through the model, frames written in order. A video keeps its
    frame timestamps, size, orientation, colour tags and audio. Nothing appears at `output` unless the
    whole conversion succeeds (a folder gains each finished image as it is done). `max_frames` stops a
    video after that many frames (`evaluate` measures the start of a long clip). `upscaler`: see `make_steps`.
    """
    config.validate()
    info = probe(input)
    output = Path(output)
    check_output(info, output, config)
    model = open_model(model, config.device)
    provenance = Provenance(model_hash=model.hash, source=str(input))
    provenance.resolve_credentials()  # a broken signing key fails now, not after the work
    sweep_partials(output if info.kind == "folder" and not config.preview else output.parent)
    summary = ConvertSummary(str(output), notes=model_notes(model))
    timings = Timings()
    started = time.perf_counter()
    video = info.kind == "video" and not config.preview
    steps = make_steps(model, config, video=video, upscaler=upscaler)
    try:
        if config.preview:
            _preview(info, steps, output, provenance, config, summary, timings)
        elif video:
            _video(info, steps, output, provenance, config, summary, progress, started, timings, max_frames)
        elif info.kind == "image":
            _image(info, steps, output, provenance, config, summary, timings)
        else:
            _folder(info, steps, output, provenance, config, summary, progress, started, timings)
    finally:
        close_steps(steps)
    summary.seconds = time.perf_counter() - started
    summary.stage_seconds = {k: round(v, 3) for k, v in timings.seconds.items()}
    return summary


def _stats(summary: ConvertSummary, started: float) -> dict[str, float]:
    return {"faces": summary.faces_swapped, "fps": summary.frames / max(time.perf_counter() - started, 1e-6)}


def _video(info, steps, output: Path, provenance, config, summary, progress, started, timings,
           max_frames: int | None = None) -> None:
    fmt = video_format(info.path)
    first, last = _frame_range(info, config)
    total = min(last - first + 1, max_frames or 10 ** 12) if last is not None else None
    part = first > 0 or config.end is not None  # a part keeps no sound: the source's track would not line up
    with SyntheticVideoWriter(output, info.fps, info.width, info.height, provenance, crf=config.crf,
                              audio_from=str(info.path) if info.has_audio and not part else None,
                              color=fmt.color) as writer:
        def sink(item: FrameWork) -> None:
            writer.write(item.output, timestamp=item.frame.timestamp - (config.start if part else 0.0))
            summary.count(item)
            progress("convert", summary.frames, total, _stats(summary, started))

        frames = itertools.islice(_frames_in(info, first, last), max_frames or None)
        run_frames(frames, steps, sink, config.batch_size, timings, in_stages=config.pipeline)


def _frame_range(info, config: ConvertConfig) -> tuple[int, int | None]:
    """The first and last frame index of the part `config.start`..`config.end` (seconds) of a video; the last
    is None when the end is unknown (a stream without a frame count, and no --end)."""
    fps = info.fps or 1.0
    first = int(round(config.start * fps))
    end = int(round(config.end * fps)) - 1 if config.end is not None else None
    count = (info.frame_count or 0) - 1 if info.frame_count else None
    last = min(v for v in (end, count) if v is not None) if end is not None or count is not None else None
    if last is not None and last < first:
        raise MediaError(f"{info.path}: the part from {config.start:g} s has no frames (the video is "
                          f"{(info.frame_count or 0) / fps:.1f} s long); nothing was written")
    return first, last


def _frames_in(info, first: int, last: int | None):
    """The video's frames from index `first` to `last` (inclusive), read in order."""
    frames = read_frames(info.path)
    return itertools.takewhile(lambda f: last is None or f.index <= last, (f for f in frames if f.index >= first))


def _image(info, steps, output: Path, provenance, config, summary, timings) -> None:
    done: list[FrameWork] = []
    run_frames(read_frames(info.path), steps, done.append, config.batch_size, timings)
    if not done[0].faces:
        raise NoFaceError(f"{info.path}: no face found, so there is nothing to swap; nothing was written")
    write_synthetic_image(output, done[0].output, provenance)
    summary.count(done[0])


def _folder_target(output: Path, name: str) -> Path:
    target = output / name
    return target if target.suffix.lower() in _IMAGE_OUT else target.with_suffix(".png")


def _folder(info, steps, output: Path, provenance, config, summary, progress, started, timings) -> None:
    """Swapped images are written (marked and signed); images without a face are copied unchanged.

    New files are added beside whatever the folder holds. A file already there is replaced only when
    Masquerade made it (or it is an identical copy of its input); anything else stops the run before any
    work, so nothing of the user's is ever overwritten or deleted.
    """
    from ..media.reader import folder_images

    output.mkdir(parents=True, exist_ok=True)
    for source in folder_images(Path(info.path)):
        for target in {_folder_target(output, source.name), output / source.name}:
            if target.exists() and not _same_bytes(target, source):
                claim_file(target, made_by_masquerade)

    def sink(item: FrameWork) -> None:
        frame = item.frame
        if item.faces:
            write_synthetic_image(_folder_target(output, frame.name), item.output, provenance)
        else:
            target = output / frame.name
            tmp = partial_path(target)
            try:
                shutil.copyfile(frame.source, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        summary.count(item)
        progress("convert", summary.frames, info.frame_count, _stats(summary, started))

    run_frames(read_frames(info.path), steps, sink, config.batch_size, timings, in_stages=config.pipeline)


def _same_bytes(a: Path, b: Path) -> bool:
    """Is `a` an unchanged copy of `b` (what a faceless image of an earlier run left)?"""
    try:
        if not a.is_file() or a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _preview(info, steps, output: Path, provenance, config: ConvertConfig, summary, timings) -> None:
    """Side-by-side (original | swapped) rows of `config.preview` evenly spaced frames, one PNG."""
    import cv2

    first, last = _frame_range(info, config) if info.kind == "video" else (0, 0)
    last = (info.frame_count or 1) - 1 if last is None else last
    wanted = {int(round(i)) for i in np.linspace(first, max(last, first), config.preview)}
    rows: list[np.ndarray] = []

    def sink(item: FrameWork) -> None:
        rows.append(np.concatenate([item.frame.image, item.output], axis=1))
        summary.count(item)

    last = max(wanted)
    picked = (f for f in itertools.takewhile(lambda f: f.index <= last, read_frames(info.path)) if f.index in wanted)
    run_frames(picked, steps, sink, max(config.batch_size, config.preview), timings)
    width = min(1600, rows[0].shape[1])
    rows = [cv2.resize(r, (width, int(r.shape[0] * width / r.shape[1])), interpolation=cv2.INTER_AREA) for r in rows]
    write_synthetic_image(output, np.concatenate(rows, axis=0), provenance)
