"""The divergence guard: training that goes bad rolls itself back instead of saving NaN or a collapsed net.

Why: a NaN/inf loss (a bad batch, too high a learning rate) poisons every weight in one Adam step, and the
classic network at high learning rates "collapses" (the loss jumps to a plateau far above where it was and
the output turns into a blurred average face) without ever producing a NaN. Peers save such states and the
user finds out hours later. Here each step's losses are checked (by the loop, every `CHECK_EVERY` steps); on NaN/inf, or a loss above
`COLLAPSE_FACTOR` times the median of the recent ones, the live objects go back to the last good copy (kept
on the training device, refreshed at every save and every `GOOD_EVERY` steps after checking the weights are finite), the
learning rate is multiplied by `LR_FACTOR` (persisted in the snapshots, so a resume keeps it), and training
carries on. Failing `MAX_STRIKES` times without getting `CLEAN_STEPS` past the failing step is a ModelError.

The random generator goes back too, so the retry sees the same batches: a lower learning rate must get
through them, and a batch that is itself poisoned fails every retry and ends in that clear error.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any, Mapping

import torch

from ..errors import ModelError
from .checkpoint import TrainingState, clone_tree

COLLAPSE_FACTOR = 4.0  # a loss this many times the recent median counts as a collapse
WINDOW = 50  # recent losses the median is taken over
MIN_HISTORY = 20  # losses needed (after a start or a rollback) before collapses are judged
GOOD_EVERY = 100  # steps between in-memory copies of the last good state (also taken at every save)
# Steps between the training loop's checks (also made before every good copy, preview and save): reading the
# losses makes the host wait for the device, so they are read in one go every CHECK_EVERY steps. A bad step
# is found at most CHECK_EVERY - 1 steps late; the roll-back is the same, those steps are dropped with it.
CHECK_EVERY = 10
LR_FACTOR = 0.5
MAX_STRIKES = 5
CLEAN_STEPS = 50


class Guard:
    """Checks each step's losses and rolls the live training objects back when they go bad."""

    def __init__(self, state: TrainingState, step: int, lr_scale: float = 1.0):
        self.state = state
        self.lr_scale = float(lr_scale)
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.rollbacks = 0
        self.strikes = 0
        self.clean_after = 0
        self.remember(step)

    def check(self, step: int, stats: Mapping[str, float]) -> str | None:
        """Why the step that just ran went bad, or None (then its loss joins the recent history)."""
        bad = [k for k, v in stats.items() if not math.isfinite(v)]
        if bad:
            return f"{bad[0]} is {stats[bad[0]]} at step {step}"
        loss = stats["loss_a"] + stats["loss_b"]
        if len(self.recent) >= MIN_HISTORY:
            ref = statistics.median(self.recent)
            if loss > COLLAPSE_FACTOR * ref:
                return (f"loss {loss:.4g} at step {step} jumped above {COLLAPSE_FACTOR:g}x its recent level "
                        f"({ref:.4g}): the network collapsed")
        self.recent.append(loss)
        if self.strikes and step >= self.clean_after:
            self.strikes = 0
        return None

    def weights_finite(self) -> bool:
        """All weights (and the discriminator's) finite: checked before a state is kept or saved."""
        flags = [torch.isfinite(p).all() for m in self.state.modules() for p in m.parameters()]
        return bool(torch.stack(flags).all()) if flags else True

    def remember(self, step: int) -> None:
        """Keep the current state as the last good one (call only after `weights_finite`)."""
        s = self.state
        self.good_step = step
        self.good = {}  # drop the old copy first: never three copies of the weights at once
        self.good = {  # cloned where they lie: on a GPU a copy to the host every GOOD_EVERY steps made the step
            "net": clone_tree(s.net.state_dict()),  # wait for it, and unpinned it was a slow copy too
            "opt": clone_tree(s.opt.state_dict()),
            "gen": s.gen.get_state(),
            "disc": None if s.disc is None else clone_tree(s.disc.state_dict()),
            "opt_d": None if s.opt_d is None else clone_tree(s.opt_d.state_dict()),
            "recent": list(self.recent),
        }

    def rollback(self, step: int, reason: str) -> int:
        """Restore the last good state and lower the learning rate; returns the step to continue from."""
        self.strikes += 1
        if self.strikes > MAX_STRIKES:
            raise ModelError(
                f"training diverged {self.strikes} times in a row ({reason}), even at {self.lr_scale:g}x the "
                f"learning rate; lower --lr, check the face sets for broken images, or resume from an earlier "
                "snapshot"
            )
        self.rollbacks += 1
        self.clean_after = step + CLEAN_STEPS
        g, s = self.good, self.state
        s.net.load_state_dict(g["net"])
        s.opt.load_state_dict(clone_tree(g["opt"]))  # a copy: on their own device, Adam would adopt these very tensors
        s.gen.set_state(g["gen"])
        if s.disc is not None and g["disc"] is not None:
            s.disc.load_state_dict(g["disc"])
            s.opt_d.load_state_dict(clone_tree(g["opt_d"]))
        self.recent = deque(g["recent"], maxlen=WINDOW)
        self.lr_scale *= LR_FACTOR
        return self.good_step
