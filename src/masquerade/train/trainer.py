"""`train(faceset_a, faceset_b, model_dir, config)`: the training stage as a plain function.

Refuses bad settings and unsafe paths before any work (`preflight`), creates or resumes a model folder from
its newest intact snapshot (`snapshots`), checks the face sets fit it, then loops: sample → augment → step,
with the divergence guard (`guard`) checking every step, progress reports, periodic previews/metrics and
snapshots. Around that: held-out faces scored at each preview and `report.html` (`monitor`), the automatic
training plan moved on by those scores (`plan`), balanced sampling (`sampling`) and warm starts (`warmstart`).
`should_stop()` (Ctrl-C in the CLI) saves and returns cleanly. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import ModelMismatchError
from ..faces.expression_reference import MIRRORED, baseline, measures, neutral_baseline
from ..models import build_model, make_config, resolve_device, saved_config
from ..models.store import SNAPSHOTS, weights_bytes, sha256_hex
from ..records import ProgressFn, no_progress
from ..scope import env_defaults, torch_threads
from . import distributed
from .augment import AugmentSettings, apply, draw, sample_indices
from .autotune import CANDIDATES, fastest_cpu_precision
from .checkpoint import TrainingState
from .config import Precision, TrainConfig, TrainResult, lr_at, resolve_precision
from .data import FaceBank, check_compatible, load_bank
from .guard import GOOD_EVERY, Guard
from .monitor import held_out_scores, make_plan, make_validator, observe, write_report
from .preflight import model_writer, preflight
from .preview import MetricsLog, preview_grid, write_preview
from .sampling import weighted_indices
from .snapshots import Resumed, restore, resume_point, save_snapshot, sweep
from .step import StepRunner
from .warmstart import WarmStart, apply_warm_start, load_warm_start, source_settings


def _inductor_env(config: TrainConfig) -> dict[str, str]:
    """Keep inductor's compiled kernels between runs (the first compile costs 10-20 s); it reads the folder
    from the environment when it compiles, inside the run."""
    return {"TORCHINDUCTOR_CACHE_DIR": str(Path.home() / ".cache" / "masquerade" / "inductor")} if config.compile else {}


def _settings(config: TrainConfig, saved: dict[str, Any] | None) -> tuple[str, Any]:
    """Architecture name and config: the saved model's (a different --model is refused) or a new one."""
    if saved is not None:
        name = saved["architecture"]
        if config.model not in (None, name):
            raise ModelMismatchError(
                f"this model folder holds a {name!r} model, not {config.model!r}; train into a new folder to switch"
            )
        return name, saved_config(name, saved["arch_config"])
    name, options = config.model or "original", config.model_options
    if config.model is None and config.init_from:  # a warm start takes the source's architecture and settings
        name, base = source_settings(config.init_from)
        options = {**base, **options}
    try:
        return name, make_config(name, options)
    except ValueError as e:
        raise ModelMismatchError(str(e)) from None


def _record(saved: dict[str, Any] | None, key: str, fid: str) -> list[str]:
    seen = list((saved or {}).get("facesets", {}).get(key, []))
    return seen if fid in seen else seen + [fid]


