"""`train_mask_net`: teach the occlusion mask net (models/occlusion.py) which pixels of a crop are visible face.

No hand labels: the user's own face sets are the data. The landmark hull of each aligned crop is the face;
synthetic occluders (`train/occluders.py`: hands and arms in skin tones from the face sets, rods, glasses
frames, hair strands, textured objects cut from the frames' backgrounds and from package images) are pasted
over it with soft edges, blur and shadows, and wherever they cover is not face. A share of faces stays clean
so the net learns to keep a whole face whole. Occluders are drawn fresh each step on the CPU (about 1 ms a
face at 128 px), so the net never sees the same picture twice.

Loss: binary cross-entropy, weighted up along the truth's edges (`EDGE_WEIGHT`), plus a soft Dice term on
the visible face (Dice keeps thin occluders like rods and strands from being drowned by the many easy
pixels). A deterministic share of the faces (`validation.split_faceset`) is held out; at the end the net's
IoU against the truth is measured on them with a fixed set of occluders of the training families and
written into the mask's JSON.

`masquerade train` runs this first, for `mask_budget` of its time, so training faces can already be masked
by it (train/visible.py); `masquerade train-mask` runs it on its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models.manifest import MaskNetManifest
from ..models.occlusion import MaskNet, MaskNetConfig, save_mask_net
from ..models.store import resolve_device
from ..records import ProgressFn, no_progress
from ..scope import torch_threads
from .data import open_faceset
from .occluders import TRAIN_FAMILIES, Palette, occlude, palette_from_faces
from .occlusion_config import BUDGET_SHARE, DEFAULT_MINUTES, MaskTrainConfig
from .upscaler import UpscalerResult as MaskResult  # the same record: the JSON's path, steps, seconds, scores
from .upscaler import stop_rule
from .validation import FaceSubset, split_faceset


@dataclass
class MaskData:
    """Faces for the mask net: uint8 N×S×S×3 crops and N×S×S hulls, plus the palette drawn from them."""

    faces: np.ndarray
    hulls: np.ndarray
    palette: Palette


def mask_data(tensors: Sequence[Any]) -> MaskData:
    faces = np.concatenate([t.faces.permute(0, 2, 3, 1).numpy() for t in tensors])
    hulls = np.concatenate([t.masks[:, 0].numpy() for t in tensors])
    return MaskData(faces, hulls, palette_from_faces(faces, hulls))


def synth_batch(data: MaskData, idx: Sequence[int], rng: np.random.Generator, families: dict = TRAIN_FAMILIES,
                clean_share: float = 0.2, max_occluders: int = 2, flip: bool = True, degrade: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs N×4×S×S: image + hull, visible-face truth N×1×S×S), float [0, 1]: faces `idx` with fresh
    occluders."""
    images, truths = [], []
    for i in idx:
        face = data.faces[i].astype(np.float32) / 255
        hull = data.hulls[i].astype(np.float32) / 255
        if flip and rng.random() < 0.5:
            face, hull = face[:, ::-1], hull[:, ::-1]
        if rng.random() < clean_share:
            img, visible = face, (hull > 0.5).astype(np.float32)
        else:
            img, visible, _ = occlude(face, hull, families, rng, data.palette, int(rng.integers(1, max_occluders + 1)))
        if degrade:
            img = footage_like(img, rng)
        images.append(np.concatenate([img, hull[..., None]], axis=2))
        truths.append(np.ascontiguousarray(visible))
    x = torch.from_numpy(np.stack(images).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    return x, torch.from_numpy(np.stack(truths))[:, None]


def footage_like(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop (occluders and all) as other footage would give it: on half the faces, the resolution of a
    small face (down to 20-100 px and back up), and a random exposure, contrast and colour cast.

    Why: without it a net trained on one clip's sharp 256 px crops took the soft, upscaled 40-60 px faces of
    the real hand clips for an occluder and kept 2-5% of their hull."""
    import cv2

    s = img.shape[0]
    if rng.random() < 0.5:
        small = int(rng.integers(20, 100))
        if small < s:
            img = cv2.resize(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (s, s),
                             interpolation=cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC)
    gain = rng.uniform(0.7, 1.3) * rng.uniform(0.9, 1.1, 3)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.75, 1.25) + mean
    return np.clip(img * gain + rng.normal(0, 0.03), 0, 1).astype(np.float32)


EDGE_WEIGHT = 4.0  # extra weight of the pixels within 2 px of an edge of the truth


def mask_loss(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, weighted up near the truth's edges, plus a soft Dice term.

    Why the edge weight: the pixels that decide whether a cup's handle, a bow's loops or the gaps between
    fingers come out are a thin band along the occluder's outline, a few % of the crop; at equal weight the
    net settled for blobby masks that spilled "face" over the rims of objects. On the held-out benchmark
    (1200 steps) it raised the object photos' pixels kept from 0.936 to 0.976 (docs/occlusion.md)."""
    edge = F.max_pool2d(truth, 5, 1, 2) + F.max_pool2d(-truth, 5, 1, 2)  # 1 within 2 px of an edge
    bce = (F.binary_cross_entropy_with_logits(logits, truth, reduction="none") * (1 + EDGE_WEIGHT * edge)).mean()
    p = torch.sigmoid(logits)
    inter = (p * truth).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + truth.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


def iou(pred: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor) -> float:
    """Intersection over union of two binary masks (>0.5); 1.0 when both are empty."""
    p, t = np.asarray(pred) > 0.5, np.asarray(truth) > 0.5
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0


@torch.no_grad()
def held_out_iou(net: MaskNet, data: MaskData, device: torch.device, families: dict = TRAIN_FAMILIES,
                 seed: int = 1234, repeats: int = 1) -> dict[str, float]:
    """Mean IoU of the net's mask against the truth on `data`'s faces, per family (fixed occluders), and the
    share of the hull kept on clean faces."""
    if len(data.faces) == 0:
        return {}
    net.eval()
    out: dict[str, float] = {"faces": float(len(data.faces))}
    idx = [i for i in range(len(data.faces)) for _ in range(repeats)]
    for name, draw in families.items():
        x, truth = synth_batch(data, idx, np.random.default_rng(seed), {name: draw}, clean_share=0.0,
                               max_occluders=1, flip=False, degrade=False)
        p = torch.cat([torch.sigmoid(net(b.to(device))).cpu() for b in x.split(32)])
        out[f"iou_{name}"] = round(float(np.mean([iou(a, b) for a, b in zip(p, truth)])), 4)
    x = torch.from_numpy(data.faces).permute(0, 3, 1, 2).float() / 255
    hull_in = torch.from_numpy(data.hulls).float()[:, None] / 255
    x, hull = torch.cat([x, hull_in], 1), hull_in > 0.5
    p = torch.cat([torch.sigmoid(net(b.to(device))).cpu() for b in x.split(32)]) > 0.5
    out["hull_kept_clean"] = round(float((p & hull).sum() / hull.sum().clamp_min(1)), 4)
    return out


def train_mask_net(facesets: Sequence[Any], out_dir: str | Path, config: MaskTrainConfig | None = None,
                   progress: ProgressFn = no_progress, should_stop: Callable[[], bool] | None = None) -> MaskResult:
    """Train the mask net on `facesets` (paths or open face sets) and save it into `out_dir/occlusion/`."""
    cfg = config or MaskTrainConfig()
    should_stop = stop_rule(cfg.steps, cfg.minutes, should_stop)
    sets = [open_faceset(f) for f in facesets]
    device = resolve_device(cfg.device)
    with torch_threads(cfg.threads):
        return _train(sets, out_dir, cfg, device, progress, should_stop)


def _train(sets, out_dir, cfg: MaskTrainConfig, device: torch.device, progress: ProgressFn,
           should_stop: Callable[[], bool] | None) -> MaskResult:
    splits = [split_faceset(fs, cfg.holdout) for fs in sets]
    train = mask_data([FaceSubset(fs, sp.train).load_tensors(cfg.size) for fs, sp in zip(sets, splits)])
    held = mask_data([FaceSubset(fs, sp.held).load_tensors(cfg.size) for fs, sp in zip(sets, splits)])
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = MaskNet(MaskNetConfig(size=cfg.size, **cfg.arch)).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    t0, step, stopped = time.perf_counter(), 0, False
    while cfg.steps is None or step < cfg.steps:
        if should_stop is not None and should_stop():
            stopped = True
            break
        idx = rng.integers(0, len(train.faces), cfg.batch_size)
        x, truth = synth_batch(train, idx, rng, TRAIN_FAMILIES, cfg.clean_share, cfg.max_occluders)
        lr = cfg.lr * min(1.0, (step + 1) / 20)
        if cfg.steps:
            lr *= 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = mask_loss(net(x.to(device)), truth.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        progress("train-mask", step, cfg.steps, {"loss": float(loss.detach()), "lr": lr})
    metrics = held_out_iou(net, held, device)
    net.train(False)
    record = MaskNetManifest(
        config={}, facesets=[{k: fs.manifest.get(k) for k in ("id", "template", "coverage", "size", "count")} for fs in sets],
        steps=step, seconds=round(time.perf_counter() - t0, 1), held_out=metrics, families=sorted(TRAIN_FAMILIES),
        train_config=cfg.to_json())
    path = save_mask_net(out_dir, net.cpu(), record)
    return MaskResult(path, step, time.perf_counter() - t0, metrics, stopped)


def mask_budget(minutes: float | None, steps: int | None, mask_minutes: float) -> MaskTrainConfig | None:
    """The mask net's share of a `masquerade train` run, or None for no mask training (`mask_minutes` 0).

    Its share is BUDGET_SHARE of the run's budget: of `--minutes` (never more than `mask_minutes`) and of
    `--steps` (at least one step), so a short run stays short and a long one is not starved."""
    if mask_minutes <= 0:
        return None
    share = min(mask_minutes, BUDGET_SHARE * minutes) if minutes is not None else mask_minutes
    return MaskTrainConfig(minutes=share, steps=None if steps is None else max(1, math.ceil(BUDGET_SHARE * steps)))


def needs_training(manifest: MaskNetManifest | None, budget: MaskTrainConfig) -> bool:
    """Whether `masquerade train` should (re)train the mask net: there is none, or the one there measured poorly
    (`models.occlusion.trusted`) after a run bounded by a quarter or less of the steps this one allows (the
    demo's short calibration run, then its main run). A net that measured well is kept."""
    from ..models.occlusion import trusted

    if manifest is None:
        return True
    if trusted(manifest):
        return False
    before = (manifest.train_config or {}).get("steps")
    return before is not None and (budget.steps is None or budget.steps >= 4 * before)  # not again for a bit more


def train_model_mask(facesets: Sequence[Any], model_dir: str | Path, config: MaskTrainConfig | None = None,
                     progress: ProgressFn = no_progress,
                     should_stop: Callable[[], bool] | None = None) -> MaskResult:
    """`masquerade train-mask`: train the mask net beside the swap model in `model_dir`, on its face sets.

    The face sets must be aligned as the model's were (template and coverage): the net learns where a face
    sits in the crop."""
    from ..errors import MasqueradeError
    from ..models.store import read_manifest
    from ..options import check

    cfg = config or MaskTrainConfig()
    check(cfg, MasqueradeError)
    if cfg.steps is None and cfg.minutes is None and should_stop is None:
        cfg.minutes = DEFAULT_MINUTES
    manifest = read_manifest(Path(model_dir))  # ModelError: not a model folder
    sets = [open_faceset(f) for f in facesets]
    for fs in sets:
        manifest.check_aligned_like(fs.manifest)
    return train_mask_net(sets, model_dir, cfg, progress, should_stop)
