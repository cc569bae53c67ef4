"""The inside of a job's process (see `jobs` for why each job has one): the context a runner reports
through, and `run_job`, the process's body, which turns however the runner ended into one message."""

from __future__ import annotations

import faulthandler
import os
import signal
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import MasqueradeError

if TYPE_CHECKING:
    from .jobs import Job


class JobStopped(Exception):
    """Raised inside a running job (from its progress callback) when a stop was requested."""


class JobContext:
    """What a runner gets, inside its job's process: progress reporting, a stop flag, and a log.

    Everything it reports goes to the server over `conn`; when the server is gone (the pipe is broken or
    this process was orphaned) the job behaves as if asked to stop, so a training job still saves."""

    def __init__(self, job: Job, conn, stop, cooperative: Sequence[str]):
        self.job, self._conn, self._stop, self._cooperative = job, conn, stop, tuple(cooperative)
        self._send_lock = threading.Lock()  # a stage may report from several threads
        self._orphaned = False

    def should_stop(self) -> bool:
        return self._orphaned or self._stop.is_set()

    def progress(self, task: str, done: int, total: int | None, stats: Mapping[str, float]) -> None:
        """A `records.ProgressFn`; raises JobStopped so stages without a stop flag end at the next report."""
        self.send("progress", {"task": task, "done": int(done), "total": total,
                               "stats": {k: float(v) for k, v in stats.items()}})
        if self.should_stop() and self.job.kind not in self._cooperative:
            raise JobStopped()

    def log(self, line: str) -> None:
        self.send("log", str(line))

    def send(self, *message: Any) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, EOFError):  # the server is gone: nobody will read this job's record any more
            self._orphaned = True

    def watch_parent(self, parent: int) -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        self._orphaned = True  # the server died without ending this process


Runner = Callable[[dict[str, Any], JobContext], dict[str, Any] | None]


def run_job(runner: Runner, job_data: dict, conn, stop, cooperative: Sequence[str], fault_log: str) -> None:
    """The body of a job's process: run the runner, report how it ended as one ("end", ...) message."""
    from .jobs import DONE, FAILED, LOG_LINES, STOPPED, Job  # here: jobs imports this module

    parent = os.getppid()  # the server, or the fork server (which ends with the server)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's: it stops its jobs
    with open(fault_log, "w", encoding="utf-8") as fault:
        faulthandler.enable(fault)  # a crash in native code leaves its Python stack here for the job's log
        job = Job.from_dict(job_data)
        ctx = JobContext(job, conn, stop, cooperative)
        ctx.send("started")  # the runner arrived: a failure from here on is reported, not only printed
        threading.Thread(target=ctx.watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
        status, result, error, lines = DONE, None, None, []
        try:
            result = runner(job.params, ctx)
            if ctx.should_stop():
                status = STOPPED
        except JobStopped:
            status = STOPPED
        except MasqueradeError as exc:  # a user mistake: one line, no traceback
            status, error = FAILED, " ".join(str(exc).split())
        except BaseException as exc:  # a bug: one line here, the traceback in the job's log (Jobs tab)
            status, error = FAILED, " ".join(f"{type(exc).__name__}: {exc}".split())
            lines = traceback.format_exc().splitlines()[-LOG_LINES // 2:]
        try:
            ctx.send("end", status, result, error, lines)
        except Exception as exc:  # a result that cannot be sent (not picklable): a bug of the runner
            ctx.send("end", FAILED, None, f"the job's result could not be sent back: {type(exc).__name__}: {exc}", [])
        faulthandler.disable()
    conn.close()
