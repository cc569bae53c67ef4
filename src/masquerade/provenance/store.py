"""The local manifest store: a copy of every manifest this user's Masquerade signed, keyed by its mark id.

Why: platforms strip C2PA manifests on upload, but the watermark survives. The mark carries a mark id
(model hash prefix + a per-file nonce) and each signed manifest records the same id in its
`c2pa.soft-binding` assertion, so `verify` on a stripped file can look the id up here and name the
manifest it came from. This is C2PA's "soft binding" lookup, with the user's own folder as the
manifest repository (nothing is uploaded anywhere).

Layout under `masquerade_home()/manifests/<mark id>/`: one `<signed at>-<token>.c2pa` (the signed manifest
store exactly as embedded, which c2pa can read and validate as a sidecar) and a `.json` summary beside it.
Several entries under one id are possible (a video made in parallel pieces without its own nonce); the
newest comes first.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from masquerade.atomic import write_bytes, write_json
from masquerade.errors import ProvenanceError

from .keys import masquerade_home
from .payload import format_of

SCHEMA_VERSION = 1


def store_dir() -> Path:
    return masquerade_home() / "manifests"


@dataclass(frozen=True)
class StoredManifest:
    """What the store remembers about one signed output."""

    mark_id: str
    label: str  # the manifest's C2PA label (urn:c2pa:...)
    signed_at: str  # ISO 8601, UTC, when Masquerade signed it
    title: str  # the output's file name
    output: str  # where the output was written
    model_hash: str
    signer: str | None
    format: str
    manifest_file: str  # the stored .c2pa next to this summary

    def to_dict(self) -> dict:
        return asdict(self)


def _is_id(name: str) -> bool:
    return format_of(name) is not None  # a mark id of any payload version (its digits' counts tell which)


def _check_id(mark_id: str) -> str:
    if not _is_id(mark_id):
        raise ValueError(f"not a Masquerade mark id: {mark_id!r}")
    return mark_id


def record(mark_id: str, manifest: bytes, *, label: str, title: str, output: str | Path, model_hash: str,
           signer: str | None, fmt: str) -> StoredManifest:
    """Keep a signed manifest under its mark id (atomic writes; the .c2pa lands before its summary)."""
    folder = store_dir() / _check_id(mark_id)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stem = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    entry = StoredManifest(mark_id=mark_id, label=label, signed_at=now.isoformat().replace("+00:00", "Z"),
                           title=title, output=str(Path(output).absolute()), model_hash=model_hash, signer=signer,
                           format=fmt, manifest_file=f"{stem}.c2pa")
    try:
        write_bytes(folder / entry.manifest_file, manifest)
        write_json(folder / f"{stem}.json", {"schema_version": SCHEMA_VERSION, **entry.to_dict()})
    except OSError as exc:
        raise ProvenanceError(f"cannot keep a copy of the manifest in {store_dir()}: {exc.strerror or exc}; "
                              "set MASQUERADE_HOME to a writable folder") from exc
    return entry


def lookup(mark_id: str) -> list[StoredManifest]:
    """Every stored manifest with this mark id, newest first; [] if none (or the id is malformed)."""
    try:
        folder = store_dir() / _check_id(mark_id)
    except ValueError:
        return []
    found = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(StoredManifest(**{k: data[k] for k in StoredManifest.__dataclass_fields__}))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged summary hides only itself
    return sorted(found, key=lambda m: m.signed_at, reverse=True)


def mark_ids() -> list[str]:
    """Every mark id the store holds a manifest for (the marks this user's Masquerade made), sorted.

    `verify` hands them to the watermark decoder, which can then test a weak mark against each of them
    (`watermark.decode_frames(..., known=...)`): far more sensitive than reading 48 unknown bits."""
    root = store_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_id(p.name) and any(p.glob("*.json")))


def manifest_bytes(entry: StoredManifest) -> bytes:
    """The stored signed manifest (a C2PA manifest store, JUMBF) for `entry`."""
    return (store_dir() / entry.mark_id / entry.manifest_file).read_bytes()
