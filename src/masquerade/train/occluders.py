"""Synthetic occluders pasted over aligned faces: the labels the mask net learns from, with no hand labelling.

Each occluder is drawn at the crop's size as colour + alpha (`Occluder`), then `paste` composites it over a
face with a soft edge, an optional defocus blur and a soft drop shadow. The truth for the mask net is the
landmark hull minus wherever the occluder's alpha is over one half.

Training families (`TRAIN_FAMILIES`, what `train/occlusion.py` draws from):
- `hand`: a palm ellipse with three to five finger capsules (on half the hands fanned out, gaps between
  them), the colour a skin tone taken from the face set itself (the mean colour inside a random face's
  hull, jittered), shaded from one side;
- `arm`: a long round-ended band entering from an edge of the crop, in the same skin tones;
- `rod`: bars and rods — a microphone (a shaft and a round head), a pen, a glasses frame (two rings and a
  bridge), in dark or saturated colours;
- `hair`: bundles of thin curved strands in dark, brown and blond tones, falling across the forehead and eyes;
- `texture`: a random polygon or ellipse, or a body with limbs, loops or handles (`_limbs`), filled with a
  patch cut from the backgrounds of the user's own frames (the crop's corners, outside the hull), from
  images that ship with scikit-image (`TRAIN_IMAGES`), or with a glossy colour (`_glossy`): saturated, or
  near the face sets' own skin (redder as lips, darker, browner: `_near_skin`).

The held-out families, which the net never trains on, live apart in `train/held_out_occluders.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

TRAIN_IMAGES = ("chelsea", "rocket", "coins", "brick", "grass", "gravel", "camera", "immunohistochemistry")


@dataclass
class Occluder:
    rgb: np.ndarray  # float32 S×S×3 in [0, 1]
    alpha: np.ndarray  # float32 S×S in [0, 1]
    family: str


@dataclass
class Palette:
    """Colours and textures drawn from the user's own data: skin tones and background patches."""

    skin: np.ndarray  # float32 K×3 in [0, 1], mean colours inside faces' hulls
    backgrounds: list[np.ndarray]  # float32 crops of the frames' backgrounds (any size, ×3)


