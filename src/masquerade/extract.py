"""Stage 1: media -> FaceSet. Find faces in every frame, align them to the template, save crops and masks.

A face set only grows: its faces are named by the content of their source (faceset/sources.py), so a later
run with more footage adds files beside the earlier ones, and a run over footage already in the set (in any
order, from any path) changes nothing. Each frame costs the same however long the video is: its faces and
resume point are appended to the face set's journal, which is compacted once when the run completes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import FaceSetError, MasqueradeError, MediaError, NoFaceError
from .faces import create_detector, detectors
from .faces.align import COVERAGES, TEMPLATE_NAME, TEMPLATES, align_face
from .faceset import FaceSet, FaceSetManifest
from .faceset.sources import Source, identify
from .media import probe, read_frames
from .options import check, opt, registry
from .outputs import refuse_overlap, sweep_partials
from .records import AlignedFace, Frame, MediaInfo, ProgressFn, Tally, no_progress

_NOT_REJECTIONS = ("frames", "kept", "no face", "repaired frames")


@dataclass(frozen=True)
class ExtractConfig:
    size: int = opt(256, low=32, high=1024, step=32, help="Side of the aligned face crops in pixels.",
                    title="Face picture size (px)", tip="Side of the saved face pictures. 256 suits every model type and the face sharpener.", group="Face pictures")
    coverage: str = opt("face", choices=COVERAGES, help="How much of the head a crop holds: face, whole_face or head.",
                        title="Framing", tip="How much of the head each face picture holds: the face, the whole face or the head.", group="Face pictures")
    every_nth: int = opt(1, low=1, help="Read only every n-th frame of videos.",
                         title="Use every n-th frame", tip="Read only every n-th frame, to go faster through long videos.", group="Which faces")
    min_face_size: int = opt(40, low=0, help="Reject faces smaller than this (pixels).",
                             title="Smallest face (px)", tip="Skip faces smaller than this.", group="Which faces")
    max_faces: int = opt(1, low=1, help="Faces to keep per frame, largest first.",
                         title="Faces per frame", tip="How many faces to keep from each frame, largest first. Keep 1 when the clip shows only this person.", group="Which faces")
    blur_threshold: float = opt(0.0, low=0.0, help="Reject blurry crops: Laplacian variance below this (0 keeps all; about 50 drops strong motion blur).",
                                title="Skip blurry faces", tip="Skip faces blurrier than this. 0 keeps them all; about 50 skips strong motion blur.", group="Which faces")
    detector: str = opt("mediapipe", choices=registry("masquerade.faces", "detectors"), help="Face detector backend.",
                        title="Face finder", tip="Which face finder looks for faces in the pictures.", group="Which faces")
    min_score: float = opt(0.5, low=0.0, high=1.0, cli=False, label="--min-score", help="Detector confidence needed to start a face.",
                           title="Finder confidence", tip="How sure the face finder must be before it counts a face.", group="Which faces")

    def validate(self) -> None:
        """Refuse settings that cannot work, before any input is read or anything is written (ranges and
        choices are the declarations above)."""
        check(self, MasqueradeError, words=True)


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


def faceset_settings(config: ExtractConfig, template: str = TEMPLATE_NAME) -> dict:
    return {"template": template, "size": config.size, "coverage": config.coverage, "detector": config.detector}


def template_for(output: str | Path) -> str:
    """The alignment template for faces added to `output`: an existing face set's own while this Masquerade
    can still align with it (a set grows consistently: every face framed alike), else the newest (a set made
    with an unknown template is then refused as made with other settings; a damaged or foreign manifest is
    left to `FaceSet.create_or_resume`, which says what is wrong with it)."""
    try:
        recorded = FaceSetManifest.read(output).template if FaceSet.is_faceset(output) else None
    except FaceSetError:
        recorded = None
    return recorded if recorded in TEMPLATES else TEMPLATE_NAME


def probe_inputs(inputs: Sequence[str | Path]) -> list[MediaInfo]:
    if not inputs:
        raise MediaError("no input given; pass one or more videos, images or image folders")
    return [probe(p) for p in inputs]


def open_job(inputs: Sequence[str | Path], output: str | Path, config: ExtractConfig,
             template: str | None = None) -> tuple[list[Source], FaceSet]:
    """Check settings, every input and the output before anything is written; identify each input by content
    (duplicates dropped); open (or resume) the face set, which is refused if made with other settings.
    `template`: align with this one (a Ray part of a set made with it), else `template_for(output)`."""
    config.validate()
    infos = probe_inputs(inputs)
    output = Path(output)
    refuse_overlap(output, [info.path for info in infos])
    faceset = FaceSet.create_or_resume(output, faceset_settings(config, template or template_for(output)))
    try:
        sources: dict[str, Source] = {}
        for info in infos:
            source = identify(info)
            sources.setdefault(source.id, source)
        for folder in (output, output / "faces", output / "masks"):
            sweep_partials(folder)  # temp files of a killed run: ours, and never referenced
    except BaseException:
        faceset.close()
        raise
    return list(sources.values()), faceset


def extract(inputs: Sequence[str | Path], output: str | Path, config: ExtractConfig = ExtractConfig(),
            progress: ProgressFn = no_progress) -> ExtractSummary:
    """Extract faces from videos, images and folders into the face set at `output`.

    All inputs are checked before anything is written. Re-running with the same output continues an
    interrupted run and adds new footage; a folder holding a face set made with other settings, or anything
    that is not a face set, is refused.
    """
    started = time.perf_counter()
    sources, faceset = open_job(inputs, output, config)
    summary = extract_sources(sources, faceset, config, progress, started)  # closes the face set
    summary.sources = len(inputs)
    if not faceset.records:
        raise NoFaceError("no face found in " + ", ".join(str(s) for s in inputs) +
                          (f" (rejected: {summary.rejected})" if summary.rejected else "") + "; nothing was written")
    return summary


def extract_sources(sources: Sequence[Source], faceset: FaceSet, config: ExtractConfig,
                    progress: ProgressFn = no_progress, started: float | None = None) -> ExtractSummary:
    """Run extraction over identified sources into an opened face set, and finish the set if it holds faces.

    Sources already done in the set are skipped, an unfinished one resumes at its next frame, and frames of
    a given source whose face files went missing are extracted again first (`repair`).
    """
    started = time.perf_counter() if started is None else started
    summary = ExtractSummary(str(faceset.root), sources=len(sources))
    tally = Tally()
    total = sum(-(-(s.frame_count or 1) // config.every_nth) for s in sources)
    done = 0
    try:
        for source in sources:
            entry = faceset.source_entry(source)
            missing = faceset.missing_frames(source)
            if entry["done"] and not missing:
                done += -(-(source.frame_count or 1) // config.every_nth)
                continue
            detector = create_detector(config.detector, video=source.kind == "video",
                                       max_faces=max(4, config.max_faces), min_score=config.min_score)
            repeats = 0  # frames whose faces the set already holds (from another source)
            try:
                if missing:
                    repair(source, faceset, missing, detector, config, tally)
                if entry["done"]:
                    continue
                for frame in tracked_frames(source, entry["next_frame"], config.every_nth, detector):
                    if frame is None:
                        continue  # a frame already in the set, read again only to warm up the tracker
                    if faceset.has_frame(source, frame):  # the same image reached by another path: no write
                        tally.add("already in the face set")
                        repeats += 1
                    else:
                        faces = detect_faces(frame, detector, config, tally, faceset.manifest.template)
                        new = faceset.add_frame(source, frame, faces)
                        tally.add("kept", new)
                        if new < len(faces):
                            tally.add("already in the face set", len(faces) - new)
                    tally.add("frames")
                    done += 1
                    elapsed = max(time.perf_counter() - started, 1e-6)
                    progress("extract", done, total, {"faces": tally["kept"], "faces/s": tally["kept"] / elapsed})
            finally:
                detector.close()
            if repeats and not entry["frames_read"]:  # nothing of it was new: the set stays as it was
                faceset.forget_source(source)
                continue
            faceset.finish_source(source)
            if entry["faces"] == 0 and not repeats:
                summary.sources_without_face.append(source.path)
        if faceset.records:
            faceset.finish()
    finally:
        faceset.close()
    summary.frames_read = tally["frames"]
    summary.faces_kept = tally["kept"]
    summary.frames_without_face = tally["no face"]
    summary.rejected = {k: v for k, v in tally.counts.items() if k not in _NOT_REJECTIONS and v}
    summary.seconds = time.perf_counter() - started
    return summary


TRACK_SPAN = 32
"""A video's tracker starts afresh at every multiple of this many frames, so that a resumed run sees the same
tracker state as an uninterrupted one: the face mesh's tracking mode carries landmarks (and their smoothing)
from frame to frame, and a run resumed at frame N with a cold tracker found landmarks up to 39 px away from
the uninterrupted run's for the rest of the clip. Resuming re-reads the frames since the last span start to
warm the tracker up exactly as it was. A restart costs about 40 ms, about 1 ms per frame."""


def tracked_frames(source: Source, start: int, every_nth: int, detector):
    """The frames of `source` from `start` on, restarting `detector`'s tracking at every `TRACK_SPAN`; before
    `start` (back to the span's start) each frame only goes through the detector and is given as None."""
    video = source.kind == "video"
    first = start - start % TRACK_SPAN if video else start
    span = None
    for frame in read_frames(source.path, every_nth=every_nth, start=first):
        if video and span is not None and frame.index // TRACK_SPAN != span:
            detector.reset()
        span = frame.index // TRACK_SPAN
        if frame.index < start:
            detector.detect(frame.image)
            yield None
        else:
            yield frame


def repair(source: Source, faceset: FaceSet, missing: dict[int, list[str]], detector, config: ExtractConfig,
           tally: Tally) -> None:
    """Re-extract the frames whose face files went missing (deleted by hand, lost in a copy), in place."""
    last = max(missing)
    for frame in read_frames(source.path, start=min(missing)):
        if frame.index in missing:
            faces = detect_faces(frame, detector, config, tally, faceset.manifest.template)
            tally.add("kept", faceset.add_frame(source, frame, faces, replace=missing[frame.index]))
            tally.add("repaired frames")
        if frame.index >= last:
            break
    detector.reset()  # what follows is not the next frame of this clip


def detect_faces(frame: Frame, detector, config: ExtractConfig, tally: Tally,
                 template: str = TEMPLATE_NAME) -> list[AlignedFace]:
    """The frame's usable faces, largest first, aligned; rejections are counted in `tally` by reason."""
    detections = sorted(detector.detect(frame.image), key=lambda d: -d.size)
    if not detections:
        tally.add("no face")
        return []
    kept: list[AlignedFace] = []
    for d in detections:
        if d.size < config.min_face_size:
            tally.add("too small")
            continue
        if len(kept) >= config.max_faces:
            tally.add("over --max-faces")
            continue
        face = align_face(frame.image, d, config.size, config.coverage, template)
        if face.blur < config.blur_threshold:
            tally.add("blurry")
            continue
        kept.append(face)
    return kept


__all__ = ["ExtractConfig", "ExtractSummary", "detect_faces", "extract", "extract_sources",
           "faceset_settings", "open_job", "probe_inputs", "repair", "template_for"]
