"""The automatic training plan: the phases experts switch by hand, moved on when the held-out curve flattens.

DeepFaceLab's recipe, which its users follow by eye: train with the random warp on (the network learns the
identities), then with learning-rate dropout (finer minima without a lower rate), then with the warp off (the
decoder learns detail it could not see through the warp), and a GAN last when one is wanted. Each switch is
made when the previous phase has stopped paying, i.e. when the held-out error (any lower-is-better curve,
e.g. 1 - SSIM) has not improved by more than `min_improvement` (relative) over its last `patience`
evaluations, after at least `min_steps` steps in the phase. `max_steps` bounds a phase that never settles.

A run with a budget (`--steps` or `--minutes`) would otherwise spend all of a short budget in the first phase:
in 10 CPU minutes the held-out curve is still rising when time runs out, so the warp never came off and the
decoder never learned the detail that only unwarped faces show (measured: 1,955 steps, all of them warped). So
the final `detail_share` of a bounded run belongs to the detail phases (those with the warp off), split evenly
between them: when the budget's used share passes a detail phase's start, the plan jumps to it ("budget").
A phase the budget chose is only as good as that budget: a run resumed with a larger one (`--steps 1000`,
then `--steps 10000`; or new `--minutes`) goes back to where the plateaus had left it ("budget grew"), and the
budget takes it forward again at the new 70%. Plateau switches are never undone.
Measured on real faces (`bench/quality_real.py`, `lite`, 10 minutes, the warp off from step 1,500 of 1,981):
held-out SSIM at 64 px 0.867 / 0.905 (0.833 / 0.881 with the warp on throughout), and the swap still follows
the source (mouth_corr 0.90 vs 0.87, distance to the target 0.46 vs 0.47).

Pure: no torch, no files. `observe(step, error)` returns the events to log (dicts for metrics.jsonl); the
state round-trips through JSON so a resumed run continues the same plan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Phase:
    """What a phase changes in the training step."""

    name: str
    warp: bool = True
    lr_dropout: bool = False
    gan: bool = False


WARP = Phase("warp", warp=True)
LR_DROPOUT = Phase("lr_dropout", warp=True, lr_dropout=True)
NO_WARP = Phase("no_warp", warp=False, lr_dropout=True)
GAN = Phase("gan", warp=False, lr_dropout=True, gan=True)


def auto_phases(gan: bool) -> list[Phase]:
    """The automatic plan's phases, GAN last only when a GAN weight is set."""
    return [WARP, LR_DROPOUT, NO_WARP] + ([GAN] if gan else [])


def manual_phases(warp: bool = True, gan: bool = False) -> list[Phase]:
    """`--plan manual`: one phase with the user's flags for the whole run (GAN timing stays the user's)."""
    return [Phase("manual", warp=warp, gan=gan)]


DETAIL_SHARE = 0.3  # final share of a bounded run that the warp-off phases get at the latest (`--help` says it too)


@dataclass(frozen=True)
class PlanConfig:
    patience: int = 5  # evaluations without enough improvement that make a plateau
    min_improvement: float = 0.01  # relative drop of the best error that still counts as progress
    min_steps: int = 1000  # steps every phase runs before it may end
    max_steps: int | None = None  # steps after which a phase ends even without a plateau
    detail_share: float = DETAIL_SHARE


@dataclass
class PlanState:
    phase_index: int = 0
    phase_start: int = 0  # step at which the current phase began
    history: list[list[float]] = field(default_factory=list)  # [step, error] of the current phase
    finished: bool = False  # the last phase has reached its plateau
    budget_from: int | None = None  # phase the budget first moved the plan on from (None: it has not)


