"""The distortions the watermark must survive, shared by the tests and `bench/watermark.py`.

Each takes and returns RGB uint8 (the H.264 one takes and returns a list of frames). They work in memory
and write nothing to disk.
"""

from __future__ import annotations

import io

import cv2
import numpy as np


def jpeg(rgb: np.ndarray, quality: int = 50) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def rescale(rgb: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Down (area) and back up (bilinear) to the original size, as a re-upload pipeline would."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def brightness(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(rgb.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


def crop(rgb: np.ndarray, fraction: float = 0.1, side: str = "left") -> np.ndarray:
    h, w = rgb.shape[:2]
    cut_w, cut_h = round(w * fraction), round(h * fraction)
    return {
        "left": rgb[:, cut_w:],
        "right": rgb[:, : w - cut_w],
        "top": rgb[cut_h:],
        "bottom": rgb[: h - cut_h],
    }[side].copy()


def h264(frames: list[np.ndarray], crf: int = 28, fps: int = 25) -> list[np.ndarray]:
    """Encode to H.264 yuv420p MP4 in memory at the given CRF and decode back."""
    import av

    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[: h - h % 2, : w - w % 2]), format="rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r") as inp:
        return [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
