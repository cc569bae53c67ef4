"""Read frames from a video file, a single image or a folder of images, as RGB uint8."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import MediaError
from ..records import Frame, MediaInfo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")


def is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def _folder_images(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: str | Path) -> np.ndarray:
    """Decode one still image to RGB uint8 (alpha dropped, greyscale expanded)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise MediaError(f"{path}: not a readable image (is the file complete and really a picture?)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable video ({exc.__class__.__name__}); is the file complete?") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: the file has no video stream")
    return container


def probe(path: str | Path) -> MediaInfo:
    """Describe a media source without decoding all of it; raises MediaError when it is not usable."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file or folder")
    if path.is_dir():
        images = _folder_images(path)
        if not images:
            raise MediaError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        first = read_image(images[0])
        return MediaInfo(str(path), "folder", first.shape[1], first.shape[0], None, len(images))
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        img = read_image(path)
        return MediaInfo(str(path), "image", img.shape[1], img.shape[0], None, 1)
    container = _open_video(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        count = stream.frames or None
        if not count and stream.duration and stream.time_base:
            count = int(round(float(stream.duration * stream.time_base) * fps))
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise MediaError(f"{path}: the video stream has no picture size; the file may be corrupt")
        return MediaInfo(str(path), "video", width, height, fps, count, bool(container.streams.audio))
    finally:
        container.close()


def _video_frames(path: Path, every_nth: int, start: int) -> Iterator[Frame]:
    import av

    container = _open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if index < start or index % every_nth:
                    continue
                ts = float(frame.time) if frame.time is not None else index / fps
                yield Frame(index, ts, frame.to_ndarray(format="rgb24"), str(path))
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed after frame {index} ({exc}); the video is corrupt") from None
        if index < 0:
            raise MediaError(f"{path}: the video has no decodable frames; it may be corrupt or truncated")
    finally:
        container.close()


def read_frames(path: str | Path, every_nth: int = 1, start: int = 0) -> Iterator[Frame]:
    """Yield frames of a video, an image, or a folder of images (sorted by name), skipping as asked.

    `start` skips frames before that index (used to resume an interrupted run).
    """
    path = Path(path)
    info = probe(path)
    every_nth = max(1, int(every_nth))
    if info.kind == "video":
        yield from _video_frames(path, every_nth, start)
    elif info.kind == "image":
        if start == 0:
            yield Frame(0, 0.0, read_image(path), str(path), path.name)
    else:
        for i, p in enumerate(_folder_images(path)):
            if i >= start and i % every_nth == 0:
                yield Frame(i, 0.0, read_image(p), str(p), p.name)
