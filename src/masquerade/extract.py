"""Stage 1: media -> FaceSet. Find faces in every frame, align them to the template, save crops and masks."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import MediaError, NoFaceError
from .faces import create_detector
from .faces.align import COVERAGES, TEMPLATE_NAME, align_face
from .faceset import FaceSet
from .media import probe, read_frames
from .records import MediaInfo, ProgressFn, Tally, no_progress

CHECKPOINT_SECONDS = 2.0


@dataclass(frozen=True)
class ExtractConfig:
    size: int = 256  # side of the aligned crop in pixels
    coverage: str = "face"  # face | whole_face | head
    every_nth: int = 1  # read every n-th frame of a video
    min_face_size: int = 40  # faces smaller than this (box side, frame pixels) are rejected
    max_faces: int = 1  # faces kept per frame, largest first
    blur_threshold: float = 0.0  # reject crops whose Laplacian variance is below this (0 = keep all)
    detector: str = "mediapipe"
    min_score: float = 0.5  # detector confidence needed to start a face

    def validate(self) -> None:
        from .errors import MasqueradeError

        if self.coverage not in COVERAGES:
            raise MasqueradeError(f"--coverage must be one of {', '.join(COVERAGES)}, not {self.coverage!r}")
        if not 32 <= self.size <= 1024:
            raise MasqueradeError(f"--size must be between 32 and 1024 pixels, not {self.size}")
        if self.every_nth < 1 or self.max_faces < 1:
            raise MasqueradeError("--every-nth and --max-faces must be at least 1")


@dataclass
class ExtractSummary:
    output: str
    sources: int = 0
    frames_read: int = 0
    faces_kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    frames_without_face: int = 0
    sources_without_face: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def faceset_settings(config: ExtractConfig) -> dict:
    return {"template": TEMPLATE_NAME, "size": config.size, "coverage": config.coverage, "detector": config.detector}


def probe_inputs(inputs: Sequence[str | Path]) -> list[MediaInfo]:
    if not inputs:
        raise MediaError("no input given; pass one or more videos, images or image folders")
    return [probe(p) for p in inputs]


def open_job(inputs: Sequence[str | Path], output: str | Path, config: ExtractConfig) -> tuple[list[MediaInfo], FaceSet]:
    """Check settings and every input before anything is written, then open (or resume) the output face set,
    which is refused if it was made with other settings."""
    config.validate()
    infos = probe_inputs(inputs)
    output = Path(output)
    for info in infos:
        if Path(info.path).resolve() == output.resolve():
            raise MediaError(f"{output}: the output folder cannot also be an input")
    return infos, FaceSet.create_or_resume(output, faceset_settings(config))


def extract(inputs: Sequence[str | Path], output: str | Path, config: ExtractConfig = ExtractConfig(),
            progress: ProgressFn = no_progress) -> ExtractSummary:
    """Extract faces from videos, images and folders into the face set at `output`.

    All inputs are checked before anything is written. Re-running with the same output continues an
    interrupted run; a folder holding a face set made with other settings is refused.
    """
    started = time.perf_counter()
    infos, faceset = open_job(inputs, output, config)
    output = Path(output)
    summary = ExtractSummary(str(output), sources=len(infos))
    tally = Tally()
    total = sum((info.frame_count or 1) // config.every_nth for info in infos)
    done = 0
    last_save = time.perf_counter()
    written = faceset.root.exists()
    try:
        for source_index, info in enumerate(infos):
            entry = faceset.source_entry(info.path)
            if entry["done"]:
                done += (info.frame_count or 1) // config.every_nth
                continue
            detector = create_detector(config.detector, video=info.kind == "video", max_faces=max(4, config.max_faces),
                                       min_score=config.min_score)
            source_faces = entry["faces"]
            try:
                for frame in read_frames(info.path, every_nth=config.every_nth, start=entry["next_frame"]):
                    kept = extract_frame(frame, detector, config, faceset, source_index, tally, written)
                    written = written or kept > 0
                    source_faces += kept
                    tally.add("frames")
                    done += 1
                    entry.update(next_frame=frame.index + 1, frames_read=entry["frames_read"] + 1, faces=source_faces)
                    elapsed = time.perf_counter() - started
                    progress("extract", done, total, {"faces": tally["kept"], "faces/s": tally["kept"] / max(elapsed, 1e-6)})
                    if written and time.perf_counter() - last_save > CHECKPOINT_SECONDS:
                        faceset.checkpoint()
                        last_save = time.perf_counter()
            finally:
                detector.close()
            entry["done"] = True
            if source_faces == 0:
                summary.sources_without_face.append(info.path)
    finally:
        if written:
            faceset.checkpoint(complete=False)
    summary.frames_read = tally["frames"]
    summary.faces_kept = tally["kept"]
    summary.frames_without_face = tally["no face"]
    summary.rejected = {k: v for k, v in tally.counts.items() if k not in ("frames", "kept", "no face")}
    summary.seconds = time.perf_counter() - started
    if not faceset.records:
        raise NoFaceError("no face found in " + ", ".join(str(i.path) for i in infos) +
                          (f" (rejected: {summary.rejected})" if summary.rejected else "") + "; nothing was written")
    faceset.checkpoint(complete=True)
    return summary


def extract_frame(frame, detector, config: ExtractConfig, faceset: FaceSet, source_index: int,
                   tally: Tally, written: bool) -> int:
    detections = sorted(detector.detect(frame.image), key=lambda d: -d.size)
    if not detections:
        tally.add("no face")
        return 0
    kept = 0
    for d in detections:
        if d.size < config.min_face_size:
            tally.add("too small")
            continue
        if kept >= config.max_faces:
            tally.add("over --max-faces")
            continue
        face = align_face(frame.image, d, config.size, config.coverage)
        if face.blur < config.blur_threshold:
            tally.add("blurry")
            continue
        faceset.add_face(frame, kept, face, source_index)
        kept += 1
        tally.add("kept")
    return kept
