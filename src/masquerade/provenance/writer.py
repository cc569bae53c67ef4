"""The only way Masquerade writes synthetic pixels to disk: watermark every frame, encode, sign, keep a copy
of the manifest in the local store, then move into place.

Why here and nowhere else: with one writer, "every output is marked" is a property of the code, not of
each caller's discipline. Files appear at their final path only once they are complete and signed
(temp files beside the destination, named by `outputs.partial_path`, then `os.replace`), so a crash never
leaves an unmarked output; a killed run's temp files are swept (`outputs.sweep_partials`) the next time
anything is written to that folder. An existing file at the destination is replaced only if Masquerade
made it (`made_by_masquerade`).

Each output file gets its own watermark nonce, so its mark id (model prefix + nonce) names one manifest in
the store (16-bit nonces: two outputs of one model share an id with odds of 1 in 65,536 per pair, and the
store then lists both).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from masquerade.atomic import FinishOrAbort
from masquerade.errors import MediaError, OutputError, ProvenanceError

from masquerade.outputs import claim_file, partial_path, sweep_partials

from . import store, watermark
from .keys import Credentials, check_credentials
from .manifest import made_by_masquerade, mime_type, read_manifest_label, sign_file

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


@dataclass(frozen=True)
class Provenance:
    """What the marks say about an output: which model made it, from which input, signed by whom."""

    model_hash: str  # hex, at least 8 digits; the watermark carries the first 16 bits (32 in version 2)
    source: str | None = None  # input media path: becomes the C2PA ingredient
    credentials: Credentials | None = None  # None: this user's Masquerade key (made on first use)
    # The watermark nonce. None: a fresh one per output file (the normal case). Set it only when several
    # processes mark pieces of one file (see `IntermediateVideoWriter`) and must agree on it.
    nonce: int | None = None
    # The watermark's payload version (`payload.FORMATS`): the current one, except for a job that began
    # marking the pieces of a video with an earlier version, whose later pieces must carry the same mark.
    mark_version: int = watermark.VERSION

    def __post_init__(self) -> None:
        try:
            watermark.payload_bits(self.model_hash, self.nonce or 0, self.mark_version)
        except ValueError as exc:
            raise ProvenanceError(f"{exc}; pass the model's content hash") from None

    def resolve_credentials(self) -> Credentials:
        """The credentials to sign with, checked now (see `keys.check_credentials`), before any pixels."""
        return self.credentials if self.credentials is not None else check_credentials()


_SWEPT: set[Path] = set()


def _sweep_once(folder: Path) -> None:
    """Remove a killed run's temp files from `folder`, once per process (a folder of stills is written often)."""
    key = folder.resolve()
    if key not in _SWEPT:
        sweep_partials(key)
        _SWEPT.add(key)


class _Staging:
    """Two temp paths beside the destination (unsigned, signed) and the final atomic move."""

    def __init__(self, path: str | os.PathLike[str], suffixes: tuple[str, ...], source: str | None,
                 nonce: int | None = None, version: int = watermark.VERSION) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in suffixes:
            raise ProvenanceError(f"{self.path}: synthetic output must end in one of {', '.join(suffixes)}")
        if not self.path.parent.is_dir():
            raise ProvenanceError(f"{self.path.parent}: output folder does not exist; create it first")
        if not os.access(self.path.parent, os.W_OK):
            raise ProvenanceError(f"{self.path.parent}: output folder is not writable; choose another output path")
        if self.path.is_dir():
            raise OutputError(f"{self.path} is a folder; give a file name for the output")
        if source is not None and Path(source).resolve() == self.path.resolve():
            raise OutputError(f"{self.path}: the output would overwrite its own input; choose another output path")
        claim_file(self.path, made_by_masquerade)  # only our own earlier output may be replaced
        _sweep_once(self.path.parent)
        self.nonce = watermark.new_nonce() if nonce is None else int(nonce)
        self.version = version
        self.unsigned = partial_path(self.path, f".unsigned{suffix}")
        self.signed = partial_path(self.path, f".signed{suffix}")

    def finish(self, provenance: Provenance, credentials: Credentials) -> Path:
        """Sign, keep the manifest in the store, then move into place (a store failure leaves no output)."""
        manifest = sign_file(self.unsigned, self.signed, provenance.model_hash, credentials,
                             source=provenance.source, title=self.path.name, nonce=self.nonce,
                             mark_version=self.version)
        store.record(watermark.mark_id(provenance.model_hash, self.nonce, self.version), manifest,
                     label=read_manifest_label(self.signed) or "", title=self.path.name, output=self.path,
                     model_hash=provenance.model_hash, signer=credentials.certificate_name(),
                     fmt=mime_type(self.path))
        try:
            os.replace(self.signed, self.path)
        except OSError as exc:
            raise ProvenanceError(f"could not move the finished file to {self.path}: {exc}") from exc
        self.cleanup()
        return self.path

    def cleanup(self) -> None:
        for p in (self.unsigned, self.signed):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def write_synthetic_image(path: str | os.PathLike[str], rgb: np.ndarray, provenance: Provenance) -> Path:
    """Watermark, encode (.png or .jpg by suffix), sign, and atomically place one synthetic image."""
    from masquerade.media import write_image

    watermark.check_frame(rgb)
    credentials = provenance.resolve_credentials()
    staging = _Staging(path, _IMAGE_SUFFIXES, provenance.source, provenance.nonce, provenance.mark_version)
    try:
        write_image(staging.unsigned, watermark.embed(rgb, provenance.model_hash, nonce=staging.nonce,
                                                      version=staging.version))
        return staging.finish(provenance, credentials)
    except BaseException:
        staging.cleanup()
        raise


