"""A small persistent job queue: one worker thread per device, jobs run one at a time per device.

Why not Gradio's own queue: its events belong to a browser session and die with it. Training runs for
hours, so a job here outlives the page: its record (status, progress, log, result) is a JSON file in the
workspace, written atomically, and a reloaded page — or a restarted server — reads it back. One worker per
device keeps two trainings from fighting over one GPU (or two CPU cores); other jobs wait their turn.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .. import atomic
from ..errors import MasqueradeError

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


def _lock_folder(folder: Path):
    """Hold an exclusive lock on the jobs folder: two servers on one workspace would both run its queue."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; one server per workspace is on the user
        return None
    f = open(folder / ".lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise MasqueradeError(f"{folder.parent}: another Masquerade UI is already using this workspace; "
                              "stop it or pass another --workspace") from None
    return f


class JobStopped(Exception):
    """Raised inside a running job (from its progress callback) when a stop was requested."""


class JobContext:
    """What a runner gets: progress reporting, a stop flag, and a log."""

    def __init__(self, queue: "JobQueue", job: Job):
        self._queue, self.job = queue, job

    def should_stop(self) -> bool:
        return self.job.stop_requested

    def progress(self, task: str, done: int, total: int | None, stats: Mapping[str, float]) -> None:
        """A `records.ProgressFn`; raises JobStopped so stages without a stop flag end at the next report."""
        self._queue._update(self.job, progress={"task": task, "done": int(done), "total": total,
                                                "stats": {k: float(v) for k, v in stats.items()}})
        if self.job.stop_requested and self.job.kind not in self._queue.cooperative:
            raise JobStopped()

    def log(self, line: str) -> None:
        self._queue._update(self.job, log_line=line, force=True)


Runner = Callable[[dict[str, Any], JobContext], dict[str, Any] | None]


class JobQueue:
    """Persistent FIFO queue with one worker thread per device; see the module doc."""

    def __init__(self, folder: str | Path, runners: Mapping[str, Runner], devices: Sequence[str] = ("cpu",),
                 cooperative: Sequence[str] = ("train",), start: bool = True):
        """`cooperative`: kinds whose runner polls `should_stop()` itself (not stopped via progress)."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.runners, self.devices, self.cooperative = dict(runners), list(devices), tuple(cooperative)
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._saved: dict[str, float] = {}
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
        """Cancel a queued job, or ask a running one to stop; returns the job's status afterwards."""
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
        """Stop the workers: running jobs are asked to stop; queued ones stay queued on disk."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.status == RUNNING:
                    job.stop_requested = True
            self._lock.notify_all()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout)
        if self._lockfile is not None:
            self._lockfile.close()  # releases the flock
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
        ctx = JobContext(self, job)
        status, result, error = DONE, None, None
        try:
            result = self.runners[job.kind](job.params, ctx)
            if job.stop_requested:
                status = STOPPED
        except JobStopped:
            status = STOPPED
        except MasqueradeError as exc:  # a user mistake: one line, no traceback
            status, error = FAILED, " ".join(str(exc).split())
        except Exception as exc:  # a bug: one line here, the traceback in the job's log (Jobs tab)
            status, error = FAILED, " ".join(f"{type(exc).__name__}: {exc}".split())
            for line in traceback.format_exc().splitlines()[-LOG_LINES // 2:]:
                job.log.append(line)
        with self._lock:
            job.status, job.result, job.error, job.finished = status, result, error, time.time()
            job.log = job.log[-LOG_LINES:]
            self._save(job)
            self._lock.notify_all()
