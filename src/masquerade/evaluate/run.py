"""Stage: measure a swap model the way the face-swap literature does (FaceForensics++ protocol, adapted).

Converts the source video with the model, then compares output and input frame by frame: identity
(face-recognition embedding), head pose, expression (landmark error; and whether the output's mouth opening and
eye opening follow the source's over the clip, `expression`), the colour seam at the paste border (`border`),
temporal flicker and watermark decoding; plus the reconstruction quality of both decoders on faces held out
from training.

Both passes stream: convert stops after `max_frames`, and the comparison holds one input frame, one output
frame and the previous pair (for flicker), and a few numbers per frame (the openings), so memory barely grows
with the length of the video.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..convert import ConvertConfig, convert, model_notes, open_model, target_side
from ..faces import create_detector, resize_crop
from ..faces.masks import hull_mask
from ..faceset import FaceSet
from ..media import probe, read_frames
from ..records import ProgressFn, no_progress
from . import metrics
from ..faces.landmark_measures import corner_lift, eye_opening, mouth_opening
from .border import border_colour
from .expression_fidelity import scores_from_openings
from .identity import IdentityScores, faceset_identity, identity_scores, mean_identity


POOLED_FRAMES = 24
"""Output frames pooled for the video-level watermark check. One small frame after H.264 can lose a few of the
88 payload bits (so `watermark_frames_ok` is below 1 on 320x240 clips); pooled frames are what `verify` reads."""


@dataclass
class EvalReport:
    frames: int = 0
    frames_with_face: int = 0
    identity: dict = field(default_factory=dict)
    pose_error_deg: dict = field(default_factory=dict)  # mean |Δ| yaw, pitch, roll, swapped vs source
    pose_offset_deg: dict = field(default_factory=dict)  # mean signed Δ (output − source): a constant tilt
    pose_motion_error_deg: dict = field(default_factory=dict)  # mean |Δ − offset|: the error without the constant tilt
    pose_corr: dict = field(default_factory=dict)  # per axis over the clip: 1 = the output turns with the source
    expression_error: float = float("nan")  # inter-ocular units
    # Expression fidelity (`evaluate.expression_fidelity`): does the output's mouth open and do its eyes blink with the source's?
    mouth_corr: float = float("nan")  # correlation of mouth opening over the clip, source vs output (1 = follows)
    eye_corr: float = float("nan")
    smile_corr: float = float("nan")  # correlation of the mouth corners' lift (a smile vs pursed lips)
    mouth_error: float = float("nan")  # mean |source - output| opening, face-size units
    eye_error: float = float("nan")
    blink_agreement: float = float("nan")  # share of the source's blinks the output reproduces (NaN: none)
    openings: dict = field(default_factory=dict)  # per frame: source/output openings and lift (NaN: no face)
    border_delta_e: float = float("nan")  # colour seam at the paste border, CIEDE2000 skin to skin (`evaluate.border`)
    border_delta_e_raw: float = float("nan")  # the output's difference across that band, seam and skin together
    border_delta_e_source: float = float("nan")  # the same band read on the source: the skin's own change there
    flicker_output: float = float("nan")
    flicker_input: float = float("nan")
    flicker_delta: float = float("nan")  # output minus input: > 0 means the swap adds flicker
    watermark_frames_ok: float = float("nan")  # share of output frames whose watermark decodes on its own
    watermark_video_ok: bool = False  # the mark decodes (model matches) with evidence pooled as `verify` does
    reconstruction: dict = field(default_factory=dict)  # {"a": {"ssim_box7":..,"psnr":..,"faces":..}, "b": ...}
    seconds: float = 0.0
    notes: tuple[str, ...] = ()  # printed as notes, not as a metric: e.g. an older snapshot was measured, and why

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "notes"}


def reconstruction(model, faceset: FaceSet, identity: str, indices: list[int]) -> dict:
    """SSIM / PSNR of X→X on the given faces of a face set (inside the crop, at the model's size)."""
    import torch

    s = int(model.config.size)
    crops = [resize_crop(faceset.crop(i), s) for i in indices]  # the crops training fed the model
    if not crops:
        return {"ssim_box7": float("nan"), "psnr": float("nan"), "faces": 0}
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    if getattr(model, "takes_expression", False):
        from ..faces.expression_reference import measures

        marks = np.stack([faceset.crop_landmarks(i, s) for i in indices])
        faces, _ = model.swap(batch, f"{identity}2{identity}", measures=torch.from_numpy(measures(marks)))
    else:
        faces, _ = model.swap(batch, f"{identity}2{identity}")
    out = (faces.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return {"ssim_box7": float(np.mean([metrics.ssim_box7(a, b) for a, b in zip(crops, out)])),
            "psnr": float(np.mean([metrics.psnr(a, b) for a, b in zip(crops, out)])), "faces": len(crops)}


def evaluate(model_dir, source: str | Path, target_faces: str | Path, config: ConvertConfig | None = None,
             max_frames: int | None = None, progress: ProgressFn = no_progress,
             output: str | Path | None = None, holdout: dict[str, str | Path] | None = None) -> EvalReport:
    """Convert `source` with the model and measure the result against it and the target identity.

    `config`: the conversion's settings, as `convert` takes them (direction, upscale, colour, ...), so what
    is measured is what a user of convert with those settings gets; a preview (`config.preview`) is refused.
    `holdout` names face sets the model never trained on ({"a": ..., "b": ...}) for the reconstruction
    scores; without it, reconstruction is measured on the target face set (training data, so optimistic).
    """
    from ..errors import MasqueradeError
    from ..faces.identity import IdentityEmbedder

    config = config or ConvertConfig()
    config.validate()
    if config.preview:
        raise MasqueradeError("evaluate measures a whole converted clip: it takes no --preview")
    started = time.perf_counter()
    model = open_model(model_dir)  # a folder or a loaded model
    target = FaceSet.open(target_faces)
    report = EvalReport(notes=model_notes(model))
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(output) if output else Path(tmp) / "swapped.mp4"
        convert(source, model, out_path, config, progress=progress, max_frames=max_frames)
        detector = create_detector(video=False)
        embedder = IdentityEmbedder()
        try:
            _compare(report, model, source, out_path, max_frames, detector, embedder, target, progress)
        finally:
            detector.close()
    rendered = target_side(config.direction)
    sets = {k: Path(v) for k, v in (holdout or {rendered: target_faces}).items()}
    for side, path in sets.items():
        faces = FaceSet.open(path)
        report.reconstruction[side] = {**reconstruction(model, faces, side, list(range(len(faces)))),
                                       "held_out": holdout is not None}
    report.seconds = time.perf_counter() - started
    return report


def _compare(report: EvalReport, model, source, out_path: Path, max_frames: int | None, detector, embedder,
             target: FaceSet, progress: ProgressFn) -> None:
    """Walk input and output together, one frame pair at a time, and fill the report's per-frame metrics."""
    from ..provenance import watermark

    info = probe(source)
    w, h = info.width, info.height
    src_ids, swp_ids, poses, exprs, marks, borders = [], [], [], [], [], []
    opens: list[tuple[float, ...]] = []  # source/output mouth, eye opening and corner lift per frame (NaN: no face)
    pooled: list[np.ndarray] = []  # the first output frames, for the pooled (video) watermark decode
    flicker_in, flicker_out = [], []
    previous = None  # (input image, output image, face region) of the last frame
    pairs = zip(itertools.islice(read_frames(source), max_frames or None), read_frames(out_path))
    for i, (fin, fout) in enumerate(pairs):
        report.frames += 1
        mark = watermark.decode(fout.image)
        marks.append(mark.detected and mark.model_hash == model.hash[: len(mark.model_hash)])
        if len(pooled) < POOLED_FRAMES:
            pooled.append(fout.image)
        din, dout = detector.detect(fin.image), detector.detect(fout.image)
        a, b = largest(din), largest(dout)
        region = face_region(a, w, h)
        if previous is not None:
            flicker_in.append(metrics.flicker([previous[0], fin.image], [previous[2], region]))
            flicker_out.append(metrics.flicker([previous[1], fout.image], [previous[2], region]))
        previous = (fin.image, fout.image, region)
        opens.append(_openings(a) + _openings(b))
        if a is not None and b is not None:
            report.frames_with_face += 1
            src_ids.append(embedder.embed(fin.image, a.box))
            swp_ids.append(embedder.embed(fout.image, b.box))
            poses.append((metrics.head_pose(a.points3d), metrics.head_pose(b.points3d)))
            exprs.append(metrics.expression_error(a.landmarks, b.landmarks))
            borders.append(border_colour(fin.image, fout.image, a.landmarks))
        progress("evaluate", i + 1, min(info.frame_count or 0, max_frames or 10**12) or None,
                 {"faces": report.frames_with_face})
    if swp_ids:
        scores: IdentityScores = identity_scores(swp_ids, faceset_identity(embedder, target), mean_identity(src_ids))
        report.identity = asdict(scores)
        pose = metrics.pose_scores(*map(np.stack, zip(*poses)))
        report.pose_error_deg, report.pose_offset_deg, report.pose_corr = pose["error"], pose["offset"], pose["corr"]
        report.pose_motion_error_deg = pose["motion"]
        report.expression_error = float(np.mean(exprs))
    add_expression(report, opens)
    if borders:
        report.border_delta_e, report.border_delta_e_raw, report.border_delta_e_source = (
            _mean_finite(list(v)) for v in zip(*borders))
    report.flicker_input = _mean_finite(flicker_in)
    report.flicker_output = _mean_finite(flicker_out)
    report.flicker_delta = report.flicker_output - report.flicker_input
    report.watermark_frames_ok = float(np.mean(marks)) if marks else float("nan")
    if pooled:
        video = watermark.decode_frames(pooled)
        report.watermark_video_ok = bool(video.detected and video.model_hash == model.hash[: len(video.model_hash)])


def largest(detections):
    """The largest detected face, or None. Every per-frame measure (identity, pose, expression, openings, the
    flicker region) reads this one face, so they all describe the same person when a frame holds several."""
    return max(detections, key=lambda d: d.size) if detections else None


def face_region(face, w: int, h: int) -> np.ndarray:
    """uint8 h×w mask of `face`'s landmark hull (all zero without a face): where flicker is measured."""
    if face is None:
        return np.zeros((h, w), np.uint8)
    return hull_mask(face.landmarks, max(w, h))[:h, :w]


def _openings(face) -> tuple[float, float, float]:
    """(mouth, eye) opening and corner lift of `face` (`faces.landmark_measures`), NaN when there is none."""
    if face is None:
        return float("nan"), float("nan"), float("nan")
    lm = face.landmarks
    return mouth_opening(lm), eye_opening(lm), corner_lift(lm)


def add_expression(report: EvalReport, opens: list[tuple[float, ...]]) -> None:
    """Fill the report's expression-fidelity fields from per-frame (source mouth, eye, lift, output mouth,
    eye, lift) readings."""
    if not opens:
        return
    sm, se, sl, om, oe, ol = np.asarray(opens, np.float64).T
    scores = scores_from_openings(sm, se, om, oe, sl, ol)
    for key in ("mouth_corr", "eye_corr", "smile_corr", "mouth_error", "eye_error", "blink_agreement"):
        setattr(report, key, float(getattr(scores, key)))
    report.openings = scores.per_frame


def _mean_finite(values: list[float]) -> float:
    """Mean over frame pairs that had a face region in both frames (what `metrics.flicker` averages)."""
    kept = [v for v in values if np.isfinite(v)]
    return float(np.mean(kept)) if kept else float("nan")
