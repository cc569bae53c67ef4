"""The "occlude" step: hands and objects in front of a face stay in front of the swap.

The mask a face is pasted through is the minimum of the sources `--mask` names (`SOURCES`):

- `hull`: the landmark hull (as ever); `model`: the decoder's own mask (as ever);
- `hands`: MediaPipe's hand landmarker around the face (`faces.hands`), each hand a filled region;
- `learned`: the model folder's mask net (`models.occlusion`), trained on the user's own face set with
  synthetic occluders, which predicts the visible face of the crop.

Both occlusion sources read the ORIGINAL face of the frame being converted (what is in front of it now), not
the swapped face. In video their product, the visible-face map, is smoothed per track in the aligned crop's
coordinates (`VisibleSmoother`: covers at once, reveals over a few frames), so the hand's edge does not flicker. The step runs before colour matching,
which therefore sees occluded pixels as outside the face and ignores them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..faces.align import transform_points
from ..errors import MasqueradeError
from .pipeline import FaceStep, FaceWork, FrameWork

SOURCES = ("hull", "model", "hands", "learned")
"""Every mask source, in the order a combination is written ("hull+model+hands")."""
AUTO = "auto"
LEARNED_MIN_KEPT = 0.5  # a learned mask that keeps less of the hull than this is ignored for that face
PULL_BACK = 1 / 3  # share of the feather (`--blur`) the visible map is pulled back from occluders
LEARNED_FIRM = (0.35, 0.65)  # the net's probability is 0 (occluder) below the first, 1 (face) above the second
AUTO_SOURCES = ("hull", "model", "hands", "learned")  # learned only where the model's mask net measured well


def parse_mask(text: str) -> tuple[str, ...]:
    """`--mask` as a tuple of sources in `SOURCES` order ("auto" -> AUTO_SOURCES); one-line error otherwise."""
    if text == AUTO:
        return AUTO_SOURCES
    names = [n.strip() for n in str(text).split("+") if n.strip()]
    bad = [n for n in names if n not in SOURCES]
    if bad or not names:
        raise MasqueradeError(f"--mask takes auto or sources joined by + from {', '.join(SOURCES)} "
                              f"(e.g. hull+model+hands), not {text!r}")
    return tuple(n for n in SOURCES if n in names)


def firm(probability: np.ndarray, low: float = LEARNED_FIRM[0], high: float = LEARNED_FIRM[1]) -> np.ndarray:
    """The mask net's probability as a visible-face map with hard-ish edges: 0 below `low`, 1 above `high`,
    linear between (so it still crosses one half where the probability does, and the IoU is unchanged).

    Why: the net is unsure on footage unlike its training (0.7-0.9 over whole faces, 0.2-0.4 on parts of
    an occluder); used as it is, that blends a fifth of the original face into the swap and a third of the
    swap into the occluder. Measured on the benchmark's held-out families (bench/occlusion.py), occluder
    pixels kept went from 0.870 to 0.911 (object photos) and 0.905 to 0.920 (template hands), IoU and the
    clean hull unchanged. The paste's feather still softens the edge in space; the smoother, in time."""
    return np.clip((probability - low) / (high - low), 0.0, 1.0).astype(np.float32)


class VisibleSmoother:
    """Per-pixel smoothing of a track's visible-face map (crop pixels) over time, fast to cover and slow to reveal.

    Why not the One-Euro filter of the landmarks: a pixel at a hand's edge that flickers between face and hand
    every frame has a high speed, so One-Euro would open up and pass the flicker through. Instead each pixel
    follows an exponential average whose time constant depends on the direction: `fall` (seconds) when the
    map says *less* face than before, so a hand that moves in is covered within a frame (70% at 30 fps), and
    the slower `rise` when the face comes back. A pixel flickering every frame settles to a small wobble
    (measured below 0.3 of the full 0..1 swing in the tests); a static occluder gives a map that does not move.
    """

    def __init__(self, fall: float = 0.028, rise: float = 0.116):
        self.fall, self.rise = fall, rise
        self.state: np.ndarray | None = None
        self.t: float | None = None

    def __call__(self, visible: np.ndarray, t: float) -> np.ndarray:
        visible = visible.astype(np.float32)
        if self.state is None or self.state.shape != visible.shape or self.t is None or t <= self.t:
            if self.state is not None and self.state.shape == visible.shape and self.t is not None and t <= self.t:
                return self.state  # a repeated or out-of-order frame: keep the last map
            self.state, self.t = visible, float(t)  # first frame, or the crop size changed: start again
            return visible
        dt = float(t) - self.t
        rate = np.where(visible < self.state, 1 - np.exp(-dt / self.fall), 1 - np.exp(-dt / self.rise))
        self.state = (self.state + rate.astype(np.float32) * (visible - self.state)).astype(np.float32)
        self.t = float(t)
        return self.state