def train(
    faceset_a: str | os.PathLike[str] | Any,
    faceset_b: str | os.PathLike[str] | Any,
    model_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    progress: ProgressFn = no_progress,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train (or resume) a face-swap model on face sets A and B; see the module doc.

    Under torchrun every process calls this; they train one model together (see `distributed`), with
    `batch_size` faces per identity per process, and rank 0 alone writes files and reports progress.
    """
    config = config or TrainConfig()
    model_dir = Path(model_dir)
    fs_a, fs_b = preflight(faceset_a, faceset_b, model_dir, config)
    with model_writer(model_dir, "train", distributed.env_ranks().main):
        return _checked_train(fs_a, fs_b, model_dir, config, progress, should_stop)


def _checked_train(fs_a, fs_b, model_dir: Path, config: TrainConfig, progress: ProgressFn,
                   should_stop: Callable[[], bool] | None) -> TrainResult:
    """`train` once this process holds the model folder: the checks that need the saved model, then the run."""
    resumed = resume_point(model_dir)
    saved = resumed.snapshot.manifest if resumed else None
    name, arch = _settings(config, saved)
    check_compatible(fs_a.manifest, fs_b.manifest, arch.size, saved)
    warm, notes = None, []
    if config.init_from and resumed:
        notes.append(f"--init-from {config.init_from} was ignored: {model_dir} already holds a model (step "
                     f"{resumed.snapshot.step}), which resumes from its own weights")
    elif config.init_from:
        warm = load_warm_start(config.init_from, name, arch, config.init_decoders)
        notes += [warm.note] if warm.note else []
    notes += _nod_reading_note(saved, arch, config)
    ranks, device = distributed.setup(resolve_device(config.device))
    try:
        with torch_threads(config.threads), env_defaults(_inductor_env(config)):  # this run's, given back after
            result = _train(fs_a, fs_b, model_dir, config, resumed, name, arch, ranks, device,
                            progress if ranks.main else no_progress, should_stop, warm)
    except BaseException:
        distributed.teardown(ranks, wait=False)  # never wait on ranks that may be gone; torchrun stops them
        raise
    distributed.teardown(ranks)  # rank 0's last checkpoint is written before any rank returns
    return dataclasses.replace(result, notes=tuple(notes) + result.notes)


def _train(fs_a, fs_b, model_dir: Path, config: TrainConfig, resumed: Resumed | None, name: str, arch,
           ranks: distributed.Ranks, device: torch.device, progress: ProgressFn,
           should_stop: Callable[[], bool] | None, warm: WarmStart | None = None) -> TrainResult:
    saved = resumed.snapshot.manifest if resumed else None
    if ranks.main:  # `snapshots/` first: from now on the folder reads as a model folder, even if killed
        (model_dir / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
        sweep(model_dir)
    mask_minutes = _mask_first(fs_a, fs_b, model_dir, config, progress, should_stop) if ranks.main else 0.0
    distributed.barrier(ranks)  # the mask net is saved before any rank reads it for the training faces

    batch = config.batch_size or type(arch).default_batch_size
    precision = _precision(config, device, saved, ranks, name, arch, batch)
    channels_last = precision.channels_last if config.channels_last is None else config.channels_last
    base_lr = config.lr or type(arch).default_lr
    schedule = config.lr_schedule or type(arch).default_schedule
    warmup = type(arch).default_warmup_steps if config.warmup_steps is None else config.warmup_steps

    with torch.random.fork_rng(devices=[]):  # seeded init (net and critic) without touching the global RNG
        torch.manual_seed(config.seed)
        net = build_model(name, arch)
        if warm is not None:
            apply_warm_start(net, warm)
        net = net.to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        net.train()
        runner = StepRunner(net, config, device, precision, channels_last, ranks)
    gen = torch.Generator().manual_seed(config.seed)
    state = TrainingState(net, runner.opt, gen, runner.disc, runner.opt_d)
    meta = restore(resumed, state) if resumed else {}
    step = resumed.snapshot.step if resumed else 0
    guard = Guard(state, step, meta.get("lr_scale", 1.0))
    distributed.barrier(ranks)  # every rank has read the snapshot before rank 0 may write the next one

    validator = make_validator(fs_a, fs_b, arch.size, config, device, ranks.main)
    train_a, train_b = (validator.train_sets["a"], validator.train_sets["b"]) if validator else (fs_a, fs_b)
    bank_a, bank_b = (load_bank(fs, arch.size, device, config.balance, config.turn > 0, config.blink > 0) for fs in (train_a, train_b))
    if config.occluders:  # hands and objects over training faces are left out of the losses (train/visible.py)
        from .visible import visible_maps

        for bank in (bank_a, bank_b):
            bank.pixels = torch.cat([bank.pixels, visible_maps(bank.pixels[:, :3], bank.pixels[:, 3:4], model_dir)
                                     .to(bank.pixels.device)], 1)
    if not resumed and getattr(net, "expression", None) is not None:  # each person's usual face, kept in the weights
        # (the nod read alike for both people when the turn shows each decoder its person at other tilts)
        fit = neutral_baseline if net.expression.version == 2 else baseline  # the neutral face, or the usual one
        for side, bank in (("a", bank_a), ("b", bank_b)):
            net.expression.set_baseline(side, fit(bank.measures.cpu().numpy(),
                                                  absolute_pitch=_nod_reading(saved, config) == "absolute"))
    plan, plan_note = make_plan(config, validator, meta)
    manifest = {
        "architecture": name, "arch_config": dataclasses.asdict(arch),
        "size": arch.size, "template": fs_a.manifest.get("template"), "coverage": fs_a.manifest.get("coverage"),
        "facesets": {"a": _record(saved, "a", str(fs_a.manifest.get("id"))), "b": _record(saved, "b", str(fs_b.manifest.get("id")))},
        "train_config": config.to_json(), "precision": precision.label, "nod_reading": _nod_reading(saved, config),
        "expression_code": getattr(getattr(net, "expression", None), "version", None),
        "init_from": warm.record() if warm else (saved or {}).get("init_from"),
        # crop side of each face set: convert cuts its input faces at this size, as the face set cache did
        "faceset_size": {"a": int(fs_a.manifest.get("size", arch.size)), "b": int(fs_b.manifest.get("size", arch.size))},
    }
    metrics = MetricsLog(model_dir / "metrics.jsonl")
    if ranks.main:
        (model_dir / "previews").mkdir(exist_ok=True)
        metrics.truncate_after(step)
        if plan is not None and not meta.get("plan"):
            metrics.write(plan.start_event(step))
    k = config.preview_faces
    fixed = (bank_a.pixels[:k, :3].float() / 255, bank_b.pixels[:k, :3].float() / 255,
             bank_a.measures[:k], bank_b.measures[:k])
    def aug() -> AugmentSettings:  # the plan's phase turns the warp off (never on against --no-warp)
        return AugmentSettings(flip=config.flip, warp=config.warp and (plan is None or plan.phase.warp), turn=config.turn,
                               blink=config.blink)

    start_step, stopped, last_preview = step, False, None
    stats: dict[str, float] = {"loss_a": float("nan"), "loss_b": float("nan")}
    t0 = t_log = time.perf_counter()
    log_step = step
    digest = (saved or {}).get("weights_sha256", "")
    on_disk = (step, guard.lr_scale) if resumed and resumed.full else None  # what the newest snapshot holds

    spent = None if config.minutes is None else 0.0  # share of --minutes used, the same on every rank
    minutes = None if config.minutes is None else max(config.minutes - mask_minutes, 1e-3)  # the mask net's is spent

    def budget_used(step: int) -> float | None:  # share of --steps / --minutes spent (the larger), None: unbounded
        shares = ([step / config.steps] if config.steps else []) + ([spent] if spent is not None else [])
        return max(shares) if shares else None

    def lr_now(step: int) -> float:
        return lr_at(step, base_lr, schedule, warmup, config.steps) * guard.lr_scale

    def save(step: int) -> str:
        extra = {"lr_scale": guard.lr_scale, **({"plan": plan.to_json()} if plan else {})}
        return save_snapshot(model_dir, state, step, manifest, config.keep, extra)

    def roll_back(bad_step: int, reason: str) -> int:
        good = guard.rollback(bad_step, reason)
        if ranks.main:
            metrics.write({"event": "rollback", "step": bad_step, "to_step": good, "reason": reason,
                           "lr": lr_now(good), "lr_scale": guard.lr_scale})
        return good

    def log_preview(step: int, now: float, lr: float, val: dict[str, float], events: list) -> Path:
        nonlocal t_log, log_step
        h = sha256_hex(weights_bytes(net))
        path = write_preview(model_dir / "previews" / f"step_{step:07d}.png", preview_grid(net, *fixed), h)
        window = 2 * batch * ranks.world * (step - log_step) / max(now - t_log, 1e-9)
        metrics.write({"step": step, **stats, "samples_per_s": round(window, 3), "lr": lr, **val})
        for event in events:  # plan switches: logged after the scores that caused them
            metrics.write(event)
        write_report(model_dir, metrics.path, path)
        t_log, log_step = time.perf_counter(), step
        return path

    while config.steps is None or step < config.steps:
        clock = 0.0 if spent is None else (time.perf_counter() - t0) / (60 * minutes)
        asked, clock = distributed.max_over_ranks([float(should_stop is not None and should_stop()), clock], ranks)
        if asked:  # Ctrl-C, the UI's stop: every rank ends at the same step
            stopped = True
            break
        if spent is not None:
            spent = clock  # one clock for all ranks: they agree on when to end and on the plan
            if spent >= 1.0:
                break
        lr = lr_now(step)
        a = _sample(bank_a, batch, gen, aug(), ranks, device)
        b = _sample(bank_b, batch, gen, aug(), ranks, device)
        gan_on = plan.phase.gan if plan is not None else step >= config.gan_warmup
        dropout = config.seed * 1_000_003 + step if plan is not None and plan.phase.lr_dropout else None
        new = runner.step(a, b, lr, gan_on=gan_on, dropout_seed=dropout)
        step += 1
        reason = guard.check(step, new)
        if reason:  # every rank sees the same (rank-averaged) losses, so all roll back together
            step = log_step = roll_back(step, reason)
            continue
        stats = new
        now = time.perf_counter()
        rate = 2 * batch * ranks.world * (step - start_step) / max(now - t0, 1e-9)
        progress("train", step, config.steps, {**stats, "samples_per_s": rate, "lr": lr})
        at_save = bool(config.save_every) and step % config.save_every == 0
        at_good = at_save or step % GOOD_EVERY == 0 or step == config.steps
        at_preview = bool(config.preview_every) and step % config.preview_every == 0
        if (at_good or at_preview) and not guard.weights_finite():  # a finite loss, then an update that
            step = log_step = roll_back(step, f"weights became non-finite by step {step}")  # overflowed the weights
            continue  # (never kept as good, never drawn in a preview or scored)
        if at_good:
            guard.remember(step)
        if at_preview:  # every rank scores: the plan needs them all
            val = held_out_scores(validator, net, step, config.preview_every, ranks.main)
            events = observe(plan, step, val, ranks, budget_used(step))
            if ranks.main:
                last_preview = log_preview(step, now, lr, val, events)
        if at_save and ranks.main:
            digest, on_disk = save(step), (step, guard.lr_scale)
    if not guard.weights_finite():  # stopped right after an update that overflowed: end on the last good state
        step = roll_back(step, f"weights became non-finite by step {step}")
    if ranks.main:
        if config.preview_every and step > log_step:  # a stopped or short run still leaves its latest preview
            val = held_out_scores(validator, net, step, config.preview_every)
            last_preview = log_preview(step, time.perf_counter(), lr_now(step - 1), val, [])
        if on_disk != (step, guard.lr_scale):
            digest = save(step)
    elapsed = time.perf_counter() - t0
    return TrainResult(
        model_dir=model_dir, step=step, steps_run=step - start_step, loss_a=stats["loss_a"], loss_b=stats["loss_b"],
        samples_per_second=2 * batch * ranks.world * (step - start_step) / max(elapsed, 1e-9), stopped=stopped,
        weights_hash=digest, last_preview=last_preview, world_size=ranks.world, precision=precision.label,
        notes=_notes(resumed, guard) + ((plan_note,) if plan_note else ()), rollbacks=guard.rollbacks, lr_scale=guard.lr_scale,
    )


def _notes(resumed: Resumed | None, guard: Guard) -> tuple[str, ...]:
    notes = [resumed.note] if resumed and resumed.note else []
    if guard.rollbacks:
        notes.append(f"training went bad {guard.rollbacks} time(s) and was rolled back to the last good state "
                     f"(see the rollback lines in metrics.jsonl); the learning rate is now {guard.lr_scale:g}x the "
                     "scheduled one")
    return tuple(notes)


def _mask_first(fs_a, fs_b, model_dir: Path, config: TrainConfig, progress: ProgressFn,
                should_stop: Callable[[], bool] | None = None) -> float:
    """Train the occlusion mask net on both face sets before the swap model, unless it is off (`mask_minutes`
    0) or the folder has one already (`occlusion.needs_training`); returns the minutes it took (out of
    `--minutes`)."""
    import json

    from ..models.occlusion import find_mask_net
    from .occlusion import mask_budget, needs_training, train_mask_net

    mask_config = mask_budget(config.minutes, config.steps, config.mask_minutes)
    found = find_mask_net(model_dir)
    if mask_config is None or not needs_training(None if found is None else json.loads(found.read_text()), mask_config):
        return 0.0
    mask_config.seed, mask_config.device, mask_config.threads = config.seed, config.device, config.threads
    return train_mask_net([fs_a, fs_b], model_dir, mask_config, progress, should_stop).seconds / 60  # Ctrl-C stops it too


def _nod_reading_note(saved: dict[str, Any] | None, arch, config: TrainConfig) -> list[str]:
    """A model's nod reading is fitted once, when it is created (against a typical face with the turn, against
    each person's usual tilt without it) and lives in its weights; switching the turn on a resume cannot change
    it, so say so rather than let the user believe it did."""
    if saved is None or not getattr(arch, "expression", 0):
        return []
    was = _nod_reading(saved, config) == "absolute"
    if was == (config.turn > 0):
        return []
    reading = "against a typical face (it was created with the turn)" if was else "against each person's usual tilt"
    return [f"the turn is now {'on' if config.turn > 0 else 'off'}, but this model keeps reading the nod as it was "
            f"created, {reading}; only the augmentation changes. Start a new model folder to change the reading"]


def _nod_reading(saved: dict[str, Any] | None, config: TrainConfig) -> str:
    """How the model's expression code reads the nod: chosen at creation, recorded in the manifest, kept by
    every resume. Models saved before the record read it relative to each person (the only reading then)."""
    if saved is not None:
        return str(saved.get("nod_reading", "relative"))
    return "absolute" if config.turn > 0 else "relative"


def _precision(config: TrainConfig, device: torch.device, saved: dict[str, Any] | None,
               ranks: distributed.Ranks, name: str, arch, batch: int) -> Precision:
    """The step's precision. `auto` on a CPU with native bf16 times the `AUTO_CANDIDATES` (fp32 today) once
    per model folder (see `autotune`) and keeps the choice, so a resumed run computes exactly as before."""
    plan = resolve_precision(config.precision, device)
    if config.precision != "auto" or plan == Precision() or device.type != "cpu" or ranks.enabled:
        return plan  # several ranks must agree: they keep the default rather than each timing its own
    recorded = (saved or {}).get("precision")
    for candidate in CANDIDATES:
        if candidate.label == recorded:
            return candidate
    return fastest_cpu_precision(lambda: build_model(name, arch), config, arch.size, batch)[0]


def _sample(bank: FaceBank, batch: int, gen: torch.Generator, aug: AugmentSettings, ranks: distributed.Ranks,
            device: torch.device):
    """This rank's slice of a global batch: every rank draws the whole batch's random numbers, so the
    generator stays in step across ranks and the union of the slices is what one process would train on."""
    total = batch * ranks.world
    rows = ranks.my_slice(batch)
    if bank.weights is not None:
        idx = weighted_indices(bank.weights, total, gen)[rows]
    else:
        idx = sample_indices(len(bank), total, gen)[rows]
    d = draw(gen, total, aug).part(rows)
    idx = idx.to(device)
    batch_out = apply(bank.pixels[idx], d, *(None if t is None else t[idx] for t in (bank.landmarks, bank.depth)))
    if bank.measures is not None:  # a flipped face turns its head (and its jaw) the other way
        if batch_out.landmarks is not None:  # a turned or blinking face shows other measures
            m = measures(batch_out.landmarks)  # on the device: no copy to the CPU and back
            m = torch.where(torch.isfinite(m), m, bank.measures[idx])
        else:
            m = bank.measures[idx].clone()
        m[:, list(MIRRORED)] *= d.flip.to(device)[:, None]
        batch_out.measures = m
    return batch_out
