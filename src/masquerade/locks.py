"""One writer per folder: an advisory lock on the folder itself, and the name of whoever holds it.

Why on the folder, not a lock file: a lock file is one more thing left in the user's folder after every run,
and a stale one (the process was killed) has to be told from a live one. `flock` on the folder's own
descriptor leaves nothing behind and is released by the kernel when the process dies, `kill -9` included.
Why name the holder: "another process is writing here" leaves the user hunting for it; Linux lists every
lock with its process id in /proc/locks, so the refusal can say which command it is.
Where `fcntl` is missing (Windows) no lock is taken: one writer per folder is then up to the user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def holder(folder: Path) -> str | None:
    """'process 1234 (masquerade train ...)' for the process holding `folder`'s lock, if /proc says."""
    try:
        st = os.stat(folder)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
            continue  # waiters ("->") hold nothing
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            same = (int(major, 16), int(minor, 16), int(inode)) == (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
        except (ValueError, IndexError):
            continue
        if same and pid != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    words = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
            except OSError:
                words = []
            return f"process {pid}" + (f" ({_command(words)})" if words else "")
    return None


def _command(words: list[str], limit: int = 100) -> str:
    """A process's command line as a user would have typed it, cut to `limit` characters: `python -m
    masquerade train ...` and `python /venv/bin/masquerade train ...` both read `masquerade train ...`."""
    if len(words) > 2 and os.path.basename(words[0]).startswith("python") and words[1] == "-m":
        words = words[2:]
    elif len(words) > 1 and os.path.basename(words[0]).startswith("python") and not words[1].startswith("-"):
        words = words[1:]
    text = " ".join(os.path.basename(w) if i == 0 else w for i, w in enumerate(words))
    text = " ".join(text.split())  # a `python -c` script spans lines
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hold(folder: Path, refuse: Callable[[str], Exception]) -> int | None:
    """Take `folder`'s lock for this process, or raise `refuse(who)` (who: 'process N (command)' or
    'another process') when someone else holds it. Returns the descriptor to pass to `release`."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise refuse(holder(Path(folder)) or "another process") from None
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases its lock
