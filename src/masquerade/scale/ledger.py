"""The job ledger: a small JSON file beside the output recording which pieces of a Ray job are finished.

Why: a job interrupted half-way (Ctrl-C, a lost node, a crashed driver) resumes without redoing finished
files or segments. A piece counts as done only when the ledger says so *and* its file exists; the ledger is
written atomically after each piece, and is only trusted when the job's key (model, settings) matches.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from .. import atomic

SCHEMA_VERSION = 2  # 2: pieces carry their frames' source timestamps (1's started at 0)
LEDGER = "ledger.json"


def fingerprint(path: str | Path) -> str:
    """Size + modification time of a file (or of every file in a folder): cheap, and changes on edit."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(path) if path.is_dir() else p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


class Ledger:
    """`items` maps an input path to its record; records hold `done` flags and per-segment state."""

    def __init__(self, work_dir: Path, kind: str, key: dict[str, Any]) -> None:
        self.work_dir, self.path = Path(work_dir), Path(work_dir) / LEDGER
        self.data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": kind, "key": key, "items": {}}

    @classmethod
    def open(cls, work_dir: str | Path, kind: str, key: dict[str, Any]) -> "Ledger":
        """The ledger of an unfinished job with the same key, or a fresh one (stale work files removed)."""
        ledger = cls(Path(work_dir), kind, json.loads(json.dumps(key, default=str)))
        try:
            saved = atomic.read_json(ledger.path)
        except (FileNotFoundError, json.JSONDecodeError, OSError):
            saved = None
        if saved and saved.get("schema_version") == SCHEMA_VERSION and saved.get("kind") == kind \
                and saved.get("key") == ledger.data["key"]:
            ledger.data = saved
        elif ledger.work_dir.exists():
            ledger._remove_ours()
        ledger.work_dir.mkdir(parents=True, exist_ok=True)
        return ledger

    def _remove_ours(self) -> None:
        """Delete the work folder only if it is a job folder we made (it holds our ledger) or is empty;
        a folder of the same name holding anything else is the user's and is refused, never deleted."""
        from ..errors import OutputError

        if not self.work_dir.is_dir() or self.work_dir.is_symlink():
            raise OutputError(f"{self.work_dir}: Masquerade needs this name for its job folder, but something "
                              "else is there; move it away")
        if (self.work_dir / LEDGER).is_file():
            shutil.rmtree(self.work_dir)
        elif any(self.work_dir.iterdir()):
            raise OutputError(f"{self.work_dir}: Masquerade needs this name for its job folder, but a folder of "
                              "yours is there; move it away (it is never deleted)")
        else:
            self.work_dir.rmdir()

    def item(self, source: str, identity: dict[str, Any], segments: list[dict[str, Any]]) -> dict[str, Any]:
        """The saved record for `source` if it has the same identity and segment plan, else a fresh one.

        A record is {"identity", "done", "segments": [{..plan.., "done", "result"}]}.
        """
        identity = json.loads(json.dumps(identity, default=str))
        plan = [(s["start"], s["end"]) for s in segments]
        saved = self.data["items"].get(source)
        if saved is None or saved.get("identity") != identity or \
                [(s["start"], s["end"]) for s in saved.get("segments", [])] != plan:
            saved = {"identity": identity, "done": False,
                     "segments": [{**s, "done": False, "result": None} for s in segments]}
            self.data["items"][source] = saved
        return saved

    def save(self) -> None:
        atomic.write_json(self.path, self.data)

    def remove(self) -> None:
        """The job finished: its outputs are in place, so the work folder (ours: it holds the ledger) goes."""
        if (self.work_dir / LEDGER).is_file() and not self.work_dir.is_symlink():
            shutil.rmtree(self.work_dir, ignore_errors=True)
