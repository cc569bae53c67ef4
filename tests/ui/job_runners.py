"""Job runners for tests/ui/test_ui_jobs.py, in a module of their own: the queue pickles each runner into the
job's own process, which imports this module; kept free of pytest and the UI so that costs little.

They talk to the test through files (gates, marks) and their results, never through shared memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

from masquerade.errors import MasqueradeError


def wait_file(path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def work(params, ctx):
    """Touches its mark file and waits for its gate file (if given), reports progress three times; returns when and where it ran."""
    start = time.time()
    if params.get("mark"):
        Path(params["mark"]).touch()
    if params.get("gate"):
        wait_file(params["gate"])
    for i in range(3):
        ctx.progress("work", i + 1, 3, {"x": i})
    leaked = os.environ.get("MASQUERADE_TEST_LEAK")
    os.environ["MASQUERADE_TEST_LEAK"] = params["name"]  # a process-wide change: must not reach the next job
    return {"name": params["name"], "start": start, "end": time.time(), "pid": os.getpid(), "leaked": leaked}


def slow(params, ctx):
    """A stage with a progress callback but no stop flag."""
    Path(params["started"]).touch()
    for i in range(3000):
        time.sleep(0.01)
        ctx.progress("slow", i, 3000, {})
    return {}


def cooperative(params, ctx):
    """Like train: polls should_stop and returns normally."""
    while not ctx.should_stop():
        time.sleep(0.01)
    return {"stopped": True}


def stubborn(params, ctx):
    """Neither reports progress nor polls the stop flag: only ending its process stops it."""
    ctx.log("working")
    while True:
        time.sleep(0.05)


def user_error(params, ctx):
    raise MasqueradeError("no face found;\n  use another video")


def bug(params, ctx):
    raise ZeroDivisionError("oops")


def segfault(params, ctx):
    import ctypes

    ctx.log("about to crash")
    ctypes.string_at(0)  # reads address 0: SIGSEGV, the way a native library would die


def reporter(params, ctx):
    ctx.progress("train", 7, 10, {"loss_a": 0.5})
    ctx.log("hello")
    wait_file(params["gate"])
    return {}
