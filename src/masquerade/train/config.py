"""Training settings (one field per CLI flag) and the result record `train` returns."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from ..errors import MasqueradeError

PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = ("constant", "cosine")
PLANS = ("auto", "manual")


class TrainConfigError(MasqueradeError, ValueError):
    """A training setting is out of range or unknown (caught before any work is done)."""


@dataclass
class TrainConfig:
    """Settings for `train`. Fields left as None take the architecture's defaults (or the saved model's)."""

    model: str | None = None  # architecture name; None = the saved model's, or "original" for a new one
    model_options: dict[str, Any] = field(default_factory=dict)  # architecture settings, e.g. {"variant": "liae"}
    batch_size: int | None = None  # faces per identity per step
    steps: int | None = None  # train until this total step count; None = until should_stop()
    lr: float | None = None
    lr_schedule: str | None = None  # "constant" | "cosine" (cosine decays to 5% at `steps`)
    warmup_steps: int | None = None
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto | fp32 | bf16 (auto: bf16 where the hardware does it natively)
    channels_last: bool | None = None  # None: on with bf16 (it is slower in fp32 on CPU)
    compile: bool = False  # torch.compile the forward + loss (first step pays 10-20 s on CPU)
    save_every: int = 1000  # steps between snapshots (0: only at the end)
    keep: int = 3  # snapshots kept in the model folder (newest first); older ones are deleted
    preview_every: int = 100  # steps between preview PNGs + metrics lines (0: never)
    preview_faces: int = 4
    gan_weight: float = 0.0  # adversarial refinement weight; 0 = off
    gan_warmup: int = 2000  # steps of plain reconstruction before the discriminator switches on
    ssim_weight: float = 1.0
    l1_weight: float = 1.0
    mask_weight: float = 1.0
    eye_mouth_weight: float = 3.0  # loss multiplier inside eye and mouth regions ("eye/mouth priority")
    background_weight: float = 0.25  # loss weight outside the face mask (0 = face only)
    warp: bool = True
    flip: bool = True
    seed: int = 0
    threads: int | None = None  # torch CPU threads; None = leave torch's default
    init_from: str | None = None  # a trained model folder whose shared encoder + bottleneck a NEW model starts from
    init_decoders: bool = False  # with init_from: copy the decoders too
    balance: bool = True  # draw faces balanced over head yaw, mouth opening and eye state (see sampling.py)
    plan: str = "auto"  # auto: phases moved on by the held-out curve (plan.py); manual: the flags above, fixed
    holdout: float = 0.05  # share of each face set held out for the val_* curves (0: train on all, no curves)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if out["init_from"] is not None:  # a Path from Python callers: the manifest is JSON
            out["init_from"] = str(out["init_from"])
        return out

    def validate(self) -> None:
        """Refuse nonsense before any work (a run that trains 0 steps, NaN learning rates, ...): raises
        TrainConfigError naming the setting and what it accepts. `train` calls it first."""
        from ..models import ARCHITECTURES

        def whole(name: str, low: int, optional: bool = False, hint: str = "") -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                flag = "--" + name.replace("_", "-")
                raise TrainConfigError(f"{flag} must be a whole number >= {low}, not {value!r}{hint}")

        def real(name: str, positive: bool, optional: bool = False) -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0 or (positive and value == 0):
                flag = "--" + name.replace("_", "-")
                raise TrainConfigError(f"{flag} must be a finite number {'> 0' if positive else '>= 0'}, not {value!r}")

        whole("steps", 1, optional=True, hint=" (the total step count to train to; leave it out to train until Ctrl-C)")
        whole("batch_size", 1, optional=True)
        whole("save_every", 0, hint=" (0 saves only at the end)")
        whole("preview_every", 0, hint=" (0 writes no previews)")
        whole("keep", 1, hint=" (snapshots kept in the model folder)")
        whole("preview_faces", 1)
        whole("warmup_steps", 0, optional=True)
        whole("gan_warmup", 0)
        whole("threads", 1, optional=True)
        whole("seed", 0)
        real("lr", positive=True, optional=True)
        for name in ("gan_weight", "ssim_weight", "l1_weight", "mask_weight", "eye_mouth_weight", "background_weight"):
            real(name, positive=False)
        real("holdout", positive=False)
        if self.holdout > 0.5:
            raise TrainConfigError(f"--holdout must be at most 0.5 (the share of faces kept out of training), not {self.holdout!r}")
        if self.plan not in PLANS:
            raise TrainConfigError(f"--plan must be one of {', '.join(PLANS)}, not {self.plan!r}")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.lr_schedule is not None and self.lr_schedule not in SCHEDULES:
            raise TrainConfigError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, not {self.lr_schedule!r}")
        if self.model is not None and self.model not in ARCHITECTURES:
            raise TrainConfigError(f"--model must be one of {', '.join(ARCHITECTURES)}, not {self.model!r}")
        if not isinstance(self.model_options, dict):
            raise TrainConfigError(f"model_options must be a mapping of setting names to values, not {self.model_options!r}")


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    step: int  # total steps the model has now been trained
    steps_run: int  # steps run by this call
    loss_a: float
    loss_b: float
    samples_per_second: float  # A+B faces per second over this call
    stopped: bool  # True when should_stop() ended the run early
    weights_hash: str  # sha256 of the newest snapshot's weights file (the model hash provenance records)
    last_preview: Path | None
    world_size: int = 1  # processes that trained together (torchrun); samples_per_second counts them all
    precision: str = "fp32"  # how the steps computed: fp32, bf16-math (CPU) or bf16-autocast (GPU)
    notes: tuple[str, ...] = ()  # what the user should know: resumed from an older snapshot, rolled back, ...
    rollbacks: int = 0  # times the divergence guard rolled training back in this call (see guard.py)
    lr_scale: float = 1.0  # the guard's learning-rate multiplier now (halved at each rollback, kept on resume)


def lr_at(step: int, base: float, schedule: str, warmup: int, total: int | None) -> float:
    """Learning rate for 0-based `step`: linear warm-up, then constant or cosine down to 5% of `base`.

    A pure function of the step, so resuming needs no scheduler state.
    """
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant" or total is None or total <= warmup:
        return base
    if schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', not {schedule!r}")
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass(frozen=True)
class Precision:
    """How a training step computes: fp32; bf16 autocast (GPUs); or, on CPUs with native bf16, fp32
    tensors whose convolutions and matmuls oneDNN computes in bf16 ("bf16 math").

    Why not autocast on the CPU: its per-layer casts of weights and activations cost a tenth of the step,
    and oneDNN's fp32-in/bf16-math kernels are faster still. Measured on the 2-core box, batch 16 per side:
    `original` 12.6 samples/s with autocast + channels-last, 17.7 with bf16 math; `lite` 119 vs 166.
    """

    autocast: torch.dtype | None = None
    cpu_bf16_math: bool = False

    @property
    def label(self) -> str:
        return "bf16-autocast" if self.autocast is not None else "bf16-math" if self.cpu_bf16_math else "fp32"

    @property
    def channels_last(self) -> bool:
        """The default layout: channels-last pays with bf16 kernels (in plain fp32 on a CPU it is slower)."""
        return self.autocast is not None or self.cpu_bf16_math


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """`auto` uses bf16 only where it is native: on a CPU without AVX512-BF16/AMX, bf16 matmuls are
    emulated and ~400× slower than fp32 (measured on the 2-core box)."""
    if precision == "fp32":
        return Precision()
    if precision not in ("auto", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    else:
        native = False
    if not (precision == "bf16" or native):
        return Precision()
    return Precision(cpu_bf16_math=True) if device.type == "cpu" else Precision(autocast=torch.bfloat16)


@contextmanager
def cpu_bf16_math(enabled: bool) -> Iterator[None]:
    """While inside, oneDNN computes fp32 convolutions and matmuls in bf16 (process-wide torch setting,
    restored on exit; the small depthwise convolutions of the SSIM loss stay in fp32)."""
    if not enabled:
        yield
        return
    conv, mm = torch.backends.mkldnn.conv, torch.backends.mkldnn.matmul
    saved = conv.fp32_precision, mm.fp32_precision
    conv.fp32_precision = mm.fp32_precision = "bf16"
    try:
        yield
    finally:
        conv.fp32_precision, mm.fp32_precision = saved