def _resize(mask: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if mask.shape[0] == size:
        return mask
    interp = cv2.INTER_AREA if mask.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(mask, (size, size), interpolation=interp)


class OccludeFaces(FaceStep):
    """Combine the `--mask` sources into each face's mask (their minimum), before colour matching."""

    name = "occlude"
    own_thread = True  # MediaPipe's hands and the mask net: 10-11 ms a frame, as much as detection (stages.py)

    def __init__(self, ctx: Any, sources: tuple[str, ...], learned: Any = None):
        self.sources, self.learned = sources, learned
        self.video = bool(ctx.video)
        self.blur = float(ctx.config.blur)
        self.hands = None
        if "hands" in sources:
            from ..faces.hands import HandFinder

            self.hands = HandFinder()
        self._frame_hands: tuple[int, list] | None = None  # (id of the frame, hands found near its faces)

    def visible(self, face: FaceWork, item: FrameWork) -> np.ndarray | None:
        """float32 S×S: 1 where the original face is visible, or None when no occlusion source is on."""
        size = face.face.shape[0]
        out = None
        if self.hands is not None:
            from ..faces.hands import hands_mask

            hands = self.hands.find(item.frame.image, face.detection.box)
            if hands:
                m = face.matrix_for(size)
                crop = [transform_points(h.astype(np.float64), m) for h in hands]
                out = 1 - hands_mask(crop, size, size).astype(np.float32) / 255
            else:
                out = np.ones((size, size), np.float32)
        if self.learned is not None:
            hull = _resize(face.hull, size)
            learned = firm(self.learned.visible([face.target], [hull])[0])
            inside = hull > 0.5
            if inside.any() and (learned[inside] > 0.5).mean() < LEARNED_MIN_KEPT:
                learned = np.ones_like(learned)  # it would take most of the face: footage unlike its training
            out = learned if out is None else np.minimum(out, learned)
        return out

    def clear_of_feather(self, visible: np.ndarray, hull: np.ndarray) -> np.ndarray:
        """The visible map pulled back from occluders by a third of the paste's feather (`--blur`, `PULL_BACK`),
        so the feathered edge of the blend falls on the face beside a hand, not on the hand (measured on the
        held-out families: without it 76-80% of occluder pixels came through unchanged, the rest carried the
        swap's rim). Why a third, not half: half (3 px of a 128 px crop) closed the gaps between spread
        fingers and cost the template hands 1.3 points of IoU; with the net trained on near-skin colours
        and an edge-weighted loss a third kept 97% of the object photos' pixels (docs/occlusion.md)."""
        import cv2

        cols = np.nonzero((hull > 0.5).any(axis=0))[0]
        width = float(cols[-1] - cols[0] + 1) if cols.size else float(visible.shape[1])
        r = int(round(self.blur / 100 * width * PULL_BACK))
        if r < 1:
            return visible
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        # only occluders inside the face move the edge: the hull's own rim is the hull's (and paste's) business,
        # so a clean face, whose visible map is soft only along that rim, is left as it is
        inner = cv2.erode((hull > 0.5).astype(np.uint8), disc, iterations=2).astype(np.float32)
        occluders = np.maximum(visible, 1 - inner)
        if occluders.min() >= 0.5:
            return visible
        return np.minimum(visible, cv2.erode(occluders, disc))

    def apply(self, face: FaceWork, item: FrameWork) -> None:
        size = face.face.shape[0]
        parts = []
        if "hull" in self.sources:
            parts.append(_resize(face.hull, size))
        if "model" in self.sources and face.model_mask is not None:
            parts.append(face.model_mask)
        visible = self.visible(face, item)
        if visible is not None:
            if self.video:
                smoother = face.state.setdefault("visible_smoother", VisibleSmoother())
                visible = smoother(visible, item.frame.timestamp)
            face.visible = visible
            parts.append(self.clear_of_feather(visible, _resize(face.hull, size)))
        if parts:
            face.mask = np.minimum.reduce(parts).astype(np.float32)

    def close(self) -> None:
        if self.hands is not None:
            self.hands.close()


def load_learned_beside(model: Any, device: str = "cpu"):
    """The model folder's mask net, or None when it has none (or the model was not opened from a folder)."""
    from ..models.occlusion import find_mask_net, load_mask_net

    folder = getattr(model, "model_dir", None)
    if find_mask_net(folder) is None:
        return None
    return load_mask_net(folder, getattr(model, "device", None) or device)


def _usable(learned: Any, asked: bool) -> Any:
    """`auto` takes the mask net only when it measured well on held-out faces (`models.occlusion.trusted`)."""
    from ..models.occlusion import trusted

    return learned if learned is not None and (asked or trusted(learned.manifest)) else None


def make_occlude(ctx: Any) -> OccludeFaces | None:
    """The step for this run: None when `--mask` is hull+model (what `to_pixels` already makes)."""
    sources = parse_mask(ctx.config.mask)
    if sources == ("hull", "model"):
        return None
    learned = None
    if "learned" in sources:
        learned = _usable(ctx.occlusion or load_learned_beside(ctx.model), ctx.config.mask != AUTO)
        if learned is None and ctx.config.mask != AUTO:
            raise MasqueradeError("--mask names learned, but the model folder has no occlusion mask; "
                                  "train one with `masquerade train-mask` or leave learned out")
    return OccludeFaces(ctx, sources, learned)
