"""The UI's workspace folder, and the one gate every browser-sent path and upload goes through.

Why a gate: the browser can send any string (a dropdown value, a typed name). Everything the UI reads or
writes is resolved here, relative to one area of the workspace, and refused if it could land outside it
(absolute paths, `..`, symlinks pointing out). Uploads are checked by size and by content (`media.probe`
decodes them), not only by their extension.

Why `publish`: the web server may read only one folder of the workspace, `.shown/`, and what lands there is
put there one file at a time by the page that shows it (a face thumbnail, a training preview, a finished
output), by suffix, never a weights file or a whole folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path

from ..errors import MasqueradeError
from ..faceset import FaceSet
from ..media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, probe

AREAS = ("uploads", "facesets", "models", "outputs", "jobs")
SHOWN = ".shown"  # the only workspace folder the web server reads (see `Workspace.publish`)
SHOWABLE = (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".webm")  # what a page displays or offers
DEFAULT_MAX_UPLOAD = 2 * 1024**3  # 2 GiB
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PathRefused(MasqueradeError):
    """A path or name from the browser points outside the workspace or is not allowed."""


class UploadRefused(MasqueradeError):
    """An uploaded file is too large, not a supported type, or not really media."""


def check_name(name: str) -> str:
    """A user-chosen face set / model name: one plain path component, no dot first, no separators."""
    name = (name or "").strip()
    if not _NAME.match(name) or name in (".", ".."):
        raise PathRefused(f"{name!r} is not a usable name: use 1-64 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit")
    return name


class Workspace:
    """A folder holding uploads/, facesets/, models/, outputs/ and jobs/; nothing the UI touches is outside."""

    def __init__(self, root: str | Path, max_upload_bytes: int = DEFAULT_MAX_UPLOAD):
        self.root = Path(root).expanduser().resolve()
        self.max_upload_bytes = int(max_upload_bytes)
        for area in AREAS:
            (self.root / area).mkdir(parents=True, exist_ok=True)

    def area(self, area: str) -> Path:
        if area not in AREAS:
            raise ValueError(f"unknown workspace area {area!r}")
        return self.root / area

    def resolve(self, rel: str | Path, area: str | None = None) -> Path:
        """Resolve a browser-sent relative path inside `area` (or the workspace); refuse anything outside."""
        text = str(rel or "").strip()
        if not text or "\x00" in text:
            raise PathRefused("no path given")
        path = Path(text)
        if path.is_absolute() or path.drive or text.startswith(("/", "\\", "~")):
            raise PathRefused(f"{text}: absolute paths are not accepted; pick a file inside the workspace")
        if ".." in path.parts or ".." in text.replace("\\", "/").split("/"):
            raise PathRefused(f"{text}: '..' is not accepted in a workspace path")
        base = (self.area(area) if area else self.root).resolve()
        target = (base / path).resolve()  # follows symlinks, so a link pointing out is caught below
        if not target.is_relative_to(base):
            raise PathRefused(f"{text}: resolves outside the workspace ({base}); links out of it are refused")
        return target

    def rel(self, path: str | Path) -> str:
        """Workspace-relative form of a path we created (what jobs store and the browser sees)."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    # -- listings ---------------------------------------------------------------------------------------
    def _entries(self, area: str) -> list[Path]:
        base = self.area(area)
        out = []
        for p in sorted(base.iterdir()):
            if p.name.startswith("."):
                continue
            try:
                self.resolve(p.name, area)
            except PathRefused:
                continue  # a symlink pointing out of the workspace: not offered
            out.append(p)
        return out

    def media(self) -> list[str]:
        """Names of the videos and images in uploads/."""
        suffixes = IMAGE_SUFFIXES + VIDEO_SUFFIXES
        return [p.name for p in self._entries("uploads") if p.is_file() and p.suffix.lower() in suffixes]

    def facesets(self) -> list[str]:
        return [p.name for p in self._entries("facesets") if p.is_dir() and FaceSet.is_faceset(p)]

    def models(self) -> list[str]:
        return [p.name for p in self._entries("models") if p.is_dir() and is_model(p)]

    def outputs(self) -> list[str]:
        """Finished outputs (relative to outputs/): convert videos/images and preview PNGs."""
        base = self.area("outputs")
        files = [p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")]
        return sorted(p.relative_to(base).as_posix() for p in files if p.resolve().is_relative_to(base))

    # -- what the pages show ----------------------------------------------------------------------------
    def publish(self, path: str | Path) -> Path:
        """The copy of a workspace file that a page may show: a hard link (a copy where links fail) under
        `.shown/`, keyed by the file's path, size and mtime so a changed file gets a new URL."""
        src = Path(path).resolve()
        shown = self.root / SHOWN
        if not src.is_relative_to(self.root) or src.is_relative_to(shown):
            raise PathRefused(f"{Path(path).name}: only files inside the workspace are shown")
        if src.suffix.lower() not in SHOWABLE or src.name.startswith(".") or not src.is_file():
            raise PathRefused(f"{src.name}: not an image or video the pages show")
        st = src.stat()
        key = hashlib.sha256(f"{src.relative_to(self.root)}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:20]
        dest = shown / key / src.name
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                os.link(src, tmp)
            except OSError:  # no hard links here (another file system, FAT, ...): copy
                shutil.copyfile(src, tmp)
            tmp.replace(dest)
        return dest

    def clear_shown(self) -> None:
        """Forget every published copy (a new server starts empty; `.shown/` holds nothing but our copies)."""
        shutil.rmtree(self.root / SHOWN, ignore_errors=True)

    # -- uploads ----------------------------------------------------------------------------------------
    def check_upload(self, path: str | Path) -> Path:
        """Size and content check of an uploaded file; returns its path. Raises UploadRefused."""
        path = Path(path)
        if path.is_symlink() or not path.is_file():
            raise UploadRefused(f"{path.name}: not a regular file")
        size = path.stat().st_size
        if size > self.max_upload_bytes:
            raise UploadRefused(f"{path.name}: {size / 1e6:.1f} MB is over the upload limit of "
                                f"{self.max_upload_bytes / 1e6:.1f} MB (change it with max_upload_bytes)")
        if size == 0:
            raise UploadRefused(f"{path.name}: the file is empty")
        if path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            raise UploadRefused(f"{path.name}: not a video or image type Masquerade reads "
                                f"({', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)})")
        try:
            info = probe(path)  # decodes the header / image: content, not just the name
        except MasqueradeError as exc:
            raise UploadRefused(f"{path.name}: not readable media ({exc})") from None
        if info.kind not in ("video", "image"):
            raise UploadRefused(f"{path.name}: upload single videos or images")
        return path

    def ingest(self, upload: str | Path) -> str:
        """Check an upload and move it into uploads/ under a safe, unique name; returns that name."""
        src = self.check_upload(upload)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", src.stem).lstrip("._-")[:60] or "upload"
        suffix = src.suffix.lower()
        dest = self.area("uploads") / f"{stem}{suffix}"
        if dest.exists():
            dest = dest.with_name(f"{stem}-{uuid.uuid4().hex[:6]}{suffix}")
        tmp = dest.with_name(f".{dest.name}.part")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
        return dest.name

    def import_uploads(self, files, upload_dir: str | Path) -> tuple[list[str], list[str]]:
        """Ingest each browser upload; returns (names added, one line per refused file). The web server's
        copy of every upload is deleted either way, so raw uploads never stay where it serves files from."""
        added, problems = [], []
        for f in files or []:
            try:
                added.append(self.ingest(f))
            except UploadRefused as exc:
                problems.append(str(exc))
            finally:
                discard_upload(f, upload_dir)
        return added, problems


def is_model(folder: Path) -> bool:
    """Whether `folder` holds a model the stages can open (asked of the model store, not of its file names)."""
    from ..models.store import read_manifest

    try:
        read_manifest(folder)
    except MasqueradeError:
        return False
    return True


def discard_upload(path: str | Path | None, upload_dir: str | Path) -> None:
    """Delete a browser upload from the web server's upload folder once it was imported or refused.

    Only files inside `upload_dir` are touched (the handlers get nothing else from Gradio, but a path is
    checked before it is deleted, never assumed); the upload's own folder goes too when it is left empty.
    """
    if not path:
        return
    base = Path(upload_dir).resolve()
    p = Path(path)
    target = p.resolve()
    if p.is_symlink() or not target.is_relative_to(base) or target == base or not target.is_file():
        return
    target.unlink(missing_ok=True)
    parent = target.parent
    if parent != base:
        try:
            parent.rmdir()  # only when empty
        except OSError:
            pass
