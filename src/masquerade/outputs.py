"""The one place that decides whether Masquerade may write to an output path.

Why a module of its own: every stage writes somewhere the user named, and the promise is that nothing
Masquerade did not write is ever deleted or overwritten. Keeping the rules here (overlap with inputs, existing
files and folders, our own half-written leftovers) means a grep for them finds one file, and every stage
refuses the same mistakes with the same words.

Leftovers: every temp file or folder we create beside an output is named by `partial_path`, which embeds our
process id, so a later run can tell a dead run's leftovers (safe to remove) from a live run's (left alone).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Callable, Iterable

from .errors import OutputError

PARTIAL_TAG = ".masq-partial-"
_PARTIAL = re.compile(r"^\..+\.masq-partial-(\d+)-[0-9a-f]{8}")


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().resolve()


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def refuse_overlap(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Raise OutputError if `output` equals, lies inside, or contains any input (symlinks followed).

    Writing inside an input folder would mix our files into the user's; an output that contains an input
    could, on any later clean-up or overwrite, take the input with it.
    """
    out = _resolved(output)
    for item in inputs:
        src = _resolved(item)
        if out == src:
            raise OutputError(f"{output}: the output is the same path as the input {item}; choose another output")
        if _inside(out, src):
            raise OutputError(f"{output}: the output lies inside the input folder {item}; choose a path outside it")
        if _inside(src, out):
            raise OutputError(f"{output}: the output would contain the input {item}; choose a new, separate path")


def claim_file(output: str | os.PathLike[str], is_ours: Callable[[Path], bool] | None = None) -> None:
    """Raise OutputError unless `output` is free, or is a regular file that Masquerade wrote (`is_ours`)."""
    path = Path(output)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir():
        raise OutputError(f"{output}: is a folder; give a file name for the output")
    if not path.is_file():
        raise OutputError(f"{output}: exists and is not a regular file; choose another output name")
    if is_ours is not None and is_ours(path):
        return
    raise OutputError(f"{output}: already exists and was not written by Masquerade; "
                      "choose another name or move that file away (it is never overwritten)")


def claim_folder(output: str | os.PathLike[str], markers: Iterable[str]) -> None:
    """Raise OutputError unless `output` is free, an empty folder, or a folder holding one of `markers`.

    A marker is the manifest file a Masquerade folder of that kind always has (`faceset.json`,
    `model.json`, ...), so a folder holding one is ours to resume or grow.
    """
    path = Path(output)
    if not path.exists():
        if path.is_symlink():
            raise OutputError(f"{output}: is a broken link; choose another output folder")
        return
    if not path.is_dir():
        raise OutputError(f"{output}: exists and is not a folder; choose a new folder name")
    markers = tuple(markers)
    if any((path / m).exists() for m in markers):
        return
    if any(not _PARTIAL.match(p.name) for p in path.iterdir()):
        kinds = " or ".join(markers) or "Masquerade's"
        raise OutputError(f"{output}: is a folder that holds other files (no {kinds}); "
                          "choose an empty or new folder (nothing in it will be touched)")


def partial_path(final: str | os.PathLike[str], suffix: str | None = None) -> Path:
    """A fresh temp path beside `final`, recognisable as ours and as belonging to this process."""
    final = Path(final)
    suffix = final.suffix if suffix is None else suffix
    return final.with_name(f".{final.name}{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def is_partial(path: str | os.PathLike[str]) -> bool:
    return _PARTIAL.match(Path(path).name) is not None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def sweep_partials(folder: str | os.PathLike[str]) -> int:
    """Delete our leftovers in `folder` (not recursive) whose process is gone; return the bytes freed.

    Only names made by `partial_path` are considered, so nothing a user made can match.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    freed = 0
    for entry in folder.iterdir():
        m = _PARTIAL.match(entry.name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        size = _size(entry)
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        freed += size
    return freed
