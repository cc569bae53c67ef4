"""Training's housekeeping off the training thread: when each periodic chore is due (`Cadence`), and the one
background worker that does the slow part of it (`Housekeeper`).

Why: snapshots (serialising, hashing and fsyncing the weights and the optimiser), previews (PNG encoding,
watermark, signature) and the report's matplotlib curves ran on the training thread, every so many steps.
On a CPU that was a few per cent of a run; at GPU step rates a count of steps comes round many times a
second, and the device sat idle while the host wrote files. So the chores are scheduled by wall-clock
seconds unless the user gave a step count, and the training thread only takes a copy of what they need
(`checkpoint.copy_state`, the preview grid's pixels) and hands the rest to one worker thread.

What the worker promises:
- bounded: at most one job waits while one runs. A chore due by the clock while a job still waits is put
  off to a later check point (the caller asks `waiting` first); a chore due by a step count the user gave
  waits for the slot, so those counts stay exact.
- errors surface: a job that raises stops the worker, drops the job waiting behind it, and its exception
  is raised on the training thread at the next `check`, `submit` or `wait`. Nothing is swallowed.
- done when the run is: `wait` returns once every job handed over has finished, so a run's last snapshot
  and preview are on disk when `train` returns (and before it gives up the model folder's lock).
- no effect on training: a job reads only its copy, never a live tensor, and draws no random numbers.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..models.manifest import ModelManifest
from ..models.store import sha256_hex, weights_bytes
from .checkpoint import TrainingState
from .guard import CHECK_EVERY
from .monitor import write_report
from .preview import write_preview
from .snapshots import save_snapshot

Job = Callable[[], None]


# Largest share of the wall time a chore due by the clock may take on the training thread: a preview's held-out
# scores and grid took 1-2 s of the training thread on the loaded 2-core box (12-30 s with the identity distances,
# every fifth preview), so every 30 s would have cost 5-10% there; the next one then comes later instead. The
# share is of the mean cost of the last COST_WINDOW (so one costly preview does not stop them for long), and a
# chore is put off at most PUT_OFF_AT_MOST times its `seconds`.
CLOCK_SHARE = 0.025
COST_WINDOW = 5
PUT_OFF_AT_MOST = 10.0


@dataclass
class Cadence:
    """When one periodic chore (previews, snapshots) is due.

    `steps` given (the user's `--preview-every` / `--save-every`): at every multiple of it, exactly as
    before (0: never). Else every `seconds` of wall time (None: never), looked at only at the loop's check
    points (every `CHECK_EVERY` steps), where the host reads the losses anyway; and never sooner than the
    training thread's mean time for the last few makes `CLOCK_SHARE` of the gap (slow machines preview less
    often)."""

    steps: int | None
    seconds: float | None
    last: float  # the clock (time.perf_counter) when it was last done, or when the run started
    gap: float = 0.0  # the seconds to the next one when longer than `seconds` (the last ones were costly)
    costs: deque = field(default_factory=lambda: deque(maxlen=COST_WINDOW))  # the training thread's, per chore

    @property
    def by_clock(self) -> bool:
        return self.steps is None and self.seconds is not None

    def due(self, step: int, now: float) -> bool:
        if self.steps is not None:
            return self.steps > 0 and step % self.steps == 0
        return self.seconds is not None and step % CHECK_EVERY == 0 and now - self.last >= max(self.seconds, self.gap)

    def done(self, now: float, cost: float = 0.0) -> None:
        """Done at `now`, having taken the training thread `cost` seconds."""
        self.costs.append(cost)
        mean = sum(self.costs) / len(self.costs)
        self.last, self.gap = now, min(mean / CLOCK_SHARE, PUT_OFF_AT_MOST * (self.seconds or 0.0))


class Housekeeper:
    """One background thread that runs the jobs handed to it, in order, one at a time (see the module doc).
    Only the training thread hands jobs over; the thread starts with the first one."""

    def __init__(self, name: str = "masquerade-housekeeping"):
        self._name = name
        self._cond = threading.Condition()
        self._waiting: Job | None = None
        self._running = False
        self._error: BaseException | None = None
        self._reported = False
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> bool:
        """A job waits for the worker: a chore due by the clock is better put off than queued behind it."""
        with self._cond:
            return self._waiting is not None

    def submit(self, job: Job) -> None:
        """Hand `job` over; if one is waiting already, wait until the worker takes it (at most one waits).
        Raises a failed job's exception instead."""
        with self._cond:
            self._raise_failure()
            if self._closed:
                raise RuntimeError("the housekeeping worker was closed; no more jobs")
            while self._waiting is not None and self._error is None:
                self._cond.wait()
            self._raise_failure()
            self._waiting = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def check(self) -> None:
        """Raise a failed job's exception on the calling (training) thread."""
        with self._cond:
            self._raise_failure()

    def wait(self) -> None:
        """Return when every job handed over has finished; raise a failed job's exception."""
        with self._cond:
            while (self._waiting is not None or self._running) and self._error is None:
                self._cond.wait()
            self._raise_failure()

    def close(self) -> BaseException | None:
        """Let the jobs handed over finish, then end the thread. Raises nothing: returns a failure not yet
        raised (for a caller already leaving on an exception of its own), else None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            if self._error is not None and not self._reported:
                self._reported = True
                return self._error
        return None

    def _raise_failure(self) -> None:
        if self._error is not None:
            self._reported = True
            raise self._error

    def _serve(self) -> None:
        while True:
            with self._cond:
                while self._waiting is None and not self._closed:
                    self._cond.wait()
                if self._waiting is None:
                    return
                job, self._waiting, self._running = self._waiting, None, True
                self._cond.notify_all()
            try:
                job()
            except BaseException as error:  # noqa: BLE001 - handed to the training thread, never swallowed
                with self._cond:
                    self._error, self._waiting, self._running = error, None, False
                    self._cond.notify_all()
                return
            with self._cond:
                self._running = False
                self._cond.notify_all()


@dataclass
class Chores:
    """What one check point hands the worker, all of it copies: a snapshot to write (`copy_state`'s copy of
    the state at `step`) and/or a preview (the grid's pixels, signed with the hash of `weights`, a copy of
    the net's weights at that step), then the report. Calling it does the slow part; `digest` is then the
    snapshot's weights hash (the model hash the result reports)."""

    model_dir: Path
    metrics: Path
    step: int
    snapshot: TrainingState | None = None
    manifest: ModelManifest | None = None
    keep: int = 3
    extra: dict[str, Any] = field(default_factory=dict)
    preview: tuple[Path, np.ndarray] | None = None
    weights: Any = None  # an object with `state_dict()`: the weights the preview was drawn with
    digest: str | None = None

    @property
    def has_work(self) -> bool:
        return self.snapshot is not None or self.preview is not None

    def __call__(self) -> None:
        if self.snapshot is not None:
            self.digest = save_snapshot(self.model_dir, self.snapshot, self.step, self.manifest, self.keep, self.extra)
        if self.preview is not None:
            path, rgb = self.preview
            write_preview(path, rgb, self.digest or sha256_hex(weights_bytes(self.weights)))
            write_report(self.model_dir, self.metrics, path)
