"""Encode H.264 video (keeping a source's audio) and still images. RGB uint8 in.

These are low-level encoders. Anything holding synthetic pixels must be written through
`masquerade.provenance.writer`, which watermarks, calls these, then signs the file.

A video is written so that it plays like its source: each frame can carry the source frame's timestamp
(variable frame rate stays in sync with the copied audio), the YUV matrix, range, primaries and transfer
are tagged like the source's (`ColorTags`, BT.709 limited range by default) and used for the RGB -> YUV
conversion, and odd frame sizes are kept (4:4:4 chroma, which 4:2:0 cannot do at odd sizes).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from ..atomic import FinishOrAbort
from ..errors import MediaError
from .reader import ColorTags

TIME_BASE = Fraction(1, 90000)  # the MPEG clock: timestamps of common frame rates are whole ticks


class VideoWriter(FinishOrAbort):
    """H.264 MP4 writer. Audio comes from another file (stream copy) or from PCM samples.

    `write(frame, timestamp)` places the frame at `timestamp` seconds (the source frame's time); without
    timestamps frames are spaced at `fps`. `color` tags the stream (and picks the RGB -> YUV matrix).
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int, audio_from: str | Path | None = None,
                 crf: int = 18, preset: str = "veryfast", audio: np.ndarray | None = None, audio_rate: int = 16000,
                 color: ColorTags | None = None):
        import av
        from av.video.reformatter import VideoReformatter

        if width < 1 or height < 1:
            raise MediaError(f"cannot write a video of {width}x{height} pixels")
        self.path = Path(path)
        self._audio_from = Path(audio_from) if audio_from else None
        self._pcm, self._pcm_rate = audio, audio_rate
        self._color = color or ColorTags()
        self._rate = Fraction(fps).limit_denominator(100000)
        self._out = av.open(str(self.path), "w", format="mp4")
        self._stream = self._out.add_stream("libx264", rate=self._rate)
        self._stream.width, self._stream.height = width, height
        # 4:2:0 halves the chroma planes, which an odd side cannot do; 4:4:4 keeps the size exactly
        self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        cc = self._stream.codec_context
        cc.time_base = self._stream.time_base = TIME_BASE
        cc.colorspace, cc.color_range = self._color.space, self._color.range
        cc.color_primaries, cc.color_trc = self._color.primaries, self._color.trc
        self._reformatter = VideoReformatter()
        self._last_pts = -1
        self._audio_in = None
        self._audio_out = None
        if self._audio_from is not None:
            self._audio_in = av.open(str(self._audio_from))
            if self._audio_in.streams.audio:
                self._audio_out = self._out.add_stream_from_template(self._audio_in.streams.audio[0])
        elif audio is not None:
            self._audio_out = self._out.add_stream("aac", rate=audio_rate, layout="mono")
        self.frames_written = 0

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        """Encode one RGB frame at `timestamp` seconds (default: the next slot at the writer's fps)."""
        import av

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError("frames must be H×W×3 uint8 RGB")
        if frame.shape[1] != self._stream.width or frame.shape[0] != self._stream.height:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} != video {self._stream.width}x{self._stream.height}")
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf = self._reformatter.reformat(rgb, format=self._stream.pix_fmt, dst_colorspace=self._color.sws_matrix,
                                        dst_color_range=self._color.range)
        if timestamp is None:
            pts = int(round(self.frames_written / self._rate / TIME_BASE))
        else:
            pts = int(round(Fraction(timestamp).limit_denominator(10 ** 9) / TIME_BASE))
        vf.pts = self._last_pts = max(pts, self._last_pts + 1)  # strictly increasing, whatever the source did
        vf.time_base = TIME_BASE
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


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, audio: np.ndarray | None = None,
                audio_from: str | Path | None = None, crf: int = 18, color: ColorTags | None = None) -> Path:
    """Encode a sequence of RGB frames as an MP4 in one call (used for generated, non-synthetic-face clips)."""
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with VideoWriter(path, fps, w, h, audio_from=audio_from, crf=crf, audio=audio, color=color) as writer:
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
