"""`ray_convert`: convert many files (one Ray task each) or one long video (keyframe segments in parallel).

Videos always go through segments, even a short one (one segment): workers write watermarked, unsigned
pieces; the driver joins them by stream copy with the source's audio and signs the result once. So the
signing key stays on the driver, and an interrupted job keeps every finished piece (see `ledger`).
Images and image folders run the plain `convert` in a worker (it signs there; see docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..convert import ConvertConfig, ConvertSummary, check_output
from ..errors import MediaError, OutputError
from ..media import probe
from ..provenance import Provenance
from ..provenance.payload import CURRENT, V2, new_nonce
from ..provenance.writer import IntermediateVideoWriter, publish_joined_video
from ..records import MediaInfo, ProgressFn, no_progress
from .cluster import RayOptions, collect, ray_session, remote
from .ledger import Ledger, fingerprint
from .payload import ModelHandle, check_model, get_model, put_model
from .segments import Segment, join_segments, plan_segments, read_segment

if TYPE_CHECKING:
    from ..models.manifest import UpscalerManifest

_COUNTS = ("frames", "faces", "passed")


@dataclass
class RayConvertSummary(ConvertSummary):
    """ConvertSummary of the whole job; `stage_seconds` add up over workers (CPU time, not wall time)."""

    outputs: list[str] = field(default_factory=list)
    tasks: int = 0  # tasks run by this call
    segments: int = 0  # video segments in the job
    reused: int = 0  # segments or files kept from an interrupted run


def _as_list(inputs: str | Path | Sequence[str | Path]) -> list[str | Path]:
    return [inputs] if isinstance(inputs, (str, Path)) else list(inputs)


def _targets(infos: list[MediaInfo], output: Path, single: bool) -> list[Path]:
    """One input: `output` itself. Several: `output` is a folder, each result named after its input."""
    if single:
        return [output]
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output}: several inputs convert into a folder; give a folder as the output")
    output.mkdir(parents=True, exist_ok=True)
    names = []
    for info in infos:
        p = Path(info.path)
        names.append(p.name if info.kind == "folder" else
                     p.stem + (".mp4" if info.kind == "video" else p.suffix if p.suffix.lower() in (".png", ".jpg", ".jpeg") else ".png"))
    if len(set(names)) != len(names):
        raise OutputError("two inputs have the same name, so their outputs would collide; rename one")
    return [output / n for n in names]


def _find_upscaler(model: Any, config: ConvertConfig) -> tuple[UpscalerManifest, bytes] | None:
    """Driver: the target side's upscaler (manifest, weights) beside a model folder, for `--upscale auto`.

    Workers may not see the model folder, so the driver reads it once and ships it with each task, exactly
    as the model's own weights travel (`payload`)."""
    if config.upscale == "off":
        return None
    from ..convert import target_side
    from ..models.store import read_manifest
    from ..models.upscaler import find_upscaler, read_upscaler

    if isinstance(model, (str, Path)):
        folder, size = Path(model), read_manifest(Path(model)).size
    else:  # a loaded model: the folder `convert.open_model` recorded, if any
        folder, size = getattr(model, "model_dir", None), int(model.config.size)
    side = target_side(config.direction)
    if folder is None or find_upscaler(folder, side, size) is None:
        return None
    return read_upscaler(folder, side, size)


def _worker_upscaler(upscaler: tuple[UpscalerManifest, bytes] | None,
                     config: ConvertConfig) -> tuple[Any, ConvertConfig]:
    """Worker: the shipped upscaler, built; with none shipped, `upscale=off` so the worker never looks for one
    on its own (the driver decided, and the ledger key records that decision)."""
    if upscaler is None:
        from dataclasses import replace

        return None, replace(config, upscale="off")
    from ..models.upscaler import build_upscaler

    return build_upscaler(*upscaler, device=config.device), config


