"""The job queue: FIFO order, one job at a time per device, persistence across instances, stop/cancel."""

from __future__ import annotations

import json
import threading
import time

import pytest

from masquerade.errors import MasqueradeError
from masquerade.ui.context import job_html
from masquerade.ui.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, QUEUED, RUNNING, STOPPED, Job, JobQueue


def wait_for(queue: JobQueue, job_id: str, *statuses: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} stayed {queue.get(job_id).status}, wanted {statuses}")


class Recorder:
    """Runners that log start/end order and the most jobs ever running at once."""

    def __init__(self):
        self.order: list[str] = []
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()

    def runner(self, params, ctx):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.order.append(params["name"])
        try:
            if params.get("wait"):
                assert self.gate.wait(10)
            time.sleep(params.get("sleep", 0.02))
            for i in range(3):
                ctx.progress("work", i + 1, 3, {"x": i})
            return {"name": params["name"]}
        finally:
            with self.lock:
                self.running -= 1


def test_fifo_one_at_a_time(tmp_path):
    rec = Recorder()
    q = JobQueue(tmp_path, {"w": rec.runner})
    try:
        ids = [q.submit("w", {"name": n}).id for n in "abcde"]
        for i in ids:
            job = wait_for(q, i, DONE)
        assert rec.order == list("abcde")
        assert rec.peak == 1
        assert job.result == {"name": "e"} and job.progress["done"] == 3 and job.fraction == 1.0
        assert [j.id for j in q.list()] == ids[::-1]  # newest first
    finally:
        q.close()


def test_one_worker_per_device_runs_devices_in_parallel(tmp_path):
    rec = Recorder()
    q = JobQueue(tmp_path, {"w": rec.runner}, devices=("cpu", "cuda:0"))
    try:
        a = q.submit("w", {"name": "a", "wait": True}, "cpu")
        b = q.submit("w", {"name": "b", "wait": True}, "cuda:0")
        c = q.submit("w", {"name": "c"}, "cuda:0")
        wait_for(q, a.id, RUNNING), wait_for(q, b.id, RUNNING)
        assert q.get(c.id).status == QUEUED  # its device is busy
        rec.gate.set()
        for j in (a, b, c):
            wait_for(q, j.id, DONE)
        assert rec.peak == 2
        with pytest.raises(MasqueradeError):
            q.submit("w", {"name": "x"}, "cuda:1")
    finally:
        rec.gate.set()
        q.close()


def test_cancel_queued_and_stop_running(tmp_path):
    started = threading.Event()

    def slow(params, ctx):  # a stage with a progress callback but no stop flag
        started.set()
        for i in range(1000):
            time.sleep(0.01)
            ctx.progress("slow", i, 1000, {})
        return {}

    def cooperative(params, ctx):  # like train: polls should_stop and returns normally
        while not ctx.should_stop():
            time.sleep(0.01)
        return {"stopped": True}

    q = JobQueue(tmp_path, {"slow": slow, "train": cooperative})
    try:
        running = q.submit("slow", {})
        queued = q.submit("slow", {})
        assert started.wait(5)
        assert q.stop(queued.id) == CANCELLED
        q.stop(running.id)
        assert wait_for(q, running.id, STOPPED).result is None
        assert q.get(queued.id).status == CANCELLED
        train = q.submit("train", {})
        wait_for(q, train.id, RUNNING)
        q.stop(train.id)
        assert wait_for(q, train.id, STOPPED).result == {"stopped": True}
    finally:
        q.close()


def test_failures_are_recorded(tmp_path):
    def user_error(params, ctx):
        raise MasqueradeError("no face found;\n  use another video")

    def bug(params, ctx):
        raise ZeroDivisionError("oops")

    q = JobQueue(tmp_path, {"user": user_error, "bug": bug})
    try:
        a, b = q.submit("user", {}), q.submit("bug", {})
        ja, jb = wait_for(q, a.id, FAILED), wait_for(q, b.id, FAILED)
        assert ja.error == "no face found; use another video" and not ja.log
        assert jb.error == "ZeroDivisionError: oops" and any("Traceback" in ln for ln in jb.log)
        shown = job_html(ja)  # what the tab shows: the status and the one line
        assert "no face found; use another video" in shown and "Traceback" not in shown and "\n" not in shown
        assert "Traceback" not in job_html(jb)
    finally:
        q.close()


def test_persists_across_queue_instances(tmp_path):
    rec = Recorder()
    q1 = JobQueue(tmp_path, {"w": rec.runner})
    done = q1.submit("w", {"name": "done"})
    wait_for(q1, done.id, DONE)
    q1.close()
    # a queue that never started its workers: its jobs stay queued on disk
    q2 = JobQueue(tmp_path, {"w": rec.runner}, start=False)
    waiting = [q2.submit("w", {"name": n}) for n in ("p", "q")]
    q2.close()
    # simulate a crash while a job ran: its record still says running
    crashed = JobQueue(tmp_path, {"w": rec.runner}, start=False)
    ghost = crashed.submit("w", {"name": "ghost"})
    crashed._jobs[ghost.id].status = RUNNING
    crashed._save(crashed._jobs[ghost.id])
    crashed.close()

    q3 = JobQueue(tmp_path, {"w": rec.runner})  # a new server (or a reloaded page's view) reads them back
    try:
        assert q3.get(done.id).status == DONE and q3.get(done.id).result == {"name": "done"}
        assert q3.get(ghost.id).status == INTERRUPTED
        for j in waiting:
            wait_for(q3, j.id, DONE)
        assert rec.order == ["done", "p", "q"]
        assert len(q3.list()) == 4
        new = q3.submit("w", {"name": "later"})
        assert new.seq > max(j.seq for j in waiting + [ghost])  # numbering continues
    finally:
        q3.close()


def test_progress_is_persisted_while_running(tmp_path):
    release = threading.Event()

    def runner(params, ctx):
        ctx.progress("train", 7, 10, {"loss_a": 0.5})
        ctx.log("hello")
        assert release.wait(5)
        return {}

    q = JobQueue(tmp_path, {"r": runner})
    try:
        job = q.submit("r", {})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seen = Job.from_dict(json.loads((tmp_path / f"{job.id}.json").read_text()))  # what is on disk
            if seen.progress.get("done") == 7 and seen.log:
                break
            time.sleep(0.05)
        assert seen.progress["stats"] == {"loss_a": 0.5} and seen.log == ["hello"]
        release.set()
        wait_for(q, job.id, DONE)
    finally:
        release.set()
        q.close()


def test_one_queue_per_workspace(tmp_path):
    q = JobQueue(tmp_path, {}, start=False)
    try:
        with pytest.raises(MasqueradeError, match="already using this workspace"):
            JobQueue(tmp_path, {}, start=False)
    finally:
        q.close()
    JobQueue(tmp_path, {}, start=False).close()  # free again once closed