def palette_from_faces(faces: np.ndarray, masks: np.ndarray, limit: int = 64) -> Palette:
    """faces uint8 N×S×S×3, masks uint8 N×S×S (hull): skin tones and background corners of up to `limit` faces."""
    step = max(1, len(faces) // limit)
    skin, backs = [], []
    for face, mask in zip(faces[::step], masks[::step]):
        inside = mask > 127
        if inside.sum() > 16:
            skin.append(face[inside].mean(0) / 255)
        s = face.shape[0]
        q = s // 4
        for y, x in ((0, 0), (0, s - q), (s - q, 0), (s - q, s - q)):  # corners: mostly outside the face
            if (mask[y:y + q, x:x + q] > 127).mean() < 0.05:
                backs.append(face[y:y + q, x:x + q].astype(np.float32) / 255)
    if not skin:
        skin = [np.array([0.8, 0.6, 0.5])]
    return Palette(np.array(skin, np.float32), backs)


@lru_cache(maxsize=None)
def package_image(name: str) -> np.ndarray:
    """float32 H×W×4 (RGB + alpha) of an image shipped in scikit-image or matplotlib (no download)."""
    if name.endswith(".png"):
        import matplotlib.image as mpimg
        from matplotlib.cbook import get_sample_data

        img = mpimg.imread(get_sample_data(name, asfileobj=False)).astype(np.float32)
    else:
        import skimage.data

        img = getattr(skimage.data, name)().astype(np.float32) / 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 3:
        img = np.concatenate([img, np.ones(img.shape[:2] + (1,), np.float32)], axis=2)
    return img


# -- drawing helpers -------------------------------------------------------------------------------------
def _tone(rng: np.random.Generator, base: np.ndarray, jitter: float = 0.08) -> np.ndarray:
    return np.clip(base * rng.uniform(1 - jitter, 1 + jitter, 3) + rng.normal(0, jitter / 2, 3), 0, 1)


def _shade(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A linear light falloff across the image (one side lit): occluders are not flat stickers."""
    s = rgb.shape[0]
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    ramp = 1 + rng.uniform(0.1, 0.35) * (np.cos(a) * xx + np.sin(a) * yy) * 2
    return np.clip(rgb * ramp[..., None], 0, 1)


def _fill(s: int, colour: np.ndarray) -> np.ndarray:
    return np.broadcast_to(colour.astype(np.float32), (s, s, 3)).copy()


def _capsule(mask: np.ndarray, p: np.ndarray, q: np.ndarray, width: float) -> None:
    import cv2

    cv2.line(mask, tuple(np.round(p * 16).astype(int)), tuple(np.round(q * 16).astype(int)), 1.0,
             thickness=max(1, int(round(width))), lineType=cv2.LINE_AA, shift=4)


def _rot(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


# -- training families ------------------------------------------------------------------------------------
def draw_hand(s: int, rng: np.random.Generator, pal: Palette, spread: float | None = None) -> Occluder:
    """A palm with 3-5 fingers, often a thumb and a wrist. On half the hands the fingers fan out from each
    other by `spread` radians (drawn at random unless given) with gaps between them, as a hand held up
    with its fingers apart: a net that only saw fingers side by side filled those gaps with hand."""
    import cv2

    alpha = np.zeros((s, s), np.float32)
    c = rng.uniform(0.15 * s, 0.85 * s, 2)
    palm = rng.uniform(0.14, 0.26) * s
    angle = rng.uniform(0, 2 * math.pi)
    cv2.ellipse(alpha, tuple(np.round(c).astype(int)), (int(palm * 0.55), int(palm * 0.65)), math.degrees(angle),
                0, 360, 1.0, -1, lineType=cv2.LINE_AA)
    up = _rot(angle) @ np.array([0.0, -1.0])
    side = _rot(angle) @ np.array([1.0, 0.0])
    n = int(rng.integers(3, 6))
    width = palm * rng.uniform(0.22, 0.3)
    fan = rng.uniform(0.15, 0.4) if rng.random() < 0.5 else 0.0
    spread = fan if spread is None else spread
    for i in range(n):
        off = (i - (n - 1) / 2) * width * 1.05
        base = c + side * off + up * palm * 0.45
        bend = _rot((i - (n - 1) / 2) * spread + rng.normal(0, 0.25)) @ up
        length = palm * rng.uniform(0.6, 1.1) * (1 + spread)
        mid = base + bend * length * 0.5
        tip = mid + (_rot(rng.normal(0, 0.3)) @ bend) * length * 0.5
        _capsule(alpha, base, mid, width)
        _capsule(alpha, mid, tip, width * 0.9)
    if rng.random() < 0.8:  # thumb, further out when the fingers are spread
        t0 = c - side * palm * 0.4
        _capsule(alpha, t0, t0 - side * palm * (0.6 + spread) + up * palm * 0.3, width * 1.1)
    if rng.random() < 0.6:  # the wrist, towards the bottom of the crop
        _capsule(alpha, c, c - up * s, palm * 0.8)
    colour = _tone(rng, pal.skin[rng.integers(len(pal.skin))])
    return Occluder(_shade(_fill(s, colour), rng), alpha, "hand")


def draw_arm(s: int, rng: np.random.Generator, pal: Palette) -> Occluder:
    alpha = np.zeros((s, s), np.float32)
    edge = rng.integers(4)
    t = rng.uniform(0.1, 0.9) * s
    start = [np.array([t, s * 1.2]), np.array([-0.2 * s, t]), np.array([s * 1.2, t]), np.array([t, -0.2 * s])][edge]
    end = rng.uniform(0.25 * s, 0.75 * s, 2)
    _capsule(alpha, start, end, rng.uniform(0.15, 0.35) * s)
    colour = _tone(rng, pal.skin[rng.integers(len(pal.skin))])
    if rng.random() < 0.4:  # a sleeve
        colour = rng.uniform(0.05, 0.9, 3)
    return Occluder(_shade(_fill(s, colour), rng), alpha, "arm")


def draw_rod(s: int, rng: np.random.Generator, pal: Palette) -> Occluder:
    import cv2

    alpha = np.zeros((s, s), np.float32)
    colour = rng.uniform(0.0, 0.3, 3) if rng.random() < 0.6 else rng.uniform(0.0, 1.0, 3)
    kind = rng.integers(3)
    if kind == 0:  # microphone: a shaft and a round head
        head = rng.uniform(0.2 * s, 0.8 * s, 2)
        r = rng.uniform(0.06, 0.13) * s
        tail = head + _rot(rng.uniform(0, 2 * math.pi)) @ np.array([0.0, 1.5 * s])
        _capsule(alpha, head, tail, r * rng.uniform(0.5, 0.9))
        cv2.circle(alpha, tuple(np.round(head).astype(int)), int(r), 1.0, -1, lineType=cv2.LINE_AA)
    elif kind == 1:  # a pen, a straw, a bar
        p = rng.uniform(-0.1 * s, 1.1 * s, 2)
        q = rng.uniform(-0.1 * s, 1.1 * s, 2)
        _capsule(alpha, p, q, rng.uniform(0.02, 0.08) * s)
    else:  # a glasses frame: two rings and a bridge, roughly over the eyes
        y = s * rng.uniform(0.3, 0.5)
        r = s * rng.uniform(0.1, 0.16)
        gap = s * rng.uniform(0.16, 0.24)
        w = max(1, int(round(s * rng.uniform(0.015, 0.04))))
        cx = s / 2 + rng.normal(0, s * 0.03)
        for x in (cx - gap, cx + gap):
            cv2.ellipse(alpha, (int(x), int(y)), (int(r), int(r * 0.75)), 0, 0, 360, 1.0, w, lineType=cv2.LINE_AA)
        _capsule(alpha, np.array([cx - gap + r, y]), np.array([cx + gap - r, y]), w)
        for x, d in ((cx - gap - r, -1), (cx + gap + r, 1)):
            _capsule(alpha, np.array([x, y]), np.array([x + d * s * 0.2, y - s * 0.02]), w)
    return Occluder(_shade(_fill(s, colour), rng), alpha, "rod")


def draw_hair(s: int, rng: np.random.Generator, pal: Palette) -> Occluder:
    import cv2

    alpha = np.zeros((s, s), np.float32)
    base = [np.array([0.08, 0.06, 0.05]), np.array([0.3, 0.2, 0.12]), np.array([0.75, 0.62, 0.4]),
            np.array([0.5, 0.18, 0.08])][rng.integers(4)]
    x0 = rng.uniform(0.1, 0.9) * s
    spread = rng.uniform(0.05, 0.3) * s
    length = rng.uniform(0.35, 0.8) * s
    sway = rng.normal(0, 0.25) * s
    for _ in range(int(rng.integers(15, 60))):
        x = x0 + rng.normal(0, spread)
        t = np.linspace(0, 1, 12)
        xs = x + sway * t ** 2 + rng.normal(0, 0.02 * s) * np.sin(t * rng.uniform(2, 6))
        ys = -0.05 * s + t * length * rng.uniform(0.7, 1.0)
        pts = np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)
        cv2.polylines(alpha, [pts], False, 1.0, thickness=max(1, int(round(s * rng.uniform(0.008, 0.025)))),
                      lineType=cv2.LINE_AA, shift=4)
    rgb = _fill(s, _tone(rng, base, 0.15)) * rng.uniform(0.8, 1.2, (s, s, 1)).astype(np.float32)
    return Occluder(np.clip(rgb, 0, 1), alpha, "hair")


def _blob(s: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    alpha = np.zeros((s, s), np.float32)
    c = rng.uniform(0.1 * s, 0.9 * s, 2)
    r = rng.uniform(0.12, 0.35) * s
    if rng.random() < 0.4:
        return _limbs(alpha, c, r * 1.5, rng)
    if rng.random() < 0.5:
        cv2.ellipse(alpha, tuple(np.round(c).astype(int)), (int(r), int(r * rng.uniform(0.4, 1.0))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1, lineType=cv2.LINE_AA)
    else:
        k = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * math.pi, k))
        pts = c + np.stack([np.cos(ang), np.sin(ang)], 1) * r * rng.uniform(0.5, 1.2, (k, 1))
        cv2.fillPoly(alpha, [np.round(pts * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    return alpha


def _limbs(alpha: np.ndarray, c: np.ndarray, r: float, rng: np.random.Generator) -> np.ndarray:
    """A body with parts sticking out: a smaller core and 1-4 thick curved strokes or rings attached to it
    (a cup's handle, a bow's loops, a cable, a toy's limbs). Objects are rarely convex, and a net that only
    saw convex blobs kept the thin parts of real objects as face."""
    import cv2

    core = r * rng.uniform(0.4, 0.8)
    cv2.ellipse(alpha, tuple(np.round(c).astype(int)), (int(core), int(core * rng.uniform(0.5, 1.0))),
                rng.uniform(0, 180), 0, 360, 1.0, -1, lineType=cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 5))):
        a = rng.uniform(0, 2 * math.pi)
        start = c + core * 0.8 * np.array([math.cos(a), math.sin(a)])
        width = max(1, int(round(r * rng.uniform(0.1, 0.35))))
        if rng.random() < 0.35:  # a ring: a handle or a loop of ribbon
            ring = core * rng.uniform(0.4, 0.9)
            centre = start + ring * np.array([math.cos(a), math.sin(a)])
            cv2.ellipse(alpha, tuple(np.round(centre).astype(int)), (int(ring), int(ring * rng.uniform(0.5, 1.0))),
                        math.degrees(a), 0, 360, 1.0, width, lineType=cv2.LINE_AA)
            continue
        length, turn = r * rng.uniform(0.6, 1.6), rng.normal(0, 1.2)
        t = np.linspace(0, 1, 10)[:, None]
        heading = a + turn * t
        pts = start + np.cumsum(np.concatenate([np.cos(heading), np.sin(heading)], 1) * length / 10, 0)
        cv2.polylines(alpha, [np.round(pts * 16).astype(np.int32)], False, 1.0, thickness=width,
                      lineType=cv2.LINE_AA, shift=4)
    return alpha


def _patch(img: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.3, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    return cv2.resize(np.ascontiguousarray(img[y:y + side, x:x + side, :3]), (s, s), interpolation=cv2.INTER_AREA)


def _near_skin(rng: np.random.Generator, pal: Palette) -> np.ndarray:
    """A colour a face could have: one of the face sets' skin tones made redder (lips, a red cup, a saucer),
    darker (a dark mug, a shadowed phone) or browner. Why: a net that only saw occluders far from skin in
    colour kept the red and dark parts of real objects as face (docs/occlusion.md)."""
    skin = pal.skin[rng.integers(len(pal.skin))]
    kind = rng.integers(3)
    if kind == 0:  # redder: towards lips
        tint = np.array([rng.uniform(0.9, 1.2), rng.uniform(0.35, 0.75), rng.uniform(0.35, 0.8)])
    elif kind == 1:  # darker
        tint = np.full(3, rng.uniform(0.15, 0.6)) * rng.uniform(0.85, 1.15, 3)
    else:  # browner or paler
        tint = np.array([1.0, rng.uniform(0.75, 0.95), rng.uniform(0.55, 0.9)]) * rng.uniform(0.6, 1.25)
    return np.clip(skin * tint, 0, 1).astype(np.float32)


def _glossy(s: int, rng: np.random.Generator, pal: Palette) -> np.ndarray:
    """A plastic or painted colour with a few soft bright highlights: toys, packaging, mugs, which the grey
    package pictures and the frames' backgrounds do not cover. Half are saturated colours of any hue and
    brightness (dark ones too), half colours near the face sets' own skin (`_near_skin`)."""
    import cv2

    if rng.random() < 0.5:
        rgb = _fill(s, _near_skin(rng, pal))
    else:
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(120, 256), rng.integers(20, 256)]]])
        rgb = _fill(s, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255)
    light = np.zeros((s, s), np.float32)
    for _ in range(int(rng.integers(0, 4))):
        p, q = rng.uniform(0, s, 2), rng.uniform(0, s, 2)
        _capsule(light, p, q, rng.uniform(0.01, 0.05) * s)
    light = cv2.GaussianBlur(light, (0, 0), 0.01 * s + 0.5)
    return np.clip(rgb + light[..., None] * rng.uniform(0.4, 0.9), 0, 1)