def _convert_segment(source: str, segment: dict, part: str, handle: ModelHandle, config: ConvertConfig,
                     fps: float, width: int, height: int, nonce: int | None = None,
                     upscaler: tuple[dict, bytes] | None = None, mark_version: int = CURRENT.version) -> dict:
    """Worker: swap one segment's frames with convert's own steps and loop, and write a watermarked piece.

    Frames before the segment's start only warm up the steps that follow faces over time (no swap).
    """
    from ..convert import Timings, close_steps, make_steps, run_frames
    from ..media import video_format

    model = get_model(handle, config.device)
    timings = Timings()
    counts = dict.fromkeys(_COUNTS, 0)
    seg = Segment(**segment)
    up, config = _worker_upscaler(upscaler, config)
    steps = make_steps(model, config, video=True, upscaler=up)
    try:
        with IntermediateVideoWriter(Path(part), fps, width, height, handle.hash, config.crf,
                                     color=video_format(source).color, nonce=nonce, version=mark_version) as writer:
            def sink(item) -> None:
                writer.write(item.output, timestamp=item.frame.timestamp)
                counts["frames"] += 1
                counts["faces"] += len(item.faces)
                counts["passed"] += not item.faces

            run_frames(read_segment(source, seg), steps, sink, config.batch_size, timings,
                       warmup=lambda frame: frame.index < seg.start)
    finally:
        close_steps(steps)
    return {**counts, "stage_seconds": timings.seconds}


def _convert_file(source: str, handle: ModelHandle, target: str, config: ConvertConfig,
                  upscaler: tuple[dict, bytes] | None = None) -> dict:
    """Worker: an image, an image folder or a preview, through the plain `convert`."""
    from ..convert import convert

    up, config = _worker_upscaler(upscaler, config)
    s = convert(source, get_model(handle, config.device), target, config, upscaler=up)
    return {"frames": s.frames, "faces": s.faces_swapped, "passed": s.frames_passed_through,
            "stage_seconds": s.stage_seconds}


def _add(summary: RayConvertSummary, result: dict) -> None:
    summary.frames += result["frames"]
    summary.faces_swapped += result["faces"]
    summary.frames_passed_through += result["passed"]
    for k, v in result["stage_seconds"].items():
        summary.stage_seconds[k] = round(summary.stage_seconds.get(k, 0.0) + v, 3)


def ray_convert(inputs: str | Path | Sequence[str | Path], model: Any, output: str | Path,
                config: ConvertConfig = ConvertConfig(), address: str | None = None,
                progress: ProgressFn = no_progress, options: RayOptions = RayOptions()) -> RayConvertSummary:
    """Convert on Ray. Same outputs as `convert` (see docs/scaling.md for where frames may differ).

    One input: `output` is its output file. Several: `output` is a folder. Re-running an interrupted job
    with the same model and settings reuses finished segments and files.
    """
    config.validate()
    if config.start or config.end is not None:  # segments are planned over whole videos
        raise MediaError("--start/--end convert a part of a video without --ray; Ray converts whole videos")
    started = time.perf_counter()
    sources = _as_list(inputs)
    if not sources:
        raise MediaError("no input given; pass one or more videos, images or image folders")
    infos = [probe(s) for s in sources]
    output = Path(output)
    single = len(sources) == 1
    targets = _targets(infos, output, single)
    for info, target in zip(infos, targets):
        check_output(info, target, config)
    work = output.with_name(f".{output.name}.ray") if single else output / ".ray-job"
    summary = RayConvertSummary(str(output), outputs=[str(t) for t in targets])
    check_model(model)
    upscaler = _find_upscaler(model, config)
    with ray_session(address, options) as ray:
        handle = put_model(ray, model)
        Provenance(model_hash=handle.hash).resolve_credentials()  # fail before any work, not after it
        key = {"model": handle.hash, "config": asdict(config)}
        if upscaler is not None:  # a retrained upscaler makes different pixels: do not reuse old pieces
            key["upscaler"] = upscaler[0]["weights_sha256"]
        ledger = Ledger.open(work, "masquerade.ray-convert", key)
        job = _Job(ray, ledger, handle, config, options, summary, progress, started, upscaler)
        for info, target in zip(infos, targets):
            job.add(info, target)
        ledger.save()
        collect(ray, job.pending, job.finished)
    ledger.remove()
    summary.seconds = time.perf_counter() - started
    return summary


