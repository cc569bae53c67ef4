"""`train_upscaler`: teach an identity upscaler (models/upscaler.py) that person's own face detail.

Training pairs come from the face set alone: each 256 px crop is the target, and the input is that crop
degraded the way a swap model's decoded face is degraded — area-downscaled to the model's size, blurred (a
decoder trained for minutes is soft), with sensor-like noise and JPEG-like blocking. A colour shift is
applied to input *and* target alike: the upscaler must keep whatever colour it is given (convert matches the
colour afterwards) instead of pulling every face towards this person's average tone.

When a trained swap model is at hand, `reconstruct` (e.g. the model's X→X render at its size) can replace
the synthetic degradation for a share of each batch (`config.decoder_share`): then the inputs carry the
decoder's own artefacts, which is exactly what convert will feed the upscaler.

The loss is L1 + SSIM, plus L1 on the high-pass (image minus its blur) so the net is paid for edges and
texture, not only for the mean; faces count fully, pixels outside the face mask a quarter. It trains on
random patches (default 96 px of the 256 px target) because the net is fully convolutional and a patch
costs a seventh of a face. A deterministic 5% of the faces (`validation.split_faceset`) is held out and
scored at the end against plain bicubic: SSIM and sharpness (variance of the Laplacian inside the face,
relative to the real crop's).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import FaceSetError
from ..faceset import FaceSetManifest
from ..models.store import resolve_device
from ..models.manifest import UpscalerManifest
from ..models.upscaler import IdentityUpscaler, UpscalerConfig, save_upscaler
from ..records import ProgressFn, no_progress
from ..scope import torch_threads
from .data import open_faceset
from .degrade import degrade_pair
from .preflight import model_writer
from .losses import gaussian_blur, ssim_map
from .upscaler_config import Degradation, UpscalerTrainConfig  # noqa: F401 - Degradation: part of this module's API
from .validation import FaceSubset, split_faceset


@dataclass(frozen=True)
class UpscalerResult:
    path: Path  # the upscaler's JSON
    steps: int
    seconds: float
    metrics: dict[str, float]
    stopped: bool
    notes: tuple[str, ...] = ()  # e.g. the model's newest snapshot was damaged and an older one's settings were read


def stop_rule(steps: int | None, minutes: float | None,
              should_stop: Callable[[], bool] | None) -> Callable[[], bool] | None:
    """`should_stop` that also ends the run after `minutes` of wall clock; refuses a run nothing would end."""
    if steps is None and minutes is None and should_stop is None:
        raise ValueError("give config.steps, config.minutes or should_stop, or training never ends")
    if minutes is None:
        return should_stop
    deadline = time.monotonic() + 60 * minutes
    return lambda: bool((should_stop is not None and should_stop()) or time.monotonic() > deadline)


# -- loss and scores -----------------------------------------------------------------------------------
def high_pass(x: torch.Tensor) -> torch.Tensor:
    return x - gaussian_blur(x, 9, 1.5)


def upscaler_loss(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cfg: UpscalerTrainConfig) -> torch.Tensor:
    weight = mask + cfg.background_weight * (1 - mask)
    norm = 3 * weight.sum().clamp_min(1.0)
    loss = cfg.l1_weight * (weight * (out - target).abs()).sum() / norm
    if cfg.ssim_weight:
        loss = loss + cfg.ssim_weight * (weight * (1 - ssim_map(out, target)) / 2).sum() / norm
    if cfg.hf_weight:
        loss = loss + cfg.hf_weight * (weight * (high_pass(out) - high_pass(target)).abs()).sum() / norm
    return loss


def sharpness(images: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Variance of the Laplacian of the grey image inside the mask, per image (0..255 scale)."""
    import cv2

    out = []
    for img, m in zip(images, masks):
        grey = cv2.cvtColor((img.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy(), cv2.COLOR_RGB2GRAY)
        lap = cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F)
        inside = m[0].numpy() > 0.5
        out.append(float(lap[inside].var()) if inside.any() else float("nan"))
    return np.array(out)


