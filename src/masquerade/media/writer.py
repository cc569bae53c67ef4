"""Encode H.264 video (keeping a source's audio) and still images. RGB uint8 in.

These are low-level encoders. Anything holding synthetic pixels must be written through
`masquerade.provenance.writer`, which watermarks, calls these, then signs the file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import MediaError


class VideoWriter:
    """H.264 (yuv420p) MP4 writer. Audio comes from another file (stream copy) or from PCM samples."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, audio_from: str | Path | None = None,
                 crf: int = 18, preset: str = "veryfast", audio: np.ndarray | None = None, audio_rate: int = 16000):
        import av

        if width % 2 or height % 2:
            raise MediaError(f"H.264 needs even frame sizes; got {width}x{height}")
        self.path = Path(path)
        self._audio_from = Path(audio_from) if audio_from else None
        self._pcm, self._pcm_rate = audio, audio_rate
        self._out = av.open(str(self.path), "w", format="mp4")
        self._stream = self._out.add_stream("libx264", rate=Fraction(fps).limit_denominator(100000))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        self._audio_in = None
        self._audio_out = None
        if self._audio_from is not None:
            self._audio_in = av.open(str(self._audio_from))
            if self._audio_in.streams.audio:
                self._audio_out = self._out.add_stream_from_template(self._audio_in.streams.audio[0])
        elif audio is not None:
            self._audio_out = self._out.add_stream("aac", rate=audio_rate, layout="mono")
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        import av

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError("frames must be H×W×3 uint8 RGB")
        if frame.shape[1] != self._stream.width or frame.shape[0] != self._stream.height:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} != video {self._stream.width}x{self._stream.height}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(vf):
            self._out.mux(packet)
        self.frames_written += 1

    def _mux_audio(self) -> None:
        import av

        if self._audio_out is None:
            return
        if self._audio_in is not None:
            src = self._audio_in.streams.audio[0]
            for packet in self._audio_in.demux(src):
                if packet.dts is None:
                    continue
                packet.stream = self._audio_out
                self._out.mux(packet)
            return
        pcm = np.asarray(self._pcm, dtype=np.int16)
        step = 1024
        for i in range(0, len(pcm), step):
            af = av.AudioFrame.from_ndarray(pcm[None, i:i + step], format="s16", layout="mono")
            af.sample_rate = self._pcm_rate
            af.pts = i
            for packet in self._audio_out.encode(af):
                self._out.mux(packet)
        for packet in self._audio_out.encode(None):
            self._out.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._mux_audio()
        self._out.close()
        if self._audio_in is not None:
            self._audio_in.close()

    def abort(self) -> None:
        """Close without finishing; the caller removes the file."""
        try:
            self._out.close()
        finally:
            if self._audio_in is not None:
                self._audio_in.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, audio: np.ndarray | None = None,
                audio_from: str | Path | None = None, crf: int = 18) -> Path:
    """Encode a sequence of RGB frames as an MP4 in one call (used for generated, non-synthetic-face clips)."""
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with VideoWriter(path, fps, w, h, audio_from=audio_from, crf=crf, audio=audio) as writer:
        writer.write(first)
        for frame in frames:
            writer.write(frame)
    return Path(path)


def write_image(path: str | Path, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB image; the format follows the suffix (.png, .jpg, ...)."""
    import cv2

    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise MediaError(f"{path}: cannot encode an image with suffix {path.suffix!r}")
    path.write_bytes(buf.tobytes())
    return path