class _Job:
    """Driver-side state of one ray_convert call: what runs, what is done, when a video is complete."""

    def __init__(self, ray: Any, ledger: Ledger, handle: ModelHandle, config: ConvertConfig, options: RayOptions,
                 summary: RayConvertSummary, progress: ProgressFn, started: float,
                 upscaler: tuple[dict, bytes] | None = None) -> None:
        self.ray, self.ledger, self.handle, self.config = ray, ledger, handle, config
        self.upscaler = upscaler
        self.summary, self.progress, self.started = summary, progress, started
        self.options = options
        self.segment_task = remote(ray, _convert_segment, options)
        self.file_task = remote(ray, _convert_file, options)
        self.pending: dict[Any, tuple[str, int]] = {}
        self.items: dict[str, tuple[MediaInfo, Path, dict]] = {}
        self.total = 0

    def add(self, info: MediaInfo, target: Path) -> None:
        video = info.kind == "video" and not self.config.preview
        segments = []
        if video:
            tag = hashlib.sha1(info.path.encode()).hexdigest()[:8]
            fps = info.fps or 25.0
            planned = plan_segments(info.path, math.ceil(self.options.segment_seconds * fps),
                                    math.ceil(self.options.warmup_seconds * fps))
            segments = [{**s.to_dict(), "file": f"{tag}_{s.index:04d}.mp4"} for s in planned]
        record = self.ledger.item(info.path, {"fingerprint": fingerprint(info.path), "output": str(target),
                                              "video": video}, segments)
        # One watermark nonce and payload version per video, kept with the job so that a resumed job marks its
        # later pieces like its first ones; a job begun before payload version 3 kept no version: version 2.
        if video and record.get("nonce") is None:
            record["nonce"], record["mark_version"] = new_nonce(), CURRENT.version
        elif video:
            record.setdefault("mark_version", V2.version)
        self.items[info.path] = (info, target, record)
        self.total += info.frame_count or 0
        self.summary.segments += len(segments)
        if record["done"] and target.exists():
            self.summary.reused += max(1, len(segments))
            self._count(record["result"])
            return
        record["done"] = False
        if not video:
            ref = self.file_task.remote(_convert_file, info.path, self.handle, str(target), self.config, self.upscaler)
            self.pending[ref] = (info.path, -1)
            self.summary.tasks += 1
            return
        for k, seg in enumerate(record["segments"]):
            if seg["done"] and (self.ledger.work_dir / seg["file"]).exists():
                self.summary.reused += 1
                self._count(seg["result"])
                continue
            seg["done"] = False
            plan = {f: seg[f] for f in Segment.__dataclass_fields__}
            ref = self.segment_task.remote(_convert_segment, info.path, plan, str(self.ledger.work_dir / seg["file"]),
                                           self.handle, self.config, info.fps, info.width, info.height,
                                           record["nonce"], self.upscaler, record["mark_version"])
            self.pending[ref] = (info.path, k)
            self.summary.tasks += 1
        self._publish_if_complete(info.path)

    def finished(self, key: tuple[str, int], result: dict) -> None:
        """A task came back: record it in the ledger first, then publish its video if that was the last piece."""
        source, k = key
        info, target, record = self.items[source]
        if k < 0:
            record.update(done=True, result=result)
        else:
            record["segments"][k].update(done=True, result=result)
        self.ledger.save()
        self._count(result)
        self._publish_if_complete(source)

    def _publish_if_complete(self, source: str) -> None:
        info, target, record = self.items[source]
        segments = record["segments"]
        if record["done"] or not segments or not all(s["done"] for s in segments):
            return
        parts = [self.ledger.work_dir / s["file"] for s in segments]
        provenance = Provenance(model_hash=self.handle.hash, source=info.path, nonce=record["nonce"],
                                mark_version=record["mark_version"])
        audio = info.path if info.has_audio else None
        publish_joined_video(lambda path: join_segments(parts, path, audio), target, provenance)
        total = {c: sum(s["result"][c] for s in segments) for c in _COUNTS}
        stages: dict[str, float] = {}
        for s in segments:
            for name, v in s["result"]["stage_seconds"].items():
                stages[name] = stages.get(name, 0.0) + v
        record.update(done=True, result={**total, "stage_seconds": stages})
        self.ledger.save()
        for p in parts:
            p.unlink(missing_ok=True)

    def _count(self, result: dict) -> None:
        _add(self.summary, result)
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        self.progress("convert", self.summary.frames, self.total or None,
                      {"faces": self.summary.faces_swapped, "fps": self.summary.frames / elapsed})
