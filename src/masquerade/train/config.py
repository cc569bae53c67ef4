"""Training settings (each declared once, with help and range: the CLI flags, the UI and `--config`'s [train]
table are generated from them) and the result record `train` returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MasqueradeError
from ..lazy import LazyModule
from ..options import check, opt, registry
from .plan import DETAIL_SHARE

torch = LazyModule("torch")  # imported on first use: `train --help` reads this module's options without it

PRECISIONS = ("auto", "fp32", "bf16", "bf16-math")
SCHEDULES = ("constant", "cosine")
PLANS = ("auto", "manual")
DEFAULT_SHARE = 0.05  # of each face set held out for validation (train.validation); the upscaler holds out the same


class TrainConfigError(MasqueradeError, ValueError):
    """A training setting is out of range or unknown (caught before any work is done)."""


@dataclass
class TrainConfig:
    """Settings for `train`. Fields left as None take the architecture's defaults (or the saved model's)."""

    model: str | None = opt(None, choices=registry("masquerade.models", "ARCHITECTURES"),
                            help="Architecture (one line each below). Default: the saved model's, else original.",
                            title="Model type", tip="Lite learns fastest; Original and HD draw finer faces but need hours. Only used for a new model.")
    model_options: dict[str, Any] = field(default_factory=dict)  # architecture settings, e.g. {"variant": "liae"} (--arch-option)
    batch_size: int | None = opt(None, low=1, help="Faces per identity per step (default: the architecture's).",
                                 title="Faces per step", tip="How many faces of each person one training step looks at. Leave empty for the model type's usual number.", group="Speed")
    steps: int | None = opt(None, low=1, help="Train until this total step count (default: until Ctrl-C).",
                            title="Training steps", tip="Stop after this many steps in all. Leave empty to train until you press Stop.")
    minutes: float | None = opt(None, above=0.0, help="Train for this many minutes (this run's wall clock; with --steps: whichever ends first). With a budget the automatic plan keeps its last " f"{DETAIL_SHARE:.0%}" " for training with the warp off.",
                                title="Minutes", tip="Stop after this many minutes. Leave empty to train until you press Stop.")
    lr: float | None = opt(None, above=0.0, help="Learning rate (default: the architecture's; 1e-4 for original).",
                           title="Learning rate", tip="How big each learning step is. Leave empty for the model type's usual rate.", group="Learning")
    lr_schedule: str | None = opt(None, choices=SCHEDULES, cli=False,
                                  help="constant, or cosine (decays to 5% at the last step); default: the architecture's.",
                                  title="Learning-rate schedule", tip="Keep the learning rate the same, or lower it gently towards the last step.", group="Learning")
    warmup_steps: int | None = opt(None, low=0, cli=False, label="--warmup-steps",
                                   help="Steps of linear learning-rate warm-up (default: the architecture's).",
                                   title="Warm-up steps", tip="Raise the learning rate slowly over this many first steps.", group="Learning")
    device: str = opt("auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps.", ui=False)
    precision: str = opt("auto", choices=PRECISIONS,
                         help="auto: fp32 on a CPU, bf16 autocast on a GPU with native bf16. bf16 and bf16-math are faster on "
                              "CPUs with native bf16, but bf16 does not resume bit-exactly and bf16-math learnt worse (docs/training.md).",
                         title="Number precision", tip="Auto picks arithmetic that trains well on this computer. Change it only to trade some accuracy for speed.", group="Speed")
    channels_last: bool | None = opt(None, cli=False, ui=False,
                                     help="Channels-last memory layout (default: on with bf16; it is slower in fp32 on a CPU).")
    compile: bool = opt(False, help="torch.compile the step (pays 10-60 s once; faster after; on CUDA also replayed as CUDA graphs).",
                        title="Prepare for speed", tip="Spend a little time once preparing the model, then train faster.", group="Speed")
    # Snapshots and previews follow the wall clock unless a step count is given (housekeeping.py says why). None
    # for `save_seconds` (Python callers only: no flag, TOML value or form gives it) = no periodic snapshots, just
    # the last one, for benches and tests whose runs are timed or thrown away.
    save_every: int | None = opt(None, low=1, help="Steps between snapshots (default: every --save-seconds instead); fewer steps lose less work to a crash but spend more time and disk writing them.",
                                 title="Save every (steps)", tip="How often progress is saved, in training steps. Leave empty to save every few minutes instead.", group="Saving and previews")
    save_seconds: float | None = opt(300.0, above=0.0, help="Seconds between snapshots when --save-every is not given; they are written in the background, and a crash loses at most this much training.",
                                     title="Save every (seconds)", tip="How often progress is saved, so a stopped training can go on later.", group="Saving and previews")
    keep: int = opt(3, low=1, help="Complete snapshots kept in the model folder (the newest N; older ones are pruned).",
                    title="Saved copies kept", tip="How many of the newest saved copies to keep; older ones are removed.", group="Saving and previews")
    preview_every: int | None = opt(None, low=0, help="Steps between preview PNGs and metrics lines (default: every --preview-seconds instead); 0 = none.",
                                    title="Preview every (steps)", tip="How often the preview pictures and the charts are updated, in training steps. Leave empty to update them every half minute.")
    preview_seconds: float = opt(30.0, above=0.0, help="Seconds between preview PNGs and metrics lines when --preview-every is not given.",
                                 title="Preview every (seconds)", tip="How often the preview pictures and the charts are updated.", group="Saving and previews")
    preview_faces: int = opt(4, low=1, cli=False, help="Faces per identity in each preview grid.",
                             title="Faces per preview", tip="How many faces of each person a preview shows.", group="Saving and previews")
    gan_weight: float = opt(0.0, low=0.0, help="Adversarial refinement weight (0 = off); a PatchGAN switches on after --gan-warmup steps.",
                            title="Detail strength", tip="A second network pushes the faces to look sharper once the model is good. 0 leaves it off.", group="Fine detail")
    gan_warmup: int = opt(2000, low=0, help="Steps before the discriminator switches on.",
                          title="Detail starts after (steps)", tip="The sharpening network joins in after this many steps.", group="Fine detail")
    ssim_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the SSIM loss.",
                             title="Shape weight", tip="How much matching shapes and edges counts.", group="What counts most")
    l1_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the L1 loss.",
                           title="Colour weight", tip="How much matching each pixel's colour counts.", group="What counts most")
    mask_weight: float = opt(1.0, low=0.0, cli=False, help="Weight of the learned mask's loss.",
                             title="Outline weight", tip="How much learning where the face ends counts.", group="What counts most")
    eye_mouth_weight: float = opt(3.0, low=0.0, cli=False, help="Loss multiplier inside the eye and mouth regions.",
                                  title="Eyes and mouth weight", tip="How many times more the eyes and mouth count than the rest of the face.", group="What counts most")
    background_weight: float = opt(0.25, low=0.0, cli=False, help="Loss weight outside the face mask (0 = face only).",
                                   title="Background weight", tip="How much the area around the face counts (0: the face only).", group="What counts most")
    warp: bool = opt(True, cli=False, help="Random warp augmentation (with --plan manual; the auto plan switches it).",
                     title="Random warping", tip="Bend the training faces at random so the model learns faces, not pictures. Used when the plan is manual.", group="Training faces")
    flip: bool = opt(True, cli=False, help="Random horizontal flips.",
                     title="Mirror faces", tip="Also train on mirror images of the faces.", group="Training faces")
    turn: float = opt(0.0, low=0.0, high=30.0, cli=False,
                      help="Turn training faces in 3-D by up to this many degrees (0 = off), so a target filmed without nodding can nod in the swap; it costs some likeness and eye movement (docs/training.md).",
                      title="Turn faces (degrees)", tip="For a person filmed without nodding: turn their faces a little so the swap can nod. 0 is off.", group="Training faces")
    blink: float = opt(0.0, low=0.0, high=1.0, cli=False,
                       help="Share of training faces whose eyes are closed by a random amount (a warp of that face's own pixels), for a target filmed without blinking. 0 = off.",
                       title="Closed eyes (share)", tip="For a person filmed without blinking: close the eyes on this share of their faces. 0 is off.", group="Training faces")
    hair_out: bool = opt(False, cli=False, help="Take hair that falls over the edge of training faces out of their masks, so the decoder's mask leaves it out and a swap onto a wider face shows no strands of it.",
                         title="Leave hair out", tip="For a person whose hair falls over their cheeks or forehead: keep it out of the swapped face.", group="Training faces")
    seed: int = opt(0, low=0, cli=False, help="Seed of the initial weights, the sampling and the augmentation.",
                    title="Random seed", tip="Change it to get a different run from the same settings.", group="Learning")
    threads: int | None = opt(None, low=1, cli=False, ui=False, help="torch CPU threads (default: torch's).")
    init_from: str | None = opt(None, ui=False, help="Start a NEW model from this trained model folder's shared encoder and bottleneck (same architecture and settings); ignored when resuming.")
    init_decoders: bool = opt(False, help="With --init-from: copy the decoders too (faster when the identities resemble the source model's).",
                              title="Copy the face drawers too", tip="When starting from another model, copy its face-drawing parts as well.", group="Learning")
    balance: bool = opt(True, flag="--balance/--no-balance", help="Draw faces balanced over head turn, mouth opening and eye state, so rare poses and expressions are not rendered as a blurred average.",
                        title="Balance poses and expressions", tip="Show rare head turns and expressions as often as common ones, so they are not drawn as a blur.", group="Training faces")
    plan: str = opt("auto", choices=PLANS, help="auto: the random warp first, then learning-rate dropout, the warp off and the GAN (with --gan-weight), each phase once the held-out score levels off or the budget nears its end (docs/training.md). manual: the flags as given throughout.",
                    title="Training plan", tip="Automatic changes the training in phases whenever progress stalls. Manual keeps your settings for the whole run.", group="Learning")
    mask_minutes: float = opt(2.0, low=0.0, help="Minutes at most for training the occlusion mask net (hands and objects in front of the face) before the swap model; with --minutes or --steps a tenth of that budget at most; skipped when the folder has a good one. 0 = off.",
                              title="Minutes for the hand-and-object finder", tip="Time spent first on learning to spot hands and objects in front of faces. 0 turns it off.", group="Hands and objects")
    occluders: bool = opt(True, flag="--occluders/--no-occluders", help="Leave pixels of training faces that a hand (MediaPipe) or the occlusion mask net says are covered out of the losses, so the decoder never learns to draw a hand into a face.",
                          title="Ignore hands on training faces", tip="Parts of training faces covered by a hand or an object are not learnt, so the model never draws a hand into a face.", group="Hands and objects")
    holdout: float = opt(DEFAULT_SHARE, low=0.0, high=0.5, help="Share of each face set held out of training (the same faces every run); their SSIM (training's Gaussian window), L1 and identity distance are logged and plotted in report.html. 0 = train on every face, no curves.",
                         title="Faces kept aside", tip="Share of each person's faces never trained on, used for the quality chart. 0 turns that chart off.", group="Training faces")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if out["init_from"] is not None:  # a Path from Python callers: the manifest is JSON
            out["init_from"] = str(out["init_from"])
        return out

    @property
    def previews(self) -> bool:
        """Whether the run writes previews (and metrics lines, and scores the held-out faces): all but
        `preview_every` 0."""
        return self.preview_every != 0

    def validate(self) -> None:
        """Refuse nonsense before any work (a run that trains 0 steps, NaN learning rates, ...): raises
        TrainConfigError naming the setting and what it accepts. `train` calls it first. Ranges and choices
        are the fields' declarations (`masquerade.options`)."""
        check(self, TrainConfigError)
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
    precision: str = "fp32"  # how the steps computed: fp32, bf16 or bf16-math (CPU), or bf16-autocast (GPU)
    notes: tuple[str, ...] = ()  # what the user should know: resumed from an older snapshot, rolled back, ...
    rollbacks: int = 0  # times the divergence guard rolled training back in this call (see guard.py)
    lr_scale: float = 1.0  # the guard's learning-rate multiplier now (halved at each rollback, kept on resume)


