"""Terminal rendering of the stages' progress callbacks (used by the CLI only)."""

from __future__ import annotations

from typing import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressBars:
    """A `ProgressFn` that draws one rich bar per task name, with the stage's live stats beside it."""

    def __init__(self, console: Console, enabled: bool = True):
        self._progress = Progress(
            TextColumn("[bold]{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
            console=console, transient=False, disable=not enabled,  # off on torchrun's non-zero ranks
        )
        self._tasks: dict[str, int] = {}

    def __call__(self, task: str, done: int, total: int | None, stats: Mapping[str, float]) -> None:
        text = "  ".join(f"{k} {_fmt(v)}" for k, v in stats.items())
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(task, total=total, stats=text)
        self._progress.update(self._tasks[task], completed=done, total=total, stats=text)

    def __enter__(self) -> "ProgressBars":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()


def _fmt(v: float) -> str:
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 10:
        return f"{int(v)}"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


_NATIVE_NOISE = ("W0000 ", "I0000 ", "INFO: Created TensorFlow Lite", "WARNING: All log messages before absl")


def filter_native_stderr() -> "object":
    """Route fd 2 through a filter that drops MediaPipe/TFLite start-up chatter; returns the real stderr.

    Native libraries log straight to file descriptor 2, past Python. The CLI points Python's own stderr (and
    its rich console) at a duplicate of the real one, and forwards every other native line unchanged.
    """
    import os
    import sys
    import threading

    try:
        real = os.dup(2)
    except OSError:
        return sys.stderr
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    real_file = os.fdopen(real, "w", buffering=1, encoding="utf-8", errors="replace")

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                text = line.decode("utf-8", "replace")
                if not text.startswith(_NATIVE_NOISE):
                    real_file.write(text)
                    real_file.flush()

    threading.Thread(target=pump, name="stderr-filter", daemon=True).start()
    sys.stderr = real_file
    return real_file
