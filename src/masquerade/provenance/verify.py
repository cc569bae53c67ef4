"""`verify(path)`: does this image or video carry Masquerade's marks, and are they intact?

Two independent checks, so that removing one does not hide the file's origin: the signed C2PA manifest
(present? signature intact? Masquerade's key? this user's?) and the invisible watermark (one frame for an
image; evidence pooled over up to `MAX_FRAMES` frames sampled from a video). When the manifest is gone
but the mark survives, the mark id it carries is looked up in this user's manifest store (`store`), which
names the manifest the file was signed with: C2PA's soft-binding lookup.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from masquerade.errors import MasqueradeError

from . import store, watermark
from .keys import trust_anchor
from .manifest import ManifestReport, read_manifest

MAX_FRAMES = 60
MAX_STEP = 10  # sample every 10th frame at most, so a long video is not decoded end to end

SYNTHETIC, TAMPERED, STRIPPED, NONE, ERROR = "synthetic", "tampered", "stripped", "none", "error"
_EXIT = {SYNTHETIC: 0, TAMPERED: 0, STRIPPED: 0, NONE: 1, ERROR: 2}


@dataclass(frozen=True)
class Verdict:
    """The outcome of `verify`; `summary` is the one line to show, `to_dict()` the JSON to print."""

    path: str
    status: str  # synthetic | tampered | stripped | none | error
    manifest_present: bool = False
    manifest_valid: bool = False  # signature and hashes intact
    manifest_errors: tuple[str, ...] = ()
    manifest_by_masquerade: bool = False
    signer_trusted: bool = False  # the chain ends at this user's Masquerade root
    signer_is_masquerade_key: bool = False  # issued by a Masquerade root (this user's or another's)
    signer: str | None = None
    masquerade_version: str | None = None
    model_hash: str | None = None  # from the manifest (full) or else the watermark (16 bits; 32 in version 2)
    watermark_found: bool = False
    watermark_score: float = 0.0
    watermark_model_hash: str | None = None
    watermark_mark_id: str | None = None  # model prefix + per-file nonce carried by the mark
    stored_manifest: dict | None = None  # the newest manifest in this user's store with that mark id
    stored_manifests: int = 0  # how many the store holds for it
    frames_checked: int = 0
    error: str | None = None

    @property
    def marks_found(self) -> bool:
        return self.status in (SYNTHETIC, TAMPERED, STRIPPED)

    @property
    def exit_code(self) -> int:
        """0: marks found; 1: no marks; 2: the file could not be checked."""
        return _EXIT[self.status]

    @property
    def summary(self) -> str:
        wm = f"watermark present (model {self.watermark_model_hash})" if self.watermark_found else "no watermark found"
        if self.frames_checked == 0:  # e.g. a video cut short: its manifest still says where it came from
            wm = "its pixels could not be decoded (the file is cut short or damaged), so the watermark was not checked"
        if self.status == ERROR:
            return f"error — {self.error}"
        if self.status == NONE:
            return "no Masquerade marks found"
        if self.status == TAMPERED:
            why = ", ".join(self.manifest_errors) or "unreadable manifest"
            return f"manifest signature invalid — file was altered after signing ({why}); {wm}"
        if self.status == STRIPPED:
            head = ("Masquerade watermark present, but the C2PA manifest is not Masquerade's" if self.manifest_present
                    else "manifest stripped")
            return f"{head}; {self._lookup_line()}"
        if self.signer_trusted:
            who = "this user's key"
        elif self.signer_is_masquerade_key:
            who = "a Masquerade key not issued on this machine"
        else:
            who = f"{self.signer or 'an unnamed certificate'} (not a Masquerade key)"
        made = f"synthetic — made by Masquerade {self.masquerade_version} with model {self.model_hash}"
        return f"{made}; signed with {who}; {wm}"

    def _lookup_line(self) -> str:
        """Where the watermark leads: a manifest in this user's store, or nowhere (said plainly)."""
        m = self.stored_manifest
        if not m:
            return (f"watermark present (model {self.watermark_model_hash}, mark {self.watermark_mark_id}); "
                    "this user's manifest store has no manifest for it")
        more = f" (newest of {self.stored_manifests} with this mark)" if self.stored_manifests > 1 else ""
        return (f"watermark leads to manifest {m['label']}{more} for {m['title']} (model {m['model_hash']}), "
                f"signed on {m['signed_at']} by {m['signer'] or 'this user'}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["manifest_errors"] = list(self.manifest_errors)
        d.update(marks_found=self.marks_found, exit_code=self.exit_code, summary=self.summary)
        return d


def _watermark(path: Path) -> tuple[watermark.Detection, int]:
    from masquerade.media import probe, read_frames, read_image

    info = probe(path)
    if info.kind == "image":
        return watermark.decode(read_image(path), known=store.mark_ids()), 1
    step = min(MAX_STEP, max(1, (info.frame_count or 0) // MAX_FRAMES))  # spread out, but decode <= 600 frames
    frames = []
    stream = read_frames(path, every_nth=step)
    try:
        for frame in stream:
            frames.append(frame.image)
            if len(frames) >= MAX_FRAMES:
                break
    finally:
        stream.close()
    if not frames:
        raise MasqueradeError(f"{path}: no decodable frames")
    return watermark.decode_frames(frames, known=store.mark_ids()), len(frames)


def files_to_verify(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files `verify` checks for these paths: a folder stands for the images and videos directly in it,
    sorted by name (the folder a convert wrote, a download folder); anything else is checked as given, so a
    missing file or an empty folder still gets its own error verdict."""
    from ..media import is_media

    files: list[Path] = []
    for path in map(Path, paths):
        inside = sorted(p for p in path.iterdir() if p.is_file() and is_media(p)) if path.is_dir() else [path]
        files += inside or [path]
    return files


def verify(path: str | os.PathLike[str]) -> Verdict:
    """Check one image or video for Masquerade's manifest and watermark. Never raises for a bad file."""
    p = Path(path)
    try:
        if p.is_dir():
            raise MasqueradeError(f"{p}: a folder without images or videos in it")
        if not p.is_file():
            raise MasqueradeError(f"{p}: no such file")
        report: ManifestReport = read_manifest(p, trust_anchor())
    except MasqueradeError as exc:
        return Verdict(path=str(p), status=ERROR, error=str(exc))
    try:
        detection, n_frames = _watermark(p)
    except MasqueradeError as exc:
        if not report.present or report.error:  # neither pixels nor manifest readable
            return Verdict(path=str(p), status=ERROR, error=str(exc))
        detection, n_frames = None, 0  # pixels undecodable (e.g. altered); the manifest still speaks
    wm_found = detection is not None and detection.detected
    ours = report.present and report.by_masquerade
    stored = store.lookup(detection.mark_id) if wm_found else []
    if report.present and not report.intact and (ours or wm_found):
        status = TAMPERED
    elif ours and report.synthetic:
        status = SYNTHETIC
    elif wm_found:
        status = STRIPPED
    else:
        status = NONE
    return Verdict(
        path=str(p),
        status=status,
        manifest_present=report.present,
        manifest_valid=report.intact,
        manifest_errors=report.errors,
        manifest_by_masquerade=report.by_masquerade,
        signer_trusted=report.trusted,
        signer_is_masquerade_key=report.masquerade_key,
        signer=report.signer,
        masquerade_version=report.version,
        model_hash=report.model_hash if ours else (stored[0].model_hash if stored else
                                                   detection.model_hash if wm_found else None),
        watermark_found=wm_found,
        watermark_score=round(detection.score, 2) if detection is not None else 0.0,
        watermark_model_hash=detection.model_hash if wm_found else None,
        watermark_mark_id=detection.mark_id if wm_found else None,
        stored_manifest=stored[0].to_dict() if stored else None,
        stored_manifests=len(stored),
        frames_checked=n_frames,
    )
