"""The distortions the watermark must survive, shared by the tests and `bench/watermark.py`.

Each takes and returns RGB uint8 (the H.264 one takes and returns a list of frames). They work in memory
and write nothing to disk. Two families: the classic ones that give back an image of the original size
(`rescale` goes down and back up), and the re-upload ones that change the geometry for good (`resize`,
`to_height`, `rotate`, `stretch`, `crop_then_resize`, `mirror`, `letterbox`, `small_jpeg`), which is what a
platform or a screenshot does; `reupload` does it to a whole video.
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


INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "lanczos": cv2.INTER_LANCZOS4}


def resize(rgb: np.ndarray, factor: float, interpolation: str = "area") -> np.ndarray:
    """Rescale by `factor` and leave the image at its new size (a re-upload at a lower or higher resolution)."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(rgb, size, interpolation=INTERPOLATIONS[interpolation])


def to_height(rgb: np.ndarray, height: int, interpolation: str = "area") -> np.ndarray:
    """Resize to `height` lines keeping the aspect ratio (e.g. a 1080p upload served at 720p)."""
    return resize(rgb, height / rgb.shape[0], interpolation)


def resolution_chain(rgb: np.ndarray, heights: tuple[int, ...] = (720, 480)) -> np.ndarray:
    """Successive re-uploads at falling resolutions, each resampled from the previous one."""
    for h in heights:
        rgb = to_height(rgb, h)
    return rgb


def stretch(rgb: np.ndarray, fx: float = 0.9, fy: float = 1.0) -> np.ndarray:
    """Change the aspect ratio (e.g. squeezed to fit a player), left at the new size."""
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * fx)), max(1, round(h * fy))), interpolation=cv2.INTER_AREA)


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (counter-clockwise for positive `degrees`), then crop the border away.

    The crop keeps the largest centred rectangle of the original aspect ratio that holds no fill pixels,
    as an editor's "straighten" tool does.
    """
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    turned = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = np.deg2rad(abs(degrees))
    c, s = np.cos(a), np.sin(a)
    k = min(w / (w * c + h * s), h / (w * s + h * c))  # scale of the inscribed, same-aspect rectangle
    cw, ch = int(w * k) - 2, int(h * k) - 2
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return np.ascontiguousarray(turned[y0 : y0 + ch, x0 : x0 + cw])


def crop_then_resize(rgb: np.ndarray, fraction: float = 0.25, factor: float = 0.75) -> np.ndarray:
    """Cut `fraction` of the width and height away (off-centre: from the left and top), then rescale."""
    h, w = rgb.shape[:2]
    return resize(rgb[round(h * fraction) :, round(w * fraction) :], factor)


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


def mirror(rgb: np.ndarray) -> np.ndarray:
    """Flip left to right (a front camera's preview, the "flip" of every editor)."""
    return np.ascontiguousarray(rgb[:, ::-1])


def letterbox(rgb: np.ndarray, factor: float = 1.8, canvas: tuple[int, int] = (1920, 1080),
              colour: int = 0) -> np.ndarray:
    """Scale the picture by `factor` (bicubic, as players and editors do) and centre it on a plain
    canvas of `canvas` (width, height): bars above and below, or beside, or both."""
    h, w = rgb.shape[:2]
    big = cv2.resize(rgb, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    bh, bw = min(big.shape[0], canvas[1]), min(big.shape[1], canvas[0])
    out = np.full((canvas[1], canvas[0], 3), colour, np.uint8)
    y0, x0 = (canvas[1] - bh) // 2, (canvas[0] - bw) // 2
    by, bx = (big.shape[0] - bh) // 2, (big.shape[1] - bw) // 2
    out[y0 : y0 + bh, x0 : x0 + bw] = big[by : by + bh, bx : bx + bw]
    return out


def small_jpeg(rgb: np.ndarray, factor: float = 0.45, quality: int = 30) -> np.ndarray:
    """A strong JPEG of a copy at under half size (a messenger's or a thumbnail's re-encode)."""
    return jpeg(resize(rgb, factor, "area"), quality)


def reupload(frames: list[np.ndarray], factor: float = 0.5, crf: int = 30, *, flip: bool = False,
             box: tuple[int, int] | None = None, aspect: float | None = None, preset: str = "medium",
             fps: int = 30) -> list[np.ndarray]:
    """A whole video re-uploaded: optionally mirrored, cropped about its centre to a narrower `aspect`
    (width over height: 9/16 makes a landscape clip a phone's vertical one), scaled by `factor` (area, as a
    platform's downscaler), optionally placed in a `box` (width, height) canvas with black bars (scaled to
    fit first), then re-encoded with H.264 at `crf` (x264's default preset unless told) and decoded."""
    out = []
    for frame in frames:
        if flip:
            frame = mirror(frame)
        if aspect is not None and frame.shape[1] > aspect * frame.shape[0]:
            width = int(round(aspect * frame.shape[0]))
            left = (frame.shape[1] - width) // 2
            frame = np.ascontiguousarray(frame[:, left:left + width])
        if box is not None:
            fit = min(box[0] / frame.shape[1], box[1] / frame.shape[0]) * factor
            frame = letterbox(frame, fit, box)
        elif factor != 1.0:
            frame = resize(frame, factor, "area")
        out.append(frame)
    return h264(out, crf=crf, fps=fps, preset=preset)


def h264(frames: list[np.ndarray], crf: int = 28, fps: int = 25, preset: str = "veryfast") -> list[np.ndarray]:
    """Encode to H.264 yuv420p MP4 in memory at the given CRF and decode back."""
    import av

    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[: h - h % 2, : w - w % 2]), format="rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r") as inp:
        return [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]


def jpeg_resize_brightness(rgb: np.ndarray, quality: int = 50, factor: float = 0.5, gain: float = 0.8) -> np.ndarray:
    """A chained re-upload: JPEG, then a smaller size left as is, then darker."""
    return brightness(resize(jpeg(rgb, quality), factor), gain)