def batch_and_lr(config: TrainConfig, arch_class: type, device: "torch.device") -> tuple[int, float]:
    """The run's batch per side and base learning rate: the user's, else the architecture's defaults.

    On a CUDA GPU a batch left unset is the architecture's `gpu_batch_size`: at the CPU's batches a GPU step is
    thousands of tiny kernels and the device waits on their launches, while a larger batch costs it little
    more time per step. A learning rate left unset then grows with the square root of the batch's growth
    (Adam's rule: the noise of the gradient falls with the square root of the batch; linear scaling overshoots
    with adaptive optimisers). A batch or a rate the user gave is taken as given, unscaled, as before; a
    CPU (or MPS) run keeps the architecture's CPU defaults."""
    base_batch = int(arch_class.default_batch_size)
    gpu_batch = getattr(arch_class, "gpu_batch_size", None)
    if config.batch_size is not None:
        batch = config.batch_size
    else:
        batch = int(gpu_batch) if gpu_batch and device.type == "cuda" else base_batch
    if config.lr is not None:
        return batch, config.lr
    scale = math.sqrt(batch / base_batch) if config.batch_size is None else 1.0
    return batch, float(arch_class.default_lr) * scale


def lr_at(step: int, base: float, schedule: str, warmup: int, total: int | None) -> float:
    """Learning rate for 0-based `step`: linear warm-up, then constant or cosine down to 5% of `base`.

    A pure function of the step, so resuming needs no scheduler state. A time budget (`--minutes`) keeps the
    rate constant: a cosine over the minutes was measured worse in a 10-minute CPU run of `lite` on real faces
    (held-out SSIM at 64 px 0.825 / 0.867 vs 0.833 / 0.881 at a constant rate, the swap's mouth_corr 0.36 vs
    0.87): a model that far from converged still needs the full rate.
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
    """How a training step computes: fp32; bf16 autocast (GPUs); or, on CPUs with native bf16, either "bf16":
    weights and activations in bf16, channels-last, from fp32 master weights that the optimiser updates (the
    step casts them once; the loss runs in fp32), or "bf16 math": fp32 tensors whose convolutions and matmuls
    oneDNN computes in bf16.

    Why not autocast on the CPU: it casts per op, and back to fp32 wherever its lists say, so a tenth of the
    step went to casts. "bf16" casts each weight once per step and keeps activations in bf16 end to end, so
    it halves the memory traffic that bounds the small convolutions; "bf16 math" keeps fp32 traffic.
    Which is fastest depends on the machine (`autotune`).
    """

    autocast: torch.dtype | None = None
    cpu_bf16_math: bool = False
    cpu_bf16: bool = False

    @property
    def label(self) -> str:
        if self.autocast is not None:
            return "bf16-autocast"
        return "bf16" if self.cpu_bf16 else "bf16-math" if self.cpu_bf16_math else "fp32"

    @property
    def channels_last(self) -> bool:
        """The default layout: channels-last pays with bf16 kernels (in plain fp32 on a CPU it is slower)."""
        return self.autocast is not None or self.cpu_bf16_math or self.cpu_bf16


def native_bf16(device: torch.device) -> bool:
    """`models.inference_precision.native_bf16`, imported when asked (this module stays free of torch)."""
    from ..models.inference_precision import native_bf16 as native

    return native(device)


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """`auto` uses bf16 only where it is native: on a CPU without AVX512-BF16/AMX, bf16 matmuls are
    emulated and ~400× slower than fp32 (measured on the 2-core box). On a CPU `auto` means "bf16" here;
    training times it against the others first (`autotune`), except under DDP where ranks must agree."""
    if precision == "fp32":
        return Precision()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto" and not native_bf16(device):
        return Precision()
    if device.type != "cpu":
        return Precision(autocast=torch.bfloat16)
    return Precision(cpu_bf16_math=True) if precision == "bf16-math" else Precision(cpu_bf16=True)
