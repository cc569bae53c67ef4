"""Atomic file writes: write to a temp file in the same folder, then `os.replace` onto the target.

A reader (or a re-run after a crash) therefore sees either the old file or the new one, never half of one.
Temp names come from `outputs.partial_path`, so `outputs.sweep_partials` can remove what a killed run left.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Self

from .outputs import partial_path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = partial_path(path, suffix or path.suffix or ".tmp")  # a dead run's leftover is swept later
    os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # private until renamed, as mkstemp
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | Path, data: bytes, durable: bool = False) -> Path:
    """`durable=True` also fsyncs before the rename (checkpoints: survive a power cut, not just a crash)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    return Path(path)


def write_json(path: str | Path, obj: Any, sort_keys: bool = False, durable: bool = False) -> Path:
    return write_bytes(path, (json.dumps(obj, indent=1, sort_keys=sort_keys) + "\n").encode(), durable=durable)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


class FinishOrAbort:
    """A context manager for writers whose output only counts when complete: leaving the `with` normally
    calls `close()` (finish and publish), leaving it by an exception calls `abort()` (nothing half-written is
    left at the output path). Subclasses define both."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
