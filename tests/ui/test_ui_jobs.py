"""The job queue: FIFO order, one job at a time per device, each job in its own process, persistence across
instances, stop/cancel (ending a job's process when it does not stop), and a crashed process as a failed job.

The runners live in job_runners.py: the queue pickles them into each job's process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from job_runners import bug, cooperative, reporter, segfault, slow, stubborn, user_error, wait_file, work

from masquerade.errors import MasqueradeError
from masquerade.ui.context import job_html
from masquerade.ui.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, QUEUED, RUNNING, STOPPED, Job, JobQueue


def wait_for(queue: JobQueue, job_id: str, *statuses: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.01)
    job = queue.get(job_id)
    raise AssertionError(f"job {job_id} stayed {job.status}, wanted {statuses}: {job.error} {job.log}")


def test_fifo_one_at_a_time_each_in_its_own_process(tmp_path):
    q = JobQueue(tmp_path / "jobs", {"w": work})
    try:
        ids = [q.submit("w", {"name": n}).id for n in "abc"]
        jobs = [wait_for(q, i, DONE) for i in ids]
        results = [j.result for j in jobs]
        assert [r["name"] for r in results] == list("abc")
        assert all(a["end"] <= b["start"] for a, b in zip(results, results[1:]))  # one at a time, in order
        assert len({r["pid"] for r in results} | {os.getpid()}) == 4  # a fresh process per job
        assert [r["leaked"] for r in results] == [None] * 3 and "MASQUERADE_TEST_LEAK" not in os.environ
        assert jobs[-1].progress["done"] == 3 and jobs[-1].fraction == 1.0
        assert [j.id for j in q.list()] == ids[::-1]  # newest first
    finally:
        q.close()


def test_spawn_where_there_is_no_fork_server(tmp_path, monkeypatch):
    from masquerade.ui import jobs

    monkeypatch.setattr(jobs, "START_METHOD", "spawn")  # Windows' only way
    q = JobQueue(tmp_path / "jobs", {"w": work})
    try:
        result = wait_for(q, q.submit("w", {"name": "s"}).id, DONE).result
        assert result["name"] == "s" and result["pid"] != os.getpid()
    finally:
        q.close()


def test_one_worker_per_device_runs_devices_in_parallel(tmp_path):
    gate = str(tmp_path / "gate")
    q = JobQueue(tmp_path / "jobs", {"w": work}, devices=("cpu", "cuda:0"))
    try:
        a = q.submit("w", {"name": "a", "gate": gate, "mark": str(tmp_path / "a")}, "cpu")
        b = q.submit("w", {"name": "b", "gate": gate, "mark": str(tmp_path / "b")}, "cuda:0")
        c = q.submit("w", {"name": "c"}, "cuda:0")
        wait_file(str(tmp_path / "a")), wait_file(str(tmp_path / "b"))  # both runners have started
        assert q.get(c.id).status == QUEUED  # its device is busy
        Path(gate).touch()
        ra, rb, rc = (wait_for(q, j.id, DONE).result for j in (a, b, c))
        assert ra["start"] < rb["end"] and rb["start"] < ra["end"]  # a and b ran at the same time
        assert rc["start"] >= rb["end"]
        with pytest.raises(MasqueradeError):
            q.submit("w", {"name": "x"}, "cuda:1")
    finally:
        Path(gate).touch()
        q.close()


def test_cancel_queued_and_stop_running(tmp_path):
    started = tmp_path / "started"
    q = JobQueue(tmp_path / "jobs", {"slow": slow, "train": cooperative})
    try:
        running = q.submit("slow", {"started": str(started)})
        queued = q.submit("slow", {"started": str(started)})
        wait_file(str(started))
        assert q.stop(queued.id) == CANCELLED
        q.stop(running.id)
        done = wait_for(q, running.id, STOPPED)
        assert done.result is None and not any("ended" in line for line in done.log)  # it stopped by itself
        assert q.get(queued.id).status == CANCELLED
        train = q.submit("train", {})
        wait_for(q, train.id, RUNNING)
        q.stop(train.id)
        assert wait_for(q, train.id, STOPPED).result == {"stopped": True}
    finally:
        q.close()


def test_a_job_that_ignores_stop_has_its_process_ended(tmp_path):
    q = JobQueue(tmp_path / "jobs", {"stubborn": stubborn}, stop_grace=0.5)
    try:
        job = q.submit("stubborn", {})
        deadline = time.monotonic() + 60
        while not q.get(job.id).log and time.monotonic() < deadline:
            time.sleep(0.02)
        q.stop(job.id)
        done = wait_for(q, job.id, STOPPED, timeout=30)
        assert done.log[0] == "working" and "its process was ended (killed by SIGTERM)" in done.log[-1]
    finally:
        q.close()


def test_failures_and_crashes_are_recorded(tmp_path):
    q = JobQueue(tmp_path / "jobs", {"user": user_error, "bug": bug, "crash": segfault, "w": work})
    try:
        a, b, c = q.submit("user", {}), q.submit("bug", {}), q.submit("crash", {})
        after = q.submit("w", {"name": "after"})  # the worker carries on after a crash
        ja, jb, jc = wait_for(q, a.id, FAILED), wait_for(q, b.id, FAILED), wait_for(q, c.id, FAILED)
        assert ja.error == "no face found; use another video" and not ja.log
        assert jb.error == "ZeroDivisionError: oops" and any("Traceback" in ln for ln in jb.log)
        shown = job_html(ja)  # what the tab shows: the status and the one line
        assert "no face found; use another video" in shown and "Traceback" not in shown and "\n" not in shown
        assert "Traceback" not in job_html(jb)
        assert "ended unexpectedly (killed by SIGSEGV)" in jc.error
        assert jc.log[0] == "about to crash" and any("Fatal Python error" in ln for ln in jc.log)
        assert any("segfault" in ln for ln in jc.log)  # faulthandler's stack names the runner
        assert wait_for(q, after.id, DONE).result["name"] == "after"
        assert not list((tmp_path / "jobs").glob(".*fault*"))
    finally:
        q.close()


def test_a_runner_its_process_cannot_load_fails_the_job(tmp_path):
    import sys
    import types

    ghost = types.ModuleType("masquerade_test_ghost_module")  # exists in this process only, not on disk

    def runner(params, ctx):
        return {}

    runner.__module__, runner.__qualname__ = ghost.__name__, "runner"
    ghost.runner = runner
    sys.modules[ghost.__name__] = ghost
    q = JobQueue(tmp_path / "jobs", {"ghost": runner})
    try:
        job = wait_for(q, q.submit("ghost", {}).id, FAILED)
        assert job.error.startswith("the job's process could not start (exit code 1)")
    finally:
        q.close()
        del sys.modules[ghost.__name__]


def test_persists_across_queue_instances(tmp_path):
    folder = tmp_path / "jobs"
    q1 = JobQueue(folder, {"w": work})
    done = q1.submit("w", {"name": "done"})
    wait_for(q1, done.id, DONE)
    q1.close()
    # a queue that never started its workers: its jobs stay queued on disk
    q2 = JobQueue(folder, {"w": work}, start=False)
    waiting = [q2.submit("w", {"name": n}) for n in ("p", "q")]
    q2.close()
    # simulate a crash while a job ran: its record still says running
    crashed = JobQueue(folder, {"w": work}, start=False)
    ghost = crashed.submit("w", {"name": "ghost"})
    crashed._jobs[ghost.id].status = RUNNING
    crashed._save(crashed._jobs[ghost.id])
    crashed.close()

    q3 = JobQueue(folder, {"w": work})  # a new server (or a reloaded page's view) reads them back
    try:
        assert q3.get(done.id).status == DONE and q3.get(done.id).result["name"] == "done"
        assert q3.get(ghost.id).status == INTERRUPTED
        names = [wait_for(q3, j.id, DONE).result["name"] for j in waiting]
        assert names == ["p", "q"]
        assert len(q3.list()) == 4
        new = q3.submit("w", {"name": "later"})
        assert new.seq > max(j.seq for j in waiting + [ghost])  # numbering continues
    finally:
        q3.close()


def test_progress_is_persisted_while_running(tmp_path):
    gate = tmp_path / "gate"
    q = JobQueue(tmp_path / "jobs", {"r": reporter})
    try:
        job = q.submit("r", {"gate": str(gate)})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = Job.from_dict(json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text()))  # what is on disk
            if seen.progress.get("done") == 7 and seen.log:
                break
            time.sleep(0.05)
        assert seen.progress["stats"] == {"loss_a": 0.5} and seen.log == ["hello"]
        gate.touch()
        wait_for(q, job.id, DONE)
    finally:
        gate.touch()
        q.close()


def test_close_ends_a_running_job(tmp_path):
    q = JobQueue(tmp_path / "jobs", {"stubborn": stubborn}, stop_grace=60)
    job = q.submit("stubborn", {})
    wait_for(q, job.id, RUNNING)
    t0 = time.monotonic()
    q.close(timeout=0.5)  # does not wait out the job's stop grace
    assert time.monotonic() - t0 < 20
    record = Job.from_dict(json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text()))
    assert record.status == STOPPED


def test_one_queue_per_workspace(tmp_path):
    q = JobQueue(tmp_path, {}, start=False)
    try:
        with pytest.raises(MasqueradeError, match="is already serving this workspace"):
            JobQueue(tmp_path, {}, start=False)
    finally:
        q.close()
    JobQueue(tmp_path, {}, start=False).close()  # free again once closed
