"""Hands in front of a face: MediaPipe's palm detector + 21-point hand landmarker, turned into filled regions.

The face mesh places its landmarks straight through a hand over the mouth, so the landmark hull counts the
hand as face and the swap paints over it. Hands are the most common occluder, and the pinned mediapipe wheel
ships a real model for them (`mp.solutions.hands`: palm_detection_full + hand_landmark_full), usable offline.

Why around the face rather than the whole frame: the palm detector sees its input at 192 px, so in a 640 px
frame a hand near a 50 px face is ~15 px to it and is missed. Each face's neighbourhood (a square
`REACH` × the face's size around it) is cut out, scaled to `_INPUT` px and searched; hands found there are
mapped back to frame pixels.

A hand becomes a region (`hand_region`): the palm polygon filled, each finger drawn as a chain of capsules
(thick round-capped lines) as wide as a finger (the knuckle spacing), then dilated a little so the soft
edge of the blend stays on the hand, not on the face behind it.
"""

from __future__ import annotations

import numpy as np

REACH = 2.6  # side of the searched square, in face sizes (a hand at the mouth reaches well below the chin)
_INPUT = 256  # side the neighbourhood is scaled to before the palm detector sees it
PALM = (0, 1, 2, 5, 9, 13, 17)  # wrist, thumb base and the four knuckles: the palm's outline
FINGERS = ((0, 1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20), (0, 17))
KNUCKLES = ((5, 9), (9, 13), (13, 17))  # neighbouring knuckles: their spacing is about a finger's width


def finger_width(points: np.ndarray) -> float:
    """A finger's width in the points' pixels: the mean spacing of neighbouring knuckles (>= 1)."""
    return max(1.0, float(np.mean([np.linalg.norm(points[a] - points[b]) for a, b in KNUCKLES])))


def hand_region(points: np.ndarray, height: int, width: int, grow: float = 0.25) -> np.ndarray:
    """uint8 H×W mask, 255 over one hand given its 21 landmarks (x, y in pixels): palm + finger capsules,
    dilated by `grow` finger widths."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    w = finger_width(points)
    sub = 16  # draw at 1/16 px precision (cv2's `shift`), so small hands keep their shape
    pts = np.round(points * sub).astype(np.int32)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts[list(PALM)]), 255, lineType=cv2.LINE_AA, shift=4)
    thick = max(1, int(round(w * (1 + 2 * grow))))
    for chain in FINGERS:
        for a, b in zip(chain[:-1], chain[1:]):
            cv2.line(mask, tuple(pts[a]), tuple(pts[b]), 255, thickness=thick, lineType=cv2.LINE_AA, shift=4)
    r = int(round(grow * w))
    if r > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return mask


def neighbourhood(box: tuple[float, float, float, float], reach: float = REACH) -> np.ndarray:
    """2×3 matrix from frame pixels to the `_INPUT`-px square searched for hands around a face's box."""
    x0, y0, x1, y1 = box
    side = reach * max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.15 * (y1 - y0)  # a little low: hands come up from below
    s = _INPUT / side
    return np.array([[s, 0.0, _INPUT / 2 - s * cx], [0.0, s, _INPUT / 2 - s * cy]])


class HandFinder:
    """MediaPipe hands on the neighbourhood of each face; `find(image, box)` -> list of 21×2 frame-pixel arrays.

    Static-image mode on purpose: the searched square moves with the face, which a tracker would read as the
    hand moving; flicker between frames is the occlusion step's smoothing's job."""

    def __init__(self, max_hands: int = 2, min_score: float = 0.5):
        import mediapipe as mp

        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=max_hands, model_complexity=1,
                                               min_detection_confidence=min_score)

    def find(self, image: np.ndarray, box: tuple[float, float, float, float]) -> list[np.ndarray]:
        import cv2

        m = neighbourhood(box)
        crop = cv2.warpAffine(np.ascontiguousarray(image), m, (_INPUT, _INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        res = self._hands.process(crop)
        found = []
        for hand in res.multi_hand_landmarks or []:
            p = np.array([(q.x, q.y) for q in hand.landmark], np.float64) * _INPUT
            found.append(((p - m[:, 2]) / m[0, 0]).astype(np.float32))  # crop -> frame (pure scale + shift)
        return found

    def find_in_crop(self, crop: np.ndarray) -> list[np.ndarray]:
        """Hands in an aligned face crop (any size; scaled to `_INPUT` px first), in the crop's pixels."""
        import cv2

        s = crop.shape[0]
        big = cv2.resize(np.ascontiguousarray(crop), (_INPUT, _INPUT), interpolation=cv2.INTER_LINEAR)
        res = self._hands.process(big)
        return [(np.array([(q.x, q.y) for q in hand.landmark], np.float32) * s) for hand in res.multi_hand_landmarks or []]

    def close(self) -> None:
        self._hands.close()


def hands_mask(hands: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """uint8 H×W, 255 where any of the hands (21×2 pixel landmarks each) is."""
    mask = np.zeros((height, width), np.uint8)
    for points in hands:
        mask = np.maximum(mask, hand_region(points, height, width))
    return mask
