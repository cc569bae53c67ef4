"""A small persistent job queue: one worker per device, jobs run one at a time per device, each in a process
of its own.

Why not Gradio's own queue: its events belong to a browser session and die with it. Training runs for
hours, so a job here outlives the page: its record (status, progress, log, result) is a JSON file in the
workspace, written atomically, and a reloaded page — or a restarted server — reads it back. One worker per
device keeps two trainings from fighting over one GPU (or two CPU cores); other jobs wait their turn.

Why a process per job: a stage may change settings that belong to its whole process (torch's thread count,
oneDNN's bf16 math while a training step runs, environment variables, a native library's hold on file
descriptor 2). Jobs run as threads of the server would share them, so a convert started beside a training
job could compute in the trainer's bf16 mode. A job started fresh has its own; a stop can always end it (its
process is ended when it does not stop by itself within `stop_grace` seconds); and a crash in native code
becomes a failed job with its log, never a dead server or a page waiting forever. Progress, log lines and
the result come back over a pipe. Runners must therefore be picklable: module-level functions, or
`functools.partial` of them.

How a job's process starts: never by forking the server (its threads and settings would come along).
Where the platform has it (Linux, macOS), from multiprocessing's fork server: a process started fresh, like
"spawn", that has imported torch once and never runs anything, and forks one child per job; each job then
starts in ~0.05 s instead of paying torch's 3-4 s import again (measured on the 2-core box). Elsewhere:
"spawn". Either way a job inherits none of the server's state; with the fork server, its environment
variables are the server's as they were when the first job started.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field, fields
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import atomic, locks
from ..errors import MasqueradeError
from .job_process import JobContext, JobStopped, Runner, run_job  # noqa: F401  (runners use these names from here)

QUEUED, RUNNING, DONE, FAILED, CANCELLED, STOPPED, INTERRUPTED = (
    "queued", "running", "done", "failed", "cancelled", "stopped", "interrupted")
FINISHED = (DONE, FAILED, CANCELLED, STOPPED, INTERRUPTED)
LOG_LINES = 200
SAVE_SECONDS = 0.5  # progress is persisted at most this often


@dataclass
class Job:
    """One unit of background work and everything a page needs to show it."""

    id: str
    kind: str  # a key of the queue's runners: extract | train | convert | ...
    params: dict[str, Any]
    device: str = "cpu"  # worker key: cpu | cuda:0 | mps
    title: str = ""
    seq: int = 0  # submission order (FIFO per device)
    status: str = QUEUED
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] = field(default_factory=lambda: {"task": "", "done": 0, "total": None, "stats": {}})
    log: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    stop_requested: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Job":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def fraction(self) -> float | None:
        total = self.progress.get("total")
        return min(1.0, self.progress.get("done", 0) / total) if total else None


def _lock_folder(folder: Path) -> int | None:
    """Hold the jobs folder (`locks.hold`): two servers on one workspace would both run its queue."""
    return locks.hold(folder, lambda who: MasqueradeError(
        f"{folder.parent}: {who} is already serving this workspace; stop it or pass another --workspace"))


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name if -code in signal.valid_signals() else -code}"
    return f"exit code {code}"


class JobQueue:
    """Persistent FIFO queue with one worker thread per device, each job in its own process; see the module doc."""

    def __init__(self, folder: str | Path, runners: Mapping[str, Runner], devices: Sequence[str] = ("cpu",),
                 cooperative: Sequence[str] = ("train",), start: bool = True, stop_grace: float = 60.0):
        """`cooperative`: kinds whose runner polls `should_stop()` itself (not stopped via progress).
        `stop_grace`: seconds a running job has to stop by itself once asked before its process is ended."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.runners, self.devices, self.cooperative = dict(runners), list(devices), tuple(cooperative)
        self.stop_grace = float(stop_grace)
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._saved: dict[str, float] = {}
        self._procs: dict[str, Any] = {}  # job id -> its running process
        self._closed = False
        self._lockfile = _lock_folder(self.folder)
        self._load()
        self._threads = [threading.Thread(target=self._work, args=(d,), name=f"masquerade-jobs-{d}", daemon=True)
                         for d in self.devices]
        if start:
            for t in self._threads:
                t.start()

    # -- public -----------------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict[str, Any], device: str = "cpu", title: str = "") -> Job:
        if kind not in self.runners:
            raise ValueError(f"unknown job kind {kind!r}")
        if device not in self.devices:
            raise MasqueradeError(f"device {device!r} has no worker here; available: {', '.join(self.devices)}")
        with self._lock:
            seq = max((j.seq for j in self._jobs.values()), default=0) + 1
            job = Job(id=f"{seq:05d}-{uuid.uuid4().hex[:6]}", kind=kind, params=dict(params), device=device,
                      title=title or kind, seq=seq, created=time.time())
            self._jobs[job.id] = job
            self._save(job)
            self._lock.notify_all()
        return self.get(job.id)

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(job_id)
            return Job.from_dict(self._jobs[job_id].to_dict())  # a copy: callers never see a half update

    def list(self, kind: str | None = None) -> list[Job]:
        """Jobs newest first (optionally of one kind)."""
        with self._lock:
            jobs = [Job.from_dict(j.to_dict()) for j in self._jobs.values() if kind in (None, j.kind)]
        return sorted(jobs, key=lambda j: -j.seq)

    def latest(self, *kinds: str) -> Job | None:
        return next((j for j in self.list() if j.kind in kinds), None)

    def stop(self, job_id: str) -> str:
        """Cancel a queued job, or ask a running one to stop (its process is ended if it does not within
        `stop_grace` seconds); returns the job's status afterwards."""
        with self._lock:
            job = self._jobs[job_id]
            if job.status == QUEUED:
                job.status, job.finished = CANCELLED, time.time()
                self._save(job)
            elif job.status == RUNNING:
                job.stop_requested = True
                self._save(job)
            return job.status

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers: running jobs are asked to stop, and their processes ended after `timeout`
        seconds; queued ones stay queued on disk."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.status == RUNNING:
                    job.stop_requested = True
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            late = list(self._procs.values())
        for proc in late:
            _end_process(proc)
        for t in self._threads:
            if t.is_alive():
                t.join(10.0)  # the worker records how its job ended
        locks.release(self._lockfile)
        self._lockfile = None

    # -- internals --------------------------------------------------------------------------------------
    def _load(self) -> None:
        for path in sorted(self.folder.glob("*.json")):
            try:
                job = Job.from_dict(atomic.read_json(path))
            except (ValueError, TypeError, KeyError):
                continue  # a damaged record is skipped, not fatal
            if job.status == RUNNING:  # the process that ran it is gone
                job.status, job.finished = INTERRUPTED, time.time()
                job.log.append("interrupted: the server stopped while this job ran" +
                               ("; start it again to resume" if job.kind == "train" else ""))
                atomic.write_json(path, job.to_dict())
            if job.status == QUEUED and job.device not in self.devices:
                job.device = self.devices[0]
            self._jobs[job.id] = job

    def _save(self, job: Job) -> None:
        atomic.write_json(self.folder / f"{job.id}.json", job.to_dict())
        self._saved[job.id] = time.monotonic()

    def _update(self, job: Job, progress: dict | None = None, log_line: str | None = None, force: bool = False) -> None:
        with self._lock:
            if progress is not None:
                job.progress = progress
            if log_line is not None:
                job.log = (job.log + [log_line])[-LOG_LINES:]
            if force or time.monotonic() - self._saved.get(job.id, 0) >= SAVE_SECONDS:
                self._save(job)

    def _next(self, device: str) -> Job | None:
        with self._lock:
            while not self._closed:
                queued = [j for j in self._jobs.values() if j.status == QUEUED and j.device == device]
                if queued:
                    job = min(queued, key=lambda j: j.seq)
                    job.status, job.started = RUNNING, time.time()
                    self._save(job)
                    return job
                self._lock.wait(timeout=1.0)
            return None

    def _work(self, device: str) -> None:
        while (job := self._next(device)) is not None:
            self._run(job)

    def _run(self, job: Job) -> None:
        """Run `job` in a fresh process and follow it to its end (see the module doc for why a process)."""
        mp = _start_context()
        recv, send = mp.Pipe(duplex=False)
        stop = mp.Event()
        fault_log = self.folder / f".{job.id}.fault.txt"
        proc = mp.Process(target=run_job, name=f"masquerade-job-{job.id}", daemon=True,
                          args=(self.runners[job.kind], job.to_dict(), send, stop, self.cooperative,
                                str(fault_log)))
        try:
            proc.start()
        except Exception as exc:  # e.g. a runner that cannot be pickled: a bug, shown like one
            send.close()
            recv.close()
            self._finish(job, FAILED, None, " ".join(f"the job's process could not start: {type(exc).__name__}: "
                                                     f"{exc}".split()), [])
            return
        send.close()  # the child holds the only writing end now: its exit reads as end-of-file here
        with self._lock:
            self._procs[job.id] = proc
        try:
            end, started = self._follow(job, proc, recv, stop)
            if end is None:
                proc.join(10.0)  # ended without a word: its exit code says how
            how = _ended(proc.exitcode)
            crash_lines = _tail(fault_log) if end is None else []
            with contextlib.suppress(OSError):  # Windows: the child may still hold it open
                fault_log.unlink(missing_ok=True)
            if end is not None:
                self._finish(job, *end)  # recorded at once; the process may still be exiting
            elif job.stop_requested:
                self._finish(job, STOPPED, None, None, [f"stopped: its process was ended ({how})"])
            elif not started:  # it could not even load its runner: multiprocessing printed why on stderr
                self._finish(job, FAILED, None, f"the job's process could not start ({how}); the reason is on the "
                                                "server's terminal", [])
            else:  # a crash: whatever faulthandler wrote is the log
                self._finish(job, FAILED, None, f"the job's process ended unexpectedly ({how}); see the job's log",
                             [f"the job's process ended unexpectedly ({how})"] + crash_lines)
            proc.join(10.0)
        except Exception as exc:  # a bug here must still end the job, or its page would wait forever
            self._finish(job, FAILED, None, f"following the job failed: {type(exc).__name__}: {exc}",
                         traceback.format_exc().splitlines()[-LOG_LINES // 2:])
        finally:
            recv.close()
            _end_process(proc)
            with self._lock:
                self._procs.pop(job.id, None)

    def _follow(self, job: Job, proc, recv, stop) -> tuple[tuple | None, bool]:
        """Relay the child's messages into the job's record until it ends; pass on a stop request, and end
        the process when it does not stop within `stop_grace`. Returns the child's ("end", ...) payload, or
        None when the process ended without one (a crash, or ended by us), and whether the runner started."""
        asked, started = None, False
        while True:
            if job.stop_requested and asked is None:
                stop.set()
                asked = time.monotonic()
            if asked is not None and time.monotonic() - asked > self.stop_grace:
                _end_process(proc)
            ready = wait([recv, proc.sentinel], timeout=0.2)
            if recv in ready or (ready and recv.poll()):
                try:
                    message = recv.recv()
                except (EOFError, OSError):
                    return None, started
                kind = message[0]
                started = True
                if kind == "progress":
                    self._update(job, progress=message[1])
                elif kind == "log":
                    self._update(job, log_line=message[1], force=True)
                elif kind == "end":
                    return message[1:], started
            elif ready:  # the process ended and nothing is left to read
                return None, started

    def _finish(self, job: Job, status: str, result: dict | None, error: str | None, lines: list[str]) -> None:
        with self._lock:
            job.status, job.result, job.error, job.finished = status, result, error, time.time()
            job.log = (job.log + list(lines))[-LOG_LINES:]
            self._save(job)
            self._lock.notify_all()


START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
# Imported once by the fork server (see the module doc); each starts no thread on import (checked), so forking
# after it is safe. One that fails to import is skipped by multiprocessing, and then imported by the job.
PRELOAD = ("masquerade.ui.job_process", "torch", "mediapipe", "masquerade.train", "masquerade.convert",
           "masquerade.extract", "masquerade.ui.runners")


def _start_context():
    mp = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        mp.set_forkserver_preload(list(PRELOAD))  # takes effect when the fork server starts (the first job)
    return mp


def _end_process(proc, grace: float = 5.0) -> None:
    """End `proc` if it still runs: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.is_alive():
        proc.terminate()
        proc.join(grace)
    if proc.is_alive():
        proc.kill()
        proc.join(grace)


def _tail(path: Path) -> list[str]:
    with contextlib.suppress(OSError):
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_LINES // 2:]
    return []
