"""Sample material that ships inside installed packages: two public-domain portraits and clips made from them.

The demo and the tests use the same generator. Each clip moves, rotates, scales and relights a portrait by
*known* similarity transforms, so tests can check that extraction recovers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PORTRAITS = ("astronaut", "grace_hopper")


def portrait(name: str) -> np.ndarray:
    """A public-domain portrait as RGB uint8: skimage's astronaut or matplotlib's Grace Hopper."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut()[:, :, :3])
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB")).copy()
    raise ValueError(f"unknown portrait {name!r}; choose one of {', '.join(PORTRAITS)}")


# Approximate face centres (x, y) and face widths in each portrait's own pixels, used to frame the clip.
_FACE_CENTRE = {"astronaut": (225.0, 115.0, 130.0), "grace_hopper": (265.0, 225.0, 190.0)}


@dataclass(frozen=True)
class Clip:
    """Frames of a synthetic clip and, per frame, the 2×3 transform from portrait pixels to frame pixels."""

    frames: list[np.ndarray]
    transforms: list[np.ndarray]
    fps: float


def _similarity(angle_deg: float, scale: float, centre: tuple[float, float], to: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    rot = np.array([[c, -s], [s, c]])
    t = np.asarray(to) - rot @ np.asarray(centre)
    return np.hstack([rot, t[:, None]])


def make_clip(
    name: str,
    frames: int = 24,
    size: tuple[int, int] = (320, 240),
    fps: float = 12.0,
    seed: int = 0,
    max_angle: float = 15.0,
    relight: bool = True,
) -> Clip:
    """Render `frames` views of a portrait with smooth random rotation, scale, translation and lighting.

    The face fills about a third of the frame height on average, as in a typical talking-head video.
    """
    import cv2

    img = portrait(name)
    cx, cy, face_w = _FACE_CENTRE[name]
    w, h = size
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, frames)
    phase = rng.uniform(0, 2 * np.pi, size=5)
    base_scale = 0.42 * h / face_w
    # A neutral background with a soft gradient, so the portrait's borders are not a hard edge everywhere.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([90 + 40 * xx / w, 100 + 30 * yy / h, 110 + 0 * xx], axis=-1).astype(np.uint8)
    out, mats = [], []
    for i, ti in enumerate(t):
        angle = max_angle * np.sin(2 * np.pi * ti + phase[0])
        scale = base_scale * (1.0 + 0.18 * np.sin(2 * np.pi * ti + phase[1]))
        to = (w / 2 + 0.12 * w * np.sin(2 * np.pi * ti + phase[2]), h / 2 + 0.08 * h * np.sin(2 * np.pi * ti + phase[3]))
        m = _similarity(angle, scale, (cx, cy), to)
        frame = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        inside = cv2.warpAffine(np.full(img.shape[:2], 255, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
        frame = np.where(inside[..., None] > 0, frame, background)
        if relight:
            gain = 1.0 + 0.2 * np.sin(2 * np.pi * ti + phase[4])
            frame = np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        out.append(frame)
        mats.append(m)
    return Clip(out, mats, fps)


def tone(seconds: float, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    """A mono sine tone as int16, the audio track of generated clips (so tests can check audio survives)."""
    n = int(round(seconds * rate))
    return (0.3 * 32767 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def mux_tone(container, stream, seconds: float) -> None:
    """Encode `seconds` of the sine tone into `stream` (mono AAC, added to `container` before any video was
    muxed, as PyAV requires) and flush it.

    For tests and benchmarks that mux their own video (odd GOPs, rotation, variable frame rate) but want the
    same audio track as generated clips, so they can check that audio survives.
    """
    import av

    rate = stream.rate
    pcm = tone(seconds, rate)
    for i in range(0, len(pcm), 1024):
        frame = av.AudioFrame.from_ndarray(pcm[None, i:i + 1024], format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, i
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def write_clip(path: str | Path, clip: Clip, audio: bool = True) -> Path:
    """Write a clip as H.264 MP4 (with a sine-tone AAC track unless `audio=False`)."""
    from .media.writer import write_video

    seconds = len(clip.frames) / clip.fps
    return write_video(path, clip.frames, clip.fps, audio=tone(seconds) if audio else None)
