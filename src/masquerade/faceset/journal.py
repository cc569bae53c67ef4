"""The face set's append-only journal (`alignments.jsonl`): what extract did since the last compaction.

Why: rewriting all of `alignments.json` while extracting costs time proportional to the faces so far, so a
long video slowed down quadratically. Instead each processed frame appends one JSON line holding the new
faces' records and the source's resume point; `FaceSet.checkpoint` folds the journal into `alignments.json`
and `faceset.json` when a run completes (and when a resumed run starts), then deletes it.

Crash safety, for a kill at any instant:
- A frame's PNGs are written (atomically) before its line, so a line never names a missing file; PNGs
  written just before a kill have no line, and the resumed run redoes that frame under the same names.
- One line carries a frame's faces *and* its resume point, so they can never disagree. A torn last line
  (killed mid-write) is not valid JSON and is ignored; the writer cuts it off before appending again.
- Replaying is idempotent (records are keyed by file name, a source's entry is replaced whole), so a kill
  between writing the compacted files and deleting the journal only replays lines already folded in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from .. import locks

JOURNAL = "alignments.jsonl"


def _valid_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(end offset, line) for each complete, well-formed line, stopping at the first that is not.

    Anything after a bad line is treated as never written: lines are only appended, so a bad line can only
    be the torn tail of a killed write, and dropping it (and what follows) is the state of a kill just there.
    """
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            try:
                line = json.loads(raw)
            except ValueError:
                return
            if not isinstance(line, dict):
                return
            offset += len(raw)
            yield offset, line


def read(root: Path) -> list[dict]:
    """The journal's valid lines, oldest first ([] when there is none)."""
    path = root / JOURNAL
    if not path.is_file():
        return []
    return [line for _, line in _valid_lines(path)]


class JournalWriter:
    """Appends lines to a face set's journal, flushed one by one (a process kill loses at most the last)."""

    def __init__(self, root: Path) -> None:
        self.path = root / JOURNAL
        end = 0
        if self.path.is_file():
            for end, _ in _valid_lines(self.path):
                pass
        self._file = open(self.path, "ab")
        if self._file.tell() != end:  # cut a torn tail so the next line starts on a line of its own
            self._file.truncate(end)
            self._file.seek(end)

    def append(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def remove(root: Path) -> None:
    try:
        os.unlink(root / JOURNAL)
    except FileNotFoundError:
        pass


def replay(lines: list[dict], records: dict[str, dict], entries: list[dict]) -> None:
    """Apply journal lines to records (keyed by file name) and source entries (keyed by content id), in place."""
    for line in lines:
        for name in line.get("drop", ()):
            records.pop(name, None)
        for record in line.get("faces", ()):
            if isinstance(record, dict) and isinstance(record.get("file"), str):
                records[record["file"]] = record
        entry = line.get("source")
        if isinstance(entry, dict) and entry.get("id"):
            for i, old in enumerate(entries):
                if old.get("id") == entry["id"] or (not old.get("id") and old.get("path") == entry.get("path")):
                    entries[i] = entry
                    break
            else:
                entries.append(entry)


def lock(root: Path) -> int | None:
    """Hold the face set for one writer (`locks.hold`: a lock on the folder itself, nothing left behind).

    Two extracts into one folder would interleave journals and compactions and lose faces; the second one is
    refused instead, naming the first. Released by `unlock` or when the process dies.
    """
    from ..errors import FaceSetError

    return locks.hold(root, lambda who: FaceSetError(
        f"{root}: {who} is writing to this face set (an extract, `masquerade faces` or the UI); wait for it "
        "to finish, then run yours"))


def unlock(fd: int | None) -> None:
    locks.release(fd)
