"""Terminal rendering of the stages' progress callbacks (used by the CLI only)."""

from __future__ import annotations

import time
from typing import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


STATS_EVERY_S = 0.5  # a bar's stats are redrawn (and read) at most this often; the count at every report


class ProgressBars:
    """A `ProgressFn` that draws one rich bar per task name, with the stage's live stats beside it."""

    def __init__(self, console: Console, enabled: bool = True):
        self._progress = Progress(
            TextColumn("[bold]{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
            console=console, transient=False, disable=not enabled,  # off on torchrun's non-zero ranks
        )
        self._tasks: dict[str, int] = {}
        self._shown: dict[str, float] = {}  # when each task's stats were last read and drawn

    def __call__(self, task: str, done: int, total: int | None, stats: Mapping[str, float]) -> None:
        # The stats are read at most every STATS_EVERY_S: a training step's losses stay on the device until
        # read (`train/lazy_stats.py`), and reading them at every step would make the GPU wait at every step.
        now = time.monotonic()
        if task in self._tasks and done != total and now - self._shown.get(task, 0.0) < STATS_EVERY_S:
            self._progress.update(self._tasks[task], completed=done, total=total)
            return
        self._shown[task] = now
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


# Native libraries' start-up chatter (MediaPipe's C++ absl log, TFLite's "Created TensorFlow Lite XNNPACK
# delegate") is not filtered here: the only way to drop it would be to redirect file descriptor 2 for the
# whole process, which also swallows any other thread's output there. The pinned mediapipe wheel reads no
# setting that silences it (GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL: measured, no effect), so it prints, once
# per detector, before the progress bars start.


# -- turning whatever a command raised into an exit code and one line ---------------------------------------
CRASH_LOGS_KEPT = 20
# OS errors that are the machine's state or the user's path, not a bug of ours: what to do about each
_USER_OS_ERRORS = {
    "ENOSPC": "the disk is full; free some space there and run again",
    "EDQUOT": "the disk quota is used up; free some space there and run again",
    "EACCES": "permission denied; pick a place you may write to, or change its permissions",
    "EPERM": "the operation is not permitted there; pick another place",
    "EROFS": "the file system is read-only; pick a place you may write to",
    "ENAMETOOLONG": "the name is too long for the file system; pick a shorter one",
    "ENOTDIR": "a part of the path is a file, not a folder; check the path",
    "EISDIR": "that is a folder, where a file was expected; check the path",
    "EFBIG": "the file is too large for the file system; pick another place",
    "EMFILE": "too many files are open; close other programs and run again",
}


def one_line(text: object, limit: int = 400) -> str:
    """`text` squeezed onto one line (library messages sometimes span several), cut at `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_guarded(call, console: Console) -> int:
    """Run `call` (a Typer app in standalone mode) and return the process exit code.

    Why one place: the promise is one line for every mistake. Typer has already printed its usage message
    for a usage error (exit 2); a `MasqueradeError` is the user's to fix (one red line, exit 2); anything
    else is our bug: one line naming a log file that holds the traceback (exit 1), so the terminal never
    shows a traceback the user cannot act on. Ctrl-C exits 130.
    """
    import errno

    from rich.markup import escape

    from .errors import MasqueradeError
    from pathlib import Path

    from .outputs import is_partial

    try:
        call()
    except SystemExit as exc:  # standalone Typer: usage errors (2), typer.Exit(n), Ctrl-C inside a command (130)
        code = exc.code
        if code is None:
            return 0
        if not isinstance(code, int):
            console.print(escape(one_line(code)), highlight=False, soft_wrap=True)
            return 1
        if code == 130:
            console.print("[yellow]interrupted[/]")
        return code
    except MasqueradeError as exc:
        console.print(f"[bold red]error:[/] {escape(one_line(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    except OSError as exc:
        advice = _USER_OS_ERRORS.get(errno.errorcode.get(exc.errno or 0, ""))
        if advice:
            name = str(exc.filename or "")
            if name and is_partial(name):  # our hidden temp file: the user knows the folder, not its name
                name = str(Path(name).parent)
            where = f"{name if len(name) <= 160 else name[:60] + '…' + name[-99:]}: " if name else ""
            console.print(f"[bold red]error:[/] {escape(one_line(where + advice))}", highlight=False, soft_wrap=True)
            return 2
        return _report_crash(exc, console)
    except Exception as exc:
        return _report_crash(exc, console)
    return 0


def _report_crash(exc: BaseException, console: Console) -> int:
    from rich.markup import escape

    log = write_crash_log(exc)
    where = f"the traceback is in {log}" if log else "no log could be written"
    console.print(f"[bold red]unexpected error (a bug in Masquerade):[/] {escape(one_line(f'{type(exc).__name__}: {exc}', 200))}"
                  f"; {escape(where)}", highlight=False, soft_wrap=True)
    return 1


def write_crash_log(exc: BaseException) -> "object":
    """Write `exc`'s traceback, the command line and versions to MASQUERADE_HOME/logs/; returns the path.

    Falls back to the system temp folder when the home is not writable (and returns None when nothing is),
    and keeps the newest CRASH_LOGS_KEPT logs so a crash loop cannot fill the disk.
    """
    import os
    import platform
    import sys
    import time
    import traceback

    from . import __version__

    text = (f"masquerade {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
            f"command: {' '.join(sys.argv)}\n\n" + "".join(traceback.format_exception(exc)))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in _log_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        for old in sorted(folder.glob("crash-*.log"), key=lambda p: p.stat().st_mtime)[:-CRASH_LOGS_KEPT]:
            old.unlink(missing_ok=True)
        return path
    return None


def _log_folders() -> list:
    import tempfile
    from pathlib import Path

    folders = []
    try:
        from .provenance.keys import masquerade_home

        folders.append(masquerade_home() / "logs")
    except Exception:  # a broken install must still get its traceback written somewhere
        pass
    folders.append(Path(tempfile.gettempdir()) / "masquerade-logs")
    return folders
