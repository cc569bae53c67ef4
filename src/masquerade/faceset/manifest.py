"""`faceset.json` as one typed, frozen record: the only code that reads or writes a face set's manifest.

Why one record: every stage (extract, curate, train, train-upscaler, convert's model, the UI, bench) needs the
face set's settings, and each used to pick fields out of the JSON with a default of its own; the crop `size`
alone was read with three (64, the model's size, 0). Here each field is read, checked and defaulted once.

Versions it reads (both still written by Masquerades in use):
- schema 1: sources keyed by path only (`path`, `next_frame`, `done`, `frames_read`, `faces`);
- schema 2: each source also has its content `id` and `kind` (faceset/sources.py).
Any of them may lack `kind`, `id`, `count` or `complete` (sets made before those were written, or killed
before the first checkpoint): they read as "masquerade.faceset", "", 0 and False. Keys this Masquerade does
not know are kept (`extra`) and written back, so a face set edited by a newer one loses nothing.

The rule for `size` (and the other settings: template, coverage, detector): **no default**. Every version
ever written holds the crop size, and it is what the faces' matrices and landmarks are measured in; a guessed
size would put landmarks, caches and convert's cut silently in the wrong place, so a manifest without one is
damaged and refused with one clear error (as a missing template always was).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

from .. import atomic
from ..errors import FaceSetError
from .check import MANIFEST, damaged, read_json

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)  # 1: faces named by input position, sources keyed by path
KIND = "masquerade.faceset"
SETTINGS = ("template", "size", "coverage", "detector")  # what extract was run with; a set only grows alike
_SOURCE_FIELDS = {"path": str, "next_frame": int, "done": bool, "frames_read": int, "faces": int}


@dataclass(frozen=True)
class FaceSetManifest(Mapping):
    """A face set's `faceset.json`. Also a read-only mapping by field name (`m["size"]`, `dict(m)`), because
    model manifests and reports copy face set fields by name; new code reads the attributes."""

    template: str
    size: int  # side of the aligned crops in pixels; required (module docstring)
    coverage: str
    detector: str
    sources: tuple[dict, ...] = ()  # one entry per input: its id, path, kind and resume point (faceset/sources.py)
    id: str = ""  # content id of the faces (FaceSet.content_id): training caches and models name the set by it
    count: int = 0
    complete: bool = False  # False while extract runs or after it was killed
    schema_version: int = SCHEMA_VERSION
    kind: str = KIND
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys of a newer Masquerade, kept as they were

    # -- reading -------------------------------------------------------------------------------------------
    @classmethod
    def read(cls, root: str | Path) -> "FaceSetManifest":
        """The manifest of the face set in `root`; every kind of damage is one FaceSetError saying what to do."""
        root = Path(root)
        return cls.from_dict(read_json(root, MANIFEST), root)

    @classmethod
    def from_dict(cls, m: Any, root: str | Path = Path(".")) -> "FaceSetManifest":
        """A manifest of any readable schema (see the module docstring); `root` names the set in errors."""
        root = Path(root)
        if isinstance(m, FaceSetManifest):
            return m
        if not isinstance(m, Mapping):
            raise damaged(root, MANIFEST, f"it holds {type(m).__name__ if m is not None else 'null'}, not a manifest")
        if "schema_version" not in m:
            raise damaged(root, MANIFEST, "it has no schema_version")
        if m.get("schema_version") not in READABLE_SCHEMAS:
            raise FaceSetError(f"{root}: face set schema {m.get('schema_version')!r} is not supported (this "
                               f"Masquerade reads {', '.join(map(str, READABLE_SCHEMAS))}); re-extract it or "
                               "update Masquerade")
        for key, kind in (("size", int), ("template", str), ("coverage", str), ("detector", str), ("sources", list)):
            value = m.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise damaged(root, MANIFEST, f"{key!r} is missing or not {'an' if kind is int else 'a'} "
                                              f"{kind.__name__}")
        if not all(isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in _SOURCE_FIELDS.items())
                   for e in m["sources"]):
            raise damaged(root, MANIFEST, "a source entry lacks its path, resume point or counts")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(template=m["template"], size=m["size"], coverage=m["coverage"], detector=m["detector"],
                   sources=tuple(dict(e) for e in m["sources"]), id=str(m.get("id") or ""),
                   count=m["count"] if isinstance(m.get("count"), int) else 0, complete=bool(m.get("complete", False)),
                   schema_version=m["schema_version"], kind=str(m.get("kind") or KIND),
                   extra={k: v for k, v in m.items() if k not in known})

    @classmethod
    def of(cls, faceset: Any) -> "FaceSetManifest":
        """The manifest of an open face set, or of anything with a `manifest` mapping (a training subset, a
        test's edited set): where every stage reads a face set's size and settings."""
        return cls.from_dict(getattr(faceset, "manifest", faceset), getattr(faceset, "root", None) or Path("."))

    # -- writing -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in the order extract has always written them (a rewrite of an unchanged set
        is then byte for byte the same file)."""
        return {**self.extra, "schema_version": self.schema_version, "kind": self.kind, "template": self.template,
                "size": self.size, "coverage": self.coverage, "detector": self.detector, "id": self.id,
                "count": self.count, "complete": self.complete, "sources": [dict(e) for e in self.sources]}

    def write(self, root: str | Path) -> None:
        """Write `faceset.json` atomically (called by `FaceSet` only, under its writer lock)."""
        atomic.write_json(Path(root) / MANIFEST, self.to_dict())

    def settings(self) -> dict[str, Any]:
        """{template, size, coverage, detector}: what a run adding faces must match."""
        return {key: getattr(self, key) for key in SETTINGS}

    def updated(self, **changes: Any) -> "FaceSetManifest":
        return replace(self, **changes)

    # -- read-only mapping (see the class docstring) --------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())