def draw_texture(s: int, rng: np.random.Generator, pal: Palette) -> Occluder:
    if rng.random() < 0.4:
        rgb = _glossy(s, rng, pal)
    elif pal.backgrounds and rng.random() < 0.5:
        rgb = _patch(pal.backgrounds[rng.integers(len(pal.backgrounds))], s, rng)
    else:
        rgb = _patch(package_image(TRAIN_IMAGES[rng.integers(len(TRAIN_IMAGES))]), s, rng)
    return Occluder(_shade(rgb.astype(np.float32), rng), _blob(s, rng), "texture")


TRAIN_FAMILIES: dict[str, Callable[[int, np.random.Generator, Palette], Occluder]] = {
    "hand": draw_hand, "arm": draw_arm, "rod": draw_rod, "hair": draw_hair, "texture": draw_texture,
}


# -- compositing -----------------------------------------------------------------------------------------
def paste(face: np.ndarray, occ: Occluder, rng: np.random.Generator, soft: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """float32 S×S×3 face in [0, 1] with the occluder over it -> (image, the occluder's hard mask S×S bool).

    Soft edge (alpha blurred by up to ~1 % of S), an optional defocus blur of the occluder, and a drop shadow
    (the alpha shifted, blurred and darkening the face under it) on most pastes."""
    import cv2

    s = face.shape[0]
    alpha, rgb = occ.alpha, occ.rgb
    hard = alpha > 0.5
    if soft:
        sigma = rng.uniform(0.2, 1.2) * s / 128
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
        if rng.random() < 0.3:
            rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.5, 1.5) * s / 128)
        if rng.random() < 0.6:
            shift = rng.normal(0, 0.03 * s, 2)
            m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
            shadow = cv2.GaussianBlur(cv2.warpAffine(occ.alpha, m, (s, s)), (0, 0), rng.uniform(1, 4) * s / 128)
            face = face * (1 - rng.uniform(0.2, 0.5) * shadow[..., None])
    out = face * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return np.clip(out, 0, 1).astype(np.float32), hard


def occlude(face: np.ndarray, hull: np.ndarray, families: dict, rng: np.random.Generator, pal: Palette,
            count: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste `count` occluders of random `families` over a float S×S×3 face with hull S×S (0..1) ->
    (image, visible-face truth S×S float32 0/1, occluder mask S×S bool)."""
    s = face.shape[0]
    names = list(families)
    occluded = np.zeros((s, s), bool)
    for _ in range(count):
        occ = families[names[rng.integers(len(names))]](s, rng, pal)
        face, hard = paste(face, occ, rng)
        occluded |= hard
    visible = ((hull > 0.5) & ~occluded).astype(np.float32)
    return face, visible, occluded