class SyntheticVideoWriter(FinishOrAbort):
    """H.264 MP4 writer for synthetic frames: each frame is watermarked; the file is signed on close."""

    def __init__(self, path: str | os.PathLike[str], fps: float, width: int, height: int, provenance: Provenance,
                 audio_from: str | None = None, crf: int = 18, color=None) -> None:
        from masquerade.media import VideoWriter

        self.provenance = provenance
        self._credentials = provenance.resolve_credentials()  # fail before encoding, not after
        self._staging = _Staging(path, _VIDEO_SUFFIXES, provenance.source, provenance.nonce, provenance.mark_version)
        self._size = (height, width)
        self.frames_written = 0
        self._closed = False
        try:
            self._writer = VideoWriter(self._staging.unsigned, fps, width, height, audio_from=audio_from, crf=crf,
                                       color=color)
        except BaseException:
            self._staging.cleanup()
            raise

    @property
    def path(self) -> Path:
        return self._staging.path

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        """Watermark one RGB uint8 frame and encode it (at `timestamp` seconds: see media.VideoWriter)."""
        if self._closed:
            raise ValueError("write() after close()")
        watermark.check_frame(frame)
        if frame.shape[:2] != self._size:
            got, want = f"{frame.shape[1]}x{frame.shape[0]}", f"{self._size[1]}x{self._size[0]}"
            raise ValueError(f"frame is {got}, the video is {want}")
        self._writer.write(watermark.embed(frame, self.provenance.model_hash, nonce=self._staging.nonce,
                                           version=self._staging.version), timestamp)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding, sign, and move the file into place."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            if self.frames_written == 0:
                raise MediaError(f"{self.path}: no frames were written, so no video was made")
            self._writer.close()
            return self._staging.finish(self.provenance, self._credentials)
        except BaseException:
            self._abort_writer()
            self._staging.cleanup()
            raise

    def abort(self) -> None:
        """Drop everything written so far; nothing appears at `path`."""
        if not self._closed:
            self._closed = True
            self._abort_writer()
        self._staging.cleanup()

    def _abort_writer(self) -> None:
        try:
            self._writer.abort()
        except Exception:  # noqa: BLE001 - already failing or already closed; the files are removed next
            pass


class IntermediateVideoWriter(FinishOrAbort):
    """A piece of a synthetic video made in parallel: every frame watermarked, no audio, unsigned, hidden.

    The piece appears at `path` only when complete (temp file + `os.replace`), so a killed worker never
    leaves a piece that looks finished. It is never a user-facing output: `publish_joined_video` joins the
    pieces and signs the whole file once.

    All pieces of one video must carry the same `nonce` and `version`, and `publish_joined_video` must be
    given a `Provenance` with them: choose the nonce once per video (`watermark.new_nonce()`) and keep both
    with the job. Without one, pieces carry nonce 0, and the mark id then names the model only (the store may hold
    several manifests under it).
    """

    def __init__(self, path: Path, fps: float, width: int, height: int, model_hash: str, crf: int,
                 color=None, nonce: int | None = None, version: int = watermark.VERSION) -> None:
        from masquerade.media import VideoWriter

        self.path, self.model_hash, self.version = Path(path), model_hash, version
        self.nonce = 0 if nonce is None else int(nonce)
        watermark.payload_bits(model_hash, self.nonce, version)
        self._tmp = partial_path(self.path, ".tmp.mp4")
        self._writer = VideoWriter(self._tmp, fps, width, height, crf=crf, color=color)
        self.frames_written = 0

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        watermark.check_frame(frame)
        self._writer.write(watermark.embed(frame, self.model_hash, nonce=self.nonce, version=self.version), timestamp)
        self.frames_written += 1

    def close(self) -> Path:
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._writer.abort()
        finally:
            self._tmp.unlink(missing_ok=True)


def publish_joined_video(build: Callable[[Path], object], output: str | os.PathLike[str], provenance: Provenance) -> Path:
    """Sign a video assembled from watermarked pieces once, then move it into place atomically.

    `build(path)` writes the joined, unsigned file at `path` (pieces from `IntermediateVideoWriter`). The same
    staging as `SyntheticVideoWriter` applies: nothing unsigned ever sits at `output`. The pieces' nonce is
    `provenance.nonce` (0 when unset, as `IntermediateVideoWriter` defaults) in `provenance.mark_version`.
    """
    credentials = provenance.resolve_credentials()
    staging = _Staging(output, _VIDEO_SUFFIXES, provenance.source, provenance.nonce or 0, provenance.mark_version)
    try:
        build(staging.unsigned)
        return staging.finish(provenance, credentials)
    except BaseException:
        staging.cleanup()
        raise