@torch.no_grad()
def compare_to_bicubic(up: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, targets: torch.Tensor,
                       masks: torch.Tensor) -> dict[str, float]:
    """Held-out scores of the upscaler and of bicubic on the same inputs (float CPU tensors in [0, 1])."""
    from .validation import image_scores, resize

    size = targets.shape[-1]
    ours = torch.cat([up(p).float().clamp(0, 1).cpu() for p in inputs.split(16)])
    bicubic = resize(inputs, size)
    real = sharpness(targets, masks)
    out: dict[str, float] = {"faces": float(len(inputs))}
    for name, img in (("upscaled", ours), ("bicubic", bicubic)):
        s = image_scores(img, targets, masks)
        out.update({f"{k}_{name}": round(v, 5) for k, v in s.items()})
        out[f"sharpness_{name}"] = round(float(np.nanmean(sharpness(img, masks) / real)), 4)
    return out


# -- training ------------------------------------------------------------------------------------------
def _patches(lr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor, patch: int, gen: torch.Generator):
    size, small = hr.shape[-1], lr.shape[-1]
    if not patch or patch >= size:
        return lr, hr, mask
    f = size // small
    step = 4  # patch corners on a 4 px grid: whole input pixels, and aligned with the net's unshuffle grid
    n = hr.shape[0]
    ys = (torch.randint(0, (size - patch) // step + 1, (n,), generator=gen) * step).tolist()
    xs = (torch.randint(0, (size - patch) // step + 1, (n,), generator=gen) * step).tolist()
    p = patch // f
    return (torch.stack([lr[i, :, y // f:y // f + p, x // f:x // f + p] for i, (y, x) in enumerate(zip(ys, xs))]),
            torch.stack([hr[i, :, y:y + patch, x:x + patch] for i, (y, x) in enumerate(zip(ys, xs))]),
            torch.stack([mask[i, :, y:y + patch, x:x + patch] for i, (y, x) in enumerate(zip(ys, xs))]))


def train_upscaler(faceset: Any, out_dir: str | Path, side: str, in_size: int,
                   config: UpscalerTrainConfig | None = None, progress: ProgressFn = no_progress,
                   should_stop: Callable[[], bool] | None = None,
                   reconstruct: Callable[[torch.Tensor], torch.Tensor] | None = None) -> UpscalerResult:
    """Train `side`'s upscaler (in_size → 256) on `faceset` and save it into `out_dir/upscalers/`.

    `reconstruct`: optional float N×3×s×s → N×3×s×s (a swap model's X→X render), see the module doc."""
    cfg = config or UpscalerTrainConfig()
    should_stop = stop_rule(cfg.steps, cfg.minutes, should_stop)
    fs = open_faceset(faceset)
    recorded = FaceSetManifest.of(fs)
    if recorded.size < cfg.out_size:
        raise FaceSetError(f"face set {recorded.id or '?'} has {recorded.size} px crops; the "
                           f"upscaler learns from {cfg.out_size} px crops: re-extract it with --size {cfg.out_size}")
    device = resolve_device(cfg.device)
    with torch_threads(cfg.threads):  # this run's thread count, given back when it ends
        return _train_upscaler(fs, out_dir, side, in_size, cfg, device, progress, should_stop, reconstruct)


def _train_upscaler(fs, out_dir: str | Path, side: str, in_size: int, cfg: UpscalerTrainConfig, device: torch.device,
                    progress: ProgressFn, should_stop: Callable[[], bool] | None,
                    reconstruct: Callable[[torch.Tensor], torch.Tensor] | None) -> UpscalerResult:
    split = split_faceset(fs, cfg.holdout)
    train_t = FaceSubset(fs, split.train).load_tensors(cfg.out_size)
    held_t = FaceSubset(fs, split.held).load_tensors(cfg.out_size)
    small_t = FaceSubset(fs, split.train).load_tensors(in_size) if reconstruct is not None else None
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = IdentityUpscaler(UpscalerConfig(in_size=in_size, out_size=cfg.out_size, **cfg.arch)).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    t0, step, stopped = time.perf_counter(), 0, False
    n_faces = len(train_t)
    while cfg.steps is None or step < cfg.steps:
        if should_stop is not None and should_stop():
            stopped = True
            break
        idx = torch.randint(0, n_faces, (cfg.batch_size,), generator=gen)
        hr, mask = train_t.faces[idx], train_t.masks[idx].float() / 255
        lr_in, target = degrade_pair(hr.to(device), in_size, gen, cfg.degradation)  # on the device, in batch
        if small_t is not None and cfg.decoder_share > 0:
            k = int(round(cfg.decoder_share * cfg.batch_size))
            with torch.no_grad():
                lr_in[:k] = reconstruct((small_t.faces[idx[:k]].float() / 255).to(device)).float().clamp(0, 1).cpu()
            target[:k] = hr[:k].float() / 255
        if cfg.flip:
            flip = torch.rand(cfg.batch_size, generator=gen) < 0.5
            lr_in[flip], target[flip], mask[flip] = lr_in[flip].flip(-1), target[flip].flip(-1), mask[flip].flip(-1)
        lr_in, target, mask = _patches(lr_in, target, mask, cfg.patch, gen)
        lr_now = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        if cfg.steps:
            lr_now *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / cfg.steps)))
        for g in opt.param_groups:
            g["lr"] = lr_now
        out = net(lr_in.to(device))
        loss = upscaler_loss(out, target.to(device), mask.to(device), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        progress("train-upscaler", step, cfg.steps, {"loss": float(loss.detach()), "lr": lr_now})
    net.eval()
    metrics = held_out_scores(net, held_t, in_size, cfg, device)
    faceset = {k: fs.manifest.get(k) for k in ("id", "template", "coverage", "size", "count")}
    record = UpscalerManifest(side, dataclasses.asdict(net.config), faceset=faceset, steps=step,
                              seconds=round(time.perf_counter() - t0, 1), held_out=metrics,
                              held_out_faces=len(split.held), train_config=cfg.to_json())
    path = save_upscaler(out_dir, net.cpu(), record)
    return UpscalerResult(path, step, time.perf_counter() - t0, metrics, stopped)


def held_out_scores(net: torch.nn.Module, held, in_size: int, cfg: UpscalerTrainConfig,
                    device: torch.device) -> dict[str, float]:
    """Upscaler vs bicubic on the held-out faces, degraded with a fixed generator (same every run)."""
    if len(held) == 0:
        return {}
    lr_in, target = degrade_pair(held.faces, in_size, torch.Generator().manual_seed(1234), cfg.degradation)
    masks = held.masks.float() / 255
    with torch.no_grad():
        return compare_to_bicubic(lambda x: net(x.to(device)).cpu(), lr_in, target, masks)


def train_model_upscaler(faceset: Any, model_dir: str | Path, side: str, config: UpscalerTrainConfig | None = None,
                         progress: ProgressFn = no_progress,
                         should_stop: Callable[[], bool] | None = None) -> UpscalerResult:
    """`masquerade train-upscaler`: train `side`'s upscaler beside the swap model in `model_dir`.

    The input size is the swap model's (what its decoder renders); the face set must be aligned as the model's
    were (same template and coverage), or the upscaler would learn faces framed differently from the ones
    convert gives it. Every value is checked before any work; `config.steps` and `config.minutes` both bound
    the run (neither: until `should_stop`)."""
    from ..errors import MasqueradeError
    from ..models.store import find_snapshot
    from ..options import check

    cfg = config or UpscalerTrainConfig()
    if side not in ("a", "b"):
        raise MasqueradeError(f"--side must be a or b (the identity whose face set this is), not {side!r}")
    check(cfg, MasqueradeError)
    if cfg.steps is None and cfg.minutes is None and should_stop is None:
        raise MasqueradeError("give --steps or --minutes (or stop with Ctrl-C)")
    snapshot = find_snapshot(Path(model_dir))  # ModelError: not a model folder
    manifest = snapshot.manifest
    fs = open_faceset(faceset)
    manifest.check_aligned_like(fs.manifest)
    with model_writer(Path(model_dir), "train-upscaler"):  # one writer per model folder, `train` included
        result = train_upscaler(fs, model_dir, side, manifest.size, cfg, progress, should_stop)
    return dataclasses.replace(result, notes=(snapshot.note,) if snapshot.note else ())
