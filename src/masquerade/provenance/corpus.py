"""Unmarked images for calibrating and testing the watermark detector, all from installed packages (offline).

Natural photos come from scikit-image's bundled data and matplotlib's sample data; the set is grown to any
size with seeded crops, rescales, flips, JPEG and colour changes, and mixed with synthetic content (noise,
gradients, flat colours, stripes, checkerboards), which is where naive detectors raise false alarms.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import cv2
import numpy as np

# Only files that ship inside the scikit-image wheel (others would need a download).
_SKIMAGE = (
    "astronaut", "brick", "camera", "cell", "chelsea", "coffee", "coins", "colorwheel", "grass", "gravel",
    "horse", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms", "moon", "page",
    "retina", "rocket", "text", "checkerboard", "clock",
)


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[:, :, :3])


@lru_cache(maxsize=1)
def named_natural_images() -> dict[str, np.ndarray]:
    """The bundled natural photos by name, RGB uint8 (skipping any that a given install lacks)."""
    from skimage import data

    out: dict[str, np.ndarray] = {}
    for name in _SKIMAGE:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            out[name] = _rgb(loader())
        except Exception:  # noqa: BLE001 - a missing optional file only shrinks the set
            continue
    try:
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            out["grace_hopper"] = _rgb(np.asarray(Image.open(f).convert("RGB")))
    except Exception:  # noqa: BLE001
        pass
    return out


def natural_images() -> tuple[np.ndarray, ...]:
    return tuple(named_natural_images().values())


def _synthetic(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = rng.integers(7)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # flat colour
        return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (h, w, 3)).copy()
    if kind == 1:  # white-ish noise
        return _rgb(np.clip(rng.normal(128, rng.uniform(2, 60), (h, w, 3)), 0, 255).astype(np.uint8))
    if kind == 2:  # smooth (blurred) noise
        noise = rng.normal(0, 1, (h, w)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.7, 8))
        noise = (noise - noise.mean()) / (noise.std() + 1e-6)
        return _rgb(np.clip(128 + 40 * noise, 0, 255).astype(np.uint8))
    if kind == 3:  # linear gradient
        a = rng.uniform(0, 2 * np.pi)
        g = np.cos(a) * xx / w + np.sin(a) * yy / h
        g = (g - g.min()) / (np.ptp(g) + 1e-6)
        return _rgb((g * 255).astype(np.uint8))
    if kind == 4:  # stripes at a random period (some divide the watermark tile)
        period = float(rng.choice([2, 3, 4, 8, 16, 32, 64, rng.uniform(2, 50)]))
        return _rgb(((np.sin(2 * np.pi * xx / period) > 0) * 255).astype(np.uint8))
    if kind == 5:  # checkerboard
        c = int(rng.choice([1, 2, 4, 8, 16, 32]))
        return _rgb(((((yy // c) + (xx // c)) % 2) * 255).astype(np.uint8))
    # random rectangles
    img = np.full((h, w, 3), rng.integers(0, 256, 3), dtype=np.uint8)
    for _ in range(int(rng.integers(3, 30))):
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        img[y0 : y0 + int(rng.integers(4, h)), x0 : x0 + int(rng.integers(4, w))] = rng.integers(0, 256, 3)
    return img


def _variant(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    scale = float(rng.uniform(0.4, 1.6))
    h, w = img.shape[:2]
    img = cv2.resize(img, (max(32, round(w * scale)), max(32, round(h * scale))), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    ch, cw = int(rng.integers(min(h, 128), h + 1)), int(rng.integers(min(w, 128), w + 1))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = img[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.3:
        img = np.clip(img.astype(np.float32) * rng.uniform(0.6, 1.4), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        q = int(rng.integers(30, 95))
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img)


def unmarked_images(n: int = 1000, seed: int = 0) -> Iterator[np.ndarray]:
    """`n` unmarked RGB uint8 images: about 70% variants of natural photos, 30% synthetic."""
    rng = np.random.default_rng(seed)
    photos = natural_images()
    for i in range(n):
        if i < len(photos):
            yield photos[i]
        elif rng.random() < 0.7:
            yield _variant(rng, photos[int(rng.integers(len(photos)))])
        else:
            yield _synthetic(rng, int(rng.integers(96, 720)), int(rng.integers(96, 720)))