class TrainingPlan:
    def __init__(self, phases: list[Phase], config: PlanConfig = PlanConfig(), state: PlanState | None = None):
        if not phases:
            raise ValueError("a training plan needs at least one phase")
        if config.patience < 1:
            raise ValueError("patience must be at least 1 evaluation")
        if not 0.0 <= config.detail_share < 1.0:
            raise ValueError("detail_share must be in [0, 1)")
        self.phases, self.config = list(phases), config
        self.state = state or PlanState()

    @classmethod
    def auto(cls, gan: bool = False, config: PlanConfig = PlanConfig()) -> "TrainingPlan":
        return cls(auto_phases(gan), config)

    @property
    def phase(self) -> Phase:
        return self.phases[self.state.phase_index]

    @property
    def last_phase(self) -> bool:
        return self.state.phase_index == len(self.phases) - 1

    def start_event(self, step: int) -> dict[str, Any]:
        """The event that opens (or resumes) a run: which phase it trains in."""
        return self._event(step, {"reason": "start"})

    def improvement(self) -> float | None:
        """Relative drop of the best error over the last `patience` evaluations versus before them
        (None until the phase has more than `patience` evaluations)."""
        values = [v for _, v in self.state.history]
        k = self.config.patience
        if len(values) <= k:
            return None
        before, recent = min(values[:-k]), min(values[-k:])
        if before <= 0:
            return 0.0 if recent >= before else math.inf
        return (before - recent) / before

    def budget_phase(self, used: float | None) -> int | None:
        """The phase the budget's used share (0..1; None: unbounded run) calls for: the last detail phase
        (warp off) whose start it has passed, the detail phases sharing the final `detail_share` evenly in order;
        None before the first of them."""
        if used is None or not math.isfinite(used) or self.config.detail_share <= 0:
            return None
        detail = [i for i, p in enumerate(self.phases) if not p.warp]
        reached = None
        for j, index in enumerate(detail):
            if used >= 1.0 - self.config.detail_share * (len(detail) - j) / len(detail):
                reached = index
        return reached

    def observe(self, step: int, error: float, used: float | None = None) -> list[dict[str, Any]]:
        """Record a held-out evaluation (lower is better); return the plan events it triggers. `used` is the
        share of the run's budget spent so far (None when the run has no budget)."""
        if error is None or not math.isfinite(error):
            return []
        s = self.state
        s.history.append([float(step), float(error)])
        in_phase = step - s.phase_start
        measured = {"error": round(float(error), 6), "steps_in_phase": in_phase}
        wanted = self.budget_phase(used)
        if wanted is not None and wanted > s.phase_index:
            s.budget_from = s.phase_index if s.budget_from is None else s.budget_from
            return [self._switch(step, wanted, _budget_event(measured, used, "budget"))]
        if s.budget_from is not None and (wanted is None or wanted < s.phase_index):  # resumed with more budget
            back = s.budget_from if wanted is None else max(wanted, s.budget_from)
            s.budget_from = None if back == s.budget_from else s.budget_from
            s.finished = False
            return [self._switch(step, back, _budget_event(measured, used, "budget grew"))]
        if in_phase < self.config.min_steps:
            return []
        gain = self.improvement()
        plateau = gain is not None and gain < self.config.min_improvement
        too_long = self.config.max_steps is not None and in_phase >= self.config.max_steps
        if not (plateau or too_long):
            return []
        event = {**measured, "improvement": None if gain is None else round(gain, 6),
                 "reason": "plateau" if plateau else "max_steps"}
        if self.last_phase:
            if s.finished:
                return []
            s.finished = True
            return [self._event(step, {**event, "finished": True})]
        s.budget_from = None  # a plateau's switch is final: a larger budget never takes the plan back past it
        return [self._switch(step, s.phase_index + 1, event)]

    def _switch(self, step: int, index: int, event: dict[str, Any]) -> dict[str, Any]:
        """Move to phase `index` at `step`; the event that logs it."""
        s, previous = self.state, self.phase.name
        s.phase_index, s.phase_start, s.history = index, step, []
        return self._event(step, {**event, "previous": previous})

    def _event(self, step: int, fields: dict[str, Any]) -> dict[str, Any]:
        """A metrics.jsonl plan line: what happened at `step`, and the phase the plan is now in."""
        return {"step": step, "event": "plan", **fields, "phase": self.phase.name, **_flags(self.phase)}

    # -- persistence (saved with each checkpoint) --------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"phases": [asdict(p) for p in self.phases], "config": asdict(self.config), "state": asdict(self.state)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainingPlan":
        return cls([Phase(**p) for p in data["phases"]], PlanConfig(**data["config"]), PlanState(**data["state"]))


def _budget_event(measured: dict[str, Any], used: float | None, reason: str) -> dict[str, Any]:
    return {**measured, "improvement": None, "reason": reason,
            **({} if used is None else {"budget_used": round(float(used), 4)})}


def _flags(phase: Phase) -> dict[str, bool]:
    return {"warp": phase.warp, "lr_dropout": phase.lr_dropout, "gan": phase.gan}
