"""`train(faceset_a, faceset_b, model_dir, config)`: the training stage as a plain function.

Refuses bad settings and unsafe paths before any work (`preflight`), creates or resumes a model folder from
its newest intact snapshot (`snapshots`), checks the face sets fit it (`model_setup`), then runs a
`TrainingRun`, which loops: sample and augment (`batches`) → step,
with the divergence guard (`guard`) checking every step (its losses read every `CHECK_EVERY` steps), progress reports, periodic previews/metrics and
snapshots, their slow part written by a background worker from copies (`housekeeping`). Around that: held-out faces scored at each preview and `report.html` (`monitor`), the automatic
training plan moved on by those scores (`plan`), balanced sampling (`sampling`) and warm starts (`warmstart`).
`should_stop()` (Ctrl-C in the CLI) saves and returns cleanly. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import ChainMap
from pathlib import Path
from typing import Any, Callable

import torch

from ..faces.expression_reference import baseline, neutral_baseline
from ..models import build_model, resolve_device
from ..faceset import FaceSetManifest
from ..models.manifest import ModelManifest
from ..models.store import SNAPSHOTS
from ..records import ProgressFn, no_progress
from ..scope import cuda_fast_math, env_defaults, torch_threads
from . import distributed
from .augment import AugmentSettings
from .autotune import training_precision
from .batches import sample_batch
from .checkpoint import TrainingState, copy_state, held_copy
from .config import TrainConfig, TrainResult, batch_and_lr, lr_at
from .data import check_compatible, load_bank
from .guard import CHECK_EVERY, GOOD_EVERY, Guard
from .housekeeping import Cadence, Chores, Housekeeper
from .lazy_stats import LazyStats, read_all
from .model_setup import architecture, inductor_env, nod_reading, nod_reading_note, seen_facesets, train_mask_first
from .monitor import held_out_scores, make_plan, make_validator, observe
from .preflight import model_writer, preflight
from .preview import MetricsLog, preview_grid
from .snapshots import Resumed, restore, resume_point, sweep
from .step import StepRunner
from .warmstart import WarmStart, apply_warm_start, load_warm_start


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
    name, arch = architecture(config, saved)
    check_compatible(fs_a.manifest, fs_b.manifest, arch.size, saved)
    warm, notes = None, []
    if config.init_from and resumed:
        notes.append(f"--init-from {config.init_from} was ignored: {model_dir} already holds a model (step "
                     f"{resumed.snapshot.step}), which resumes from its own weights")
    elif config.init_from:
        warm = load_warm_start(config.init_from, name, arch, config.init_decoders)
        notes += [warm.note] if warm.note else []
    notes += nod_reading_note(saved, arch, config)
    ranks, device = distributed.setup(resolve_device(config.device))
    try:
        with (torch_threads(config.threads), env_defaults(inductor_env(config)),  # this run's, given back after
              cuda_fast_math(device.type == "cuda")):
            result = TrainingRun(fs_a, fs_b, model_dir, config, resumed, name, arch, ranks, device,
                                 progress if ranks.main else no_progress, should_stop, warm).run()
    except BaseException:
        distributed.teardown(ranks, wait=False)  # never wait on ranks that may be gone; torchrun stops them
        raise
    distributed.teardown(ranks)  # rank 0's last checkpoint is written before any rank returns
    return dataclasses.replace(result, notes=tuple(notes) + result.notes)


class TrainingRun:
    """One training run once this process holds the model folder: set up from the face sets and the resume
    point, then `one_step` until the budget, the plan's end or a stop, with `housekeeping` after each step (the
    guard's checks and roll-back, the last good copy, previews, snapshots), then `finish`. Snapshots and
    previews are written by `keeper`, a background worker, from copies taken here.

    Why an object: the loop shares about fifteen pieces of state (the step, the guard, the plan, the last
    preview, what the newest snapshot holds, the rate window); as attributes each part is a small method
    that can be read, and the roll-back is written once (`roll_back`).
    """

    def __init__(self, fs_a, fs_b, model_dir: Path, config: TrainConfig, resumed: Resumed | None, name: str,
                 arch, ranks: distributed.Ranks, device: torch.device, progress: ProgressFn,
                 should_stop: Callable[[], bool] | None, warm: WarmStart | None = None):
        self.fs_a, self.fs_b, self.model_dir, self.config = fs_a, fs_b, model_dir, config
        self.resumed, self.name, self.arch, self.warm = resumed, name, arch, warm
        self.ranks, self.device, self.progress, self.should_stop = ranks, device, progress, should_stop
        self.saved = resumed.snapshot.manifest if resumed else None
        self.keeper = Housekeeper()  # writes snapshots, previews and the report off this thread

    # -- set-up ------------------------------------------------------------------------------------------
    def set_up(self) -> None:
        """Everything before the first step, in the order a resumed run must repeat exactly."""
        config, ranks, model_dir, resumed = self.config, self.ranks, self.model_dir, self.resumed
        if ranks.main:  # `snapshots/` first: from now on the folder reads as a model folder, even if killed
            (model_dir / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
            sweep(model_dir)
        mask_minutes = (train_mask_first(self.fs_a, self.fs_b, model_dir, config, self.progress, self.should_stop)
                        if ranks.main else 0.0)
        distributed.barrier(ranks)  # the mask net is saved before any rank reads it for the training faces
        self._set_up_schedule()
        self._build_net()
        meta = restore(resumed, self.state) if resumed else {}
        self.step = resumed.snapshot.step if resumed else 0
        self.guard = Guard(self.state, self.step, meta.get("lr_scale", 1.0))
        distributed.barrier(ranks)  # every rank has read the snapshot before rank 0 may write the next one
        self._load_faces()
        self.plan, self.plan_note = make_plan(config, self.validator, meta)
        self.manifest = self._manifest()
        self._open_logs(resumed_plan=bool(meta.get("plan")))
        self._start_clock(mask_minutes)

    def _open_logs(self, resumed_plan: bool) -> None:
        """metrics.jsonl cut back to the resumed step (a killed run's later lines go), the previews' folder and
        the faces every preview draws."""
        self.metrics = MetricsLog(self.model_dir / "metrics.jsonl")
        if self.ranks.main:
            (self.model_dir / "previews").mkdir(exist_ok=True)
            self.metrics.truncate_after(self.step)
            if self.plan is not None and not resumed_plan:
                self.metrics.write(self.plan.start_event(self.step))
        k = self.config.preview_faces
        self.fixed = (self.bank_a.pixels[:k, :3].float() / 255, self.bank_b.pixels[:k, :3].float() / 255,
                      self.bank_a.measures[:k], self.bank_b.measures[:k])

    def _start_clock(self, mask_minutes: float) -> None:
        """The counters the loop and the result read, from the resumed step and the snapshot on disk."""
        config, resumed = self.config, self.resumed
        self.start_step, self.stopped, self.last_preview = self.step, False, None
        self.stats: dict[str, float] = {"loss_a": float("nan"), "loss_b": float("nan")}
        self.unchecked: list[tuple[int, LazyStats]] = []  # steps run since the guard's last check, losses unread
        self.t0 = self.t_log = time.perf_counter()
        # housekeeping's share of the wall time: its seconds so far, and both clocks at the last metrics line
        self.hk_s, self.hk_started, self.hk_mark = 0.0, self.t0, (self.t0, 0.0)
        self.log_step = self.step  # where the rate window of the next preview starts
        # previews and snapshots: by the user's step counts, else by the clock (`housekeeping.Cadence`)
        self.previews = Cadence(config.preview_every, config.preview_seconds, self.t0)
        self.saves = Cadence(config.save_every, config.save_seconds, self.t0)
        self.previews_made, self.saved_by = 0, None  # previews this run; the newest snapshot's chores
        self.digest = (self.saved.weights_sha256 or "") if self.saved else ""
        self.on_disk = (self.step, self.guard.lr_scale) if resumed and resumed.full else None  # the newest snapshot
        self.spent = None if config.minutes is None else 0.0  # share of --minutes used, the same on every rank
        # the mask net's minutes are spent already
        self.minutes = None if config.minutes is None else max(config.minutes - mask_minutes, 1e-3)

    def _set_up_schedule(self) -> None:
        config, arch = self.config, self.arch
        self.batch, self.base_lr = batch_and_lr(config, type(arch), self.device)
        self.precision = training_precision(config, self.device, self.saved, self.ranks, self.name, arch, self.batch)
        self.channels_last = self.precision.channels_last if config.channels_last is None else config.channels_last
        self.schedule = config.lr_schedule or type(arch).default_schedule
        self.warmup = type(arch).default_warmup_steps if config.warmup_steps is None else config.warmup_steps

    def _build_net(self) -> None:
        """The net (seeded, warm-started), its step runner and the training state the snapshots hold."""
        config = self.config
        with torch.random.fork_rng(devices=[]):  # seeded init (net and critic) without touching the global RNG
            torch.manual_seed(config.seed)
            net = build_model(self.name, self.arch)
            if self.warm is not None:
                apply_warm_start(net, self.warm)
            net = net.to(self.device)
            if self.channels_last:
                net = net.to(memory_format=torch.channels_last)
            net.train()
            self.runner = StepRunner(net, config, self.device, self.precision, self.channels_last, self.ranks)
        self.net = net
        self.gen = torch.Generator().manual_seed(config.seed)
        self.state = TrainingState(net, self.runner.opt, self.gen, self.runner.disc, self.runner.opt_d)

    def _load_faces(self) -> None:
        """The held-out split, the training faces on the device (with their visible-face maps) and, for a new
        model with expression channels, each person's usual face kept in its weights."""
        config, arch, net = self.config, self.arch, self.net
        self.validator = make_validator(self.fs_a, self.fs_b, arch.size, config, self.device, self.ranks.main)
        v = self.validator
        train_a, train_b = (v.train_sets["a"], v.train_sets["b"]) if v else (self.fs_a, self.fs_b)
        self.bank_a, self.bank_b = (load_bank(fs, arch.size, self.device, config.balance, config.turn > 0,
                                              config.blink > 0, config.hair_out) for fs in (train_a, train_b))
        if config.occluders:  # hands and objects over training faces are left out of the losses (train/visible.py)
            from .visible import visible_maps

            for bank in (self.bank_a, self.bank_b):
                bank.pixels = torch.cat([bank.pixels, visible_maps(bank.pixels[:, :3], bank.pixels[:, 3:4],
                                                                   self.model_dir).to(bank.pixels.device)], 1)
        if not self.resumed and getattr(net, "expression", None) is not None:  # each person's usual face
            # (the nod read alike for both people when the turn shows each decoder its person at other tilts)
            fit = neutral_baseline if net.expression.version >= 2 else baseline  # the neutral face, or the usual one
            for side, bank in (("a", self.bank_a), ("b", self.bank_b)):
                net.expression.set_baseline(side, fit(bank.measures.cpu().numpy(),
                                                      absolute_pitch=nod_reading(self.saved, config) == "absolute"))
                net.expression.set_spread(side, bank.measures)  # version 3: how a swap carries a code across

    def _manifest(self) -> ModelManifest:
        """The model's manifest, written into every snapshot of this run (`save_snapshot` adds the step)."""
        fs_a, fs_b = (FaceSetManifest.of(fs) for fs in (self.fs_a, self.fs_b))
        arch, saved = self.arch, self.saved
        return ModelManifest.for_net(
            self.name, arch, fs_a.template, fs_a.coverage,
            facesets={side: seen_facesets(saved, side, fs.id) for side, fs in (("a", fs_a), ("b", fs_b))},
            # the batch and base learning rate the run used, defaults resolved (they depend on the device)
            train_config={**self.config.to_json(), "resolved": {"batch_size": self.batch, "lr": self.base_lr}},
            precision=self.precision.label,
            nod_reading=nod_reading(saved, self.config),
            expression_code=getattr(getattr(self.net, "expression", None), "version", None),
            init_from=self.warm.record() if self.warm else (saved.init_from if saved else None),
            # crop side of each face set: convert cuts its input faces at this size, as the face set cache did
            faceset_size={"a": fs_a.size, "b": fs_b.size},
        )

    # -- the loop ----------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """The run, and the background writer's end: whatever way the run ends, the worker finishes the jobs
        handed to it before this returns (the model folder's lock is held until then)."""
        try:
            self.set_up()
            while (self.config.steps is None or self.step < self.config.steps) and not self.should_end():
                self.one_step()
            self.finish()
        except BaseException as error:
            failed = self.keeper.close()
            if failed is not None and failed is not error:
                error.add_note(f"writing a snapshot or preview in the background had failed too: {failed!r}")
            raise
        self.keeper.close()
        return self.result()

    def should_end(self) -> bool:
        """A stop was asked for (Ctrl-C, the UI's stop) or --minutes ran out: every rank ends at the same step.

        Several ranks agree only every CHECK_EVERY steps: the agreement is an all-reduce and a host read."""
        if self.ranks.enabled and self.step % CHECK_EVERY:
            return False
        clock = 0.0 if self.spent is None else (time.perf_counter() - self.t0) / (60 * self.minutes)
        asked, clock = distributed.max_over_ranks([float(self.should_stop is not None and self.should_stop()),
                                                   clock], self.ranks)
        if asked:
            self.stopped = True
            return True
        if self.spent is not None:
            self.spent = clock  # one clock for all ranks: they agree on when to end and on the plan
            return self.spent >= 1.0
        return False

    def one_step(self) -> None:
        """Train one step on fresh batches, then check it (`housekeeping`)."""
        config, plan, step = self.config, self.plan, self.step
        lr = self.lr_at(step)
        aug = AugmentSettings(flip=config.flip, warp=config.warp and (plan is None or plan.phase.warp),
                              turn=config.turn, blink=config.blink)  # the plan's phase may turn the warp off
        a = sample_batch(self.bank_a, self.batch, self.gen, aug, self.ranks, self.device)
        b = sample_batch(self.bank_b, self.batch, self.gen, aug, self.ranks, self.device)
        gan_on = plan.phase.gan if plan is not None else step >= config.gan_warmup
        dropout = config.seed * 1_000_003 + step if plan is not None and plan.phase.lr_dropout else None
        new = self.runner.step(a, b, lr, gan_on=gan_on, dropout_seed=dropout)
        self.step += 1
        self.housekeeping(new, lr)

    def housekeeping(self, new: LazyStats, lr: float) -> None:
        """After a step: report it (its losses still on the device: `lazy_stats`). At a check point (every
        CHECK_EVERY steps, and before a good copy, a preview or a save) the guard checks every step since the
        last one, their losses read in one go, and rolls back to the last good state from the first bad one;
        then keep a good copy, preview and save when due (`due`), the files written in the background. Between
        check points nothing waits on the device."""
        config, step, ranks = self.config, self.step, self.ranks
        self.unchecked.append((step, new))
        now = time.perf_counter()
        rate = 2 * self.batch * ranks.world * (step - self.start_step) / max(now - self.t0, 1e-9)
        # a consumer that reads a loss reads the step's losses once; the check below then reuses them
        self.progress("train", step, config.steps, ChainMap({"samples_per_s": rate, "lr": lr}, new))
        at_preview, at_save = self.due(step, now)
        at_good = at_save or step % GOOD_EVERY == 0 or step == config.steps
        if not (at_good or at_preview or step % CHECK_EVERY == 0):
            return
        self.hk_started = time.perf_counter()
        try:
            self._check_point(step, now, lr, at_good, at_preview, at_save)
        finally:
            self.hk_s += time.perf_counter() - self.hk_started

    def due(self, step: int, now: float) -> list[bool]:
        """Whether a preview and a snapshot are due after `step`. One due by the clock waits while a job still
        waits for the worker (never a queue of them), and under DDP goes by rank 0's clock, so every rank
        previews (the plan needs all their scores) and keeps its good copy at the same steps."""
        cadences = (self.previews, self.saves)
        due = [c.due(step, now) for c in cadences]
        if step % CHECK_EVERY or not any(c.by_clock for c in cadences):
            return due
        clock_free = self.ranks.main and not self.keeper.waiting
        due = [d and (clock_free or not c.by_clock) for d, c in zip(due, cadences)]
        return [v > 0 for v in distributed.max_over_ranks([float(d) for d in due], self.ranks)]

    def _check_point(self, step: int, now: float, lr: float, at_good: bool, at_preview: bool, at_save: bool) -> None:
        """`housekeeping`'s part at a check point: the guard's check, then the good copy, and the copies a
        preview and a save need, handed to the background worker (whose failure is raised here)."""
        ranks = self.ranks
        self.keeper.check()
        if not self.check_unchecked():
            return
        if (at_good or at_preview) and not self.guard.weights_finite():  # a finite loss, then an update that
            return self.roll_back(f"weights became non-finite by step {step}")  # overflowed the weights (never
        if at_good:  # kept as good, never drawn in a preview or scored)
            self.guard.remember(step)
        chores = self.chores()
        if at_preview:  # every rank scores: the plan needs them all
            started = time.perf_counter()
            val = self.held_out(step, ranks.main)
            events = observe(self.plan, step, val, ranks, self.budget_used(step))
            if ranks.main:
                self.preview(chores, now, lr, val, events)
            self.previews.done(now, time.perf_counter() - started)  # a costly preview puts off the next
        if at_save:
            started = time.perf_counter()
            if ranks.main:
                self.save(chores)
            self.saves.done(now, time.perf_counter() - started)
        self.hand_over(chores)

    def check_unchecked(self) -> bool:
        """The guard's check of each step since the last check point, in order; False after rolling back
        from the first bad one (the steps after it ran on its state and are dropped with it). Every rank
        sees the same rank-averaged losses, so all roll back together."""
        pending, self.unchecked = self.unchecked, []
        read_all(stats for _, stats in pending)
        for step, stats in pending:
            reason = self.guard.check(step, stats)
            if reason:
                self.step = step  # the step that went bad: the rollback's record and strikes count from it
                self.roll_back(reason)
                return False
            self.stats = dict(stats)
        return True

    def roll_back(self, reason: str) -> None:
        """Back to the guard's last good state (a lower learning rate from now on), logged in metrics.jsonl."""
        bad_step = self.step
        good = self.guard.rollback(bad_step, reason)
        if self.ranks.main:
            self.metrics.write({"event": "rollback", "step": bad_step, "to_step": good, "reason": reason,
                                "lr": self.lr_at(good), "lr_scale": self.guard.lr_scale})
        self.step = self.log_step = good

    def finish(self) -> None:
        """End on a good state, with its preview and a snapshot of it (unless the newest one holds it)."""
        self.check_unchecked()  # a stop or the clock can end the run between check points
        if not self.guard.weights_finite():  # stopped right after an update that overflowed: the last good state
            log_step = self.log_step
            self.roll_back(f"weights became non-finite by step {self.step}")
            self.log_step = log_step  # the last preview's step: a good state newer than it still gets drawn
        self.hk_started = time.perf_counter()
        if self.ranks.main:
            chores = self.chores()
            if self.config.previews and self.step > self.log_step:  # a stopped or short run still leaves its
                self.preview(chores, time.perf_counter(), self.lr_at(self.step - 1), self.held_out(self.step), [])
            if self.on_disk != (self.step, self.guard.lr_scale):
                self.save(chores)
            self.hand_over(chores)
        self.keeper.wait()  # the last snapshot and preview are on disk before `train` returns
        if self.saved_by is not None:
            self.digest = self.saved_by.digest

    # -- the parts -----------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        return lr_at(step, self.base_lr, self.schedule, self.warmup, self.config.steps) * self.guard.lr_scale

    def budget_used(self, step: int) -> float | None:
        """Share of --steps / --minutes spent (the larger); None: unbounded."""
        shares = [step / self.config.steps] if self.config.steps else []
        shares += [self.spent] if self.spent is not None else []
        return max(shares) if shares else None

    def chores(self) -> Chores:
        """An empty job for the background worker, at this step."""
        return Chores(self.model_dir, self.metrics.path, self.step, manifest=self.manifest, keep=self.config.keep)

    def hand_over(self, chores: Chores) -> None:
        """Give `chores` to the background worker (a preview without a snapshot gets a copy of the weights
        for its signature's model hash; with one, the snapshot's hash serves)."""
        if chores.preview is not None and chores.snapshot is None:
            chores.weights = held_copy(self.net)
        if chores.has_work:
            self.keeper.submit(chores)

    def save(self, chores: Chores) -> None:
        """A copy of the training state (on its device) for `chores` to write as the snapshot of this step."""
        chores.extra = {"lr_scale": self.guard.lr_scale, **({"plan": self.plan.to_json()} if self.plan else {})}
        chores.snapshot = copy_state(self.state)
        self.on_disk, self.saved_by = (self.step, self.guard.lr_scale), chores

    def held_out(self, step: int, main: bool = True) -> dict[str, float]:
        """The held-out scores of this run's next preview (identity distances every few previews: by the
        user's step count as before, else by the previews made)."""
        self.previews_made += 1
        count = step // self.previews.steps if self.previews.steps else self.previews_made
        return held_out_scores(self.validator, self.net, count, main)

    def preview(self, chores: Chores, now: float, lr: float, val: dict[str, float], events: list) -> None:
        """The preview grid for `chores` to write (with a copy of the weights it was drawn with, for its
        signature, and the report after it), and a metrics line with the scores (the plan's switches after
        them), written here: it is one line, and the log must hold it before any later one."""
        step = self.step
        path = self.model_dir / "previews" / f"step_{step:07d}.png"
        chores.preview = (path, preview_grid(self.net, *self.fixed))
        window = 2 * self.batch * self.ranks.world * (step - self.log_step) / max(now - self.t_log, 1e-9)
        # wall and housekeeping seconds since the last metrics line, up to this check point (whose own cost
        # counts in the next line): their sums over a run give housekeeping's share of its wall time
        mark_t, mark_hk = self.hk_mark
        self.hk_mark = (self.hk_started, self.hk_s)
        self.metrics.write({"step": step, **self.stats, "samples_per_s": round(window, 3), "lr": lr, **val,
                            "wall_s": round(self.hk_started - mark_t, 3), "housekeeping_s": round(self.hk_s - mark_hk, 3)})
        for event in events:  # plan switches: logged after the scores that caused them
            self.metrics.write(event)
        self.t_log, self.log_step, self.last_preview = time.perf_counter(), step, path

    def result(self) -> TrainResult:
        step, ran, guard = self.step, self.step - self.start_step, self.guard
        elapsed = time.perf_counter() - self.t0
        return TrainResult(
            model_dir=self.model_dir, step=step, steps_run=ran, loss_a=self.stats["loss_a"],
            loss_b=self.stats["loss_b"], stopped=self.stopped,
            samples_per_second=2 * self.batch * self.ranks.world * ran / max(elapsed, 1e-9),
            weights_hash=self.digest, last_preview=self.last_preview, world_size=self.ranks.world,
            precision=self.precision.label, rollbacks=guard.rollbacks, lr_scale=guard.lr_scale,
            notes=_notes(self.resumed, guard) + ((self.plan_note,) if self.plan_note else ()),
        )


def _notes(resumed: Resumed | None, guard: Guard) -> tuple[str, ...]:
    notes = [resumed.note] if resumed and resumed.note else []
    if guard.rollbacks:
        notes.append(f"training went bad {guard.rollbacks} time(s) and was rolled back to the last good state "
                     f"(see the rollback lines in metrics.jsonl); the learning rate is now {guard.lr_scale:g}x the "
                     "scheduled one")
    return tuple(notes)
