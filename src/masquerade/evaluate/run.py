"""Stage: measure a swap model the way the face-swap literature does (FaceForensics++ protocol, adapted).

Converts the source video with the model, then compares output and input frame by frame: identity
(face-recognition embedding), head pose, expression, temporal flicker and watermark decoding; plus the
reconstruction quality of both decoders on faces held out from training.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..convert import ConvertConfig, convert
from ..faces import create_detector
from ..faces.masks import hull_mask
from ..faceset import FaceSet
from ..media import probe, read_frames
from ..records import ProgressFn, no_progress
from . import metrics
from .identity import IdentityScores, faceset_identity, identity_scores, mean_identity


@dataclass
class EvalReport:
    frames: int = 0
    frames_with_face: int = 0
    identity: dict = field(default_factory=dict)
    pose_error_deg: dict = field(default_factory=dict)  # mean |Δ| yaw, pitch, roll, swapped vs source
    expression_error: float = float("nan")  # inter-ocular units
    flicker_output: float = float("nan")
    flicker_input: float = float("nan")
    flicker_delta: float = float("nan")  # output minus input: > 0 means the swap adds flicker
    watermark_frames_ok: float = float("nan")  # share of output frames whose watermark decodes correctly
    reconstruction: dict = field(default_factory=dict)  # {"a": {"ssim":..,"psnr":..,"faces":..}, "b": ...}
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def reconstruction(model, faceset: FaceSet, identity: str, indices: list[int]) -> dict:
    """SSIM / PSNR of X→X on the given faces of a face set (inside the crop, at the model's size)."""
    import cv2
    import torch

    s = int(model.config.size)
    crops = [cv2.resize(faceset.crop(i), (s, s), interpolation=cv2.INTER_AREA) for i in indices]
    if not crops:
        return {"ssim": float("nan"), "psnr": float("nan"), "faces": 0}
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    faces, _ = model.swap(batch, f"{identity}2{identity}")
    out = (faces.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return {"ssim": float(np.mean([metrics.ssim(a, b) for a, b in zip(crops, out)])),
            "psnr": float(np.mean([metrics.psnr(a, b) for a, b in zip(crops, out)])), "faces": len(crops)}


def evaluate(model_dir, source: str | Path, target_faces: str | Path, direction: str = "a2b",
             max_frames: int | None = None, progress: ProgressFn = no_progress,
             output: str | Path | None = None, holdout: dict[str, str | Path] | None = None) -> EvalReport:
    """Convert `source` with the model and measure the result against it and the target identity.

    `holdout` names face sets the model never trained on ({"a": ..., "b": ...}) for the reconstruction
    scores; without it, reconstruction is measured on the target face set (training data, so optimistic).
    """
    from ..faces.identity import IdentityEmbedder
    from ..models import load_model
    from ..provenance import watermark

    started = time.perf_counter()
    model = load_model(model_dir) if isinstance(model_dir, (str, Path)) else model_dir  # a folder or a loaded model
    target = FaceSet.open(target_faces)
    report = EvalReport()
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(output) if output else Path(tmp) / "swapped.mp4"
        convert(source, model, out_path, ConvertConfig(direction=direction), progress=progress)
        info = probe(source)
        detector = create_detector(video=False)
        embedder = IdentityEmbedder()
        src_ids, swp_ids, poses, exprs = [], [], [], []
        inputs, outputs, regions, marks = [], [], [], []
        pairs = zip(read_frames(source), read_frames(out_path))
        for i, (fin, fout) in enumerate(pairs):
            if max_frames and i >= max_frames:
                break
            report.frames += 1
            mark = watermark.decode(fout.image)
            marks.append(mark.detected and mark.model_hash == model.hash[: len(mark.model_hash)])
            din, dout = detector.detect(fin.image), detector.detect(fout.image)
            region = np.zeros(fin.image.shape[:2], np.uint8)
            if din:
                region = hull_mask(din[0].landmarks, max(info.width, info.height))[: info.height, : info.width]
            inputs.append(fin.image)
            outputs.append(fout.image)
            regions.append(region)
            if not (din and dout):
                continue
            report.frames_with_face += 1
            a, b = max(din, key=lambda d: d.size), max(dout, key=lambda d: d.size)
            src_ids.append(embedder.embed(fin.image, a.box))
            swp_ids.append(embedder.embed(fout.image, b.box))
            w, h = info.width, info.height
            poses.append(metrics.angle_error(metrics.head_pose(b.landmarks, w, h), metrics.head_pose(a.landmarks, w, h)))
            exprs.append(metrics.expression_error(a.landmarks, b.landmarks))
            progress("evaluate", i + 1, info.frame_count, {"faces": report.frames_with_face})
        detector.close()
        if swp_ids:
            scores: IdentityScores = identity_scores(swp_ids, faceset_identity(embedder, target), mean_identity(src_ids))
            report.identity = asdict(scores)
            pe = np.nanmean(np.stack(poses), axis=0)
            report.pose_error_deg = {"yaw": float(pe[0]), "pitch": float(pe[1]), "roll": float(pe[2])}
            report.expression_error = float(np.mean(exprs))
        report.flicker_input = metrics.flicker(inputs, regions)
        report.flicker_output = metrics.flicker(outputs, regions)
        report.flicker_delta = report.flicker_output - report.flicker_input
        report.watermark_frames_ok = float(np.mean(marks)) if marks else float("nan")
    target_side = direction[-1]
    sets = {k: Path(v) for k, v in (holdout or {target_side: target_faces}).items()}
    for side, path in sets.items():
        faces = FaceSet.open(path)
        report.reconstruction[side] = {**reconstruction(model, faces, side, list(range(len(faces)))),
                                       "held_out": holdout is not None}
    report.seconds = time.perf_counter() - started
    return report
