"""Following faces across frames, so a video with several people swaps the chosen one only.

`FaceTracker.update(detections)` gives every detection a track id that stays the same while the face moves,
even if the detector lists faces in a different order or misses a face for up to `max_age` frames. Ids are
never reused and are handed out in order of first appearance; faces that first appear in the same frame are
numbered left to right. That order is the meaning of an integer selection policy: `0` is the first face seen
(the leftmost one if several are there from the start), and it keeps that number for the whole clip.

`select(tracker, tracks, policy)` and `ReferenceMatcher` decide which of this frame's tracks to swap.
Per-track state of other steps (a One-Euro smoother, say) can live in `Track.state`; it goes with the track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..records import Detection

TrackedFaces = list[tuple[int, Detection]]
"""This frame's visible faces as (track id, detection), ordered by id."""


@dataclass
class Track:
    """One face followed over time."""

    id: int
    detection: Detection  # the latest detection (from `last_frame`)
    first_frame: int
    last_frame: int
    hits: int = 1  # frames in which it was detected
    size_sum: float = 0.0  # sum of Detection.size over those frames
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre motion, pixels per frame
    state: dict[str, Any] = field(default_factory=dict)  # per-track state of other steps (smoothers, ...)

    @property
    def mean_size(self) -> float:
        return self.size_sum / max(self.hits, 1)


def _centre(box: Sequence[float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Assigns stable integer ids to per-frame face detections (greedy matching on IoU and centre distance).

    A detection continues a track when their boxes overlap by at least `min_iou`, or when its centre lies
    within `max_distance` face sizes of where the track is predicted to be (last centre moved on by its
    velocity), which covers fast motion and missed frames. Cheaper matches (1 − IoU + normalised distance)
    win first. A track not seen for more than `max_age` frames is dropped.
    """

    def __init__(self, min_iou: float = 0.3, max_distance: float = 0.6, max_age: int = 5):
        self.min_iou, self.max_distance, self.max_age = min_iou, max_distance, max_age
        self.tracks: dict[int, Track] = {}  # live tracks, visible this frame or recently missed
        self.frame = -1  # index of the last update
        self._next_id = 0

    def reset(self) -> None:
        """Forget all tracks (a scene cut or a new clip); ids keep counting up so none is reused."""
        self.tracks.clear()

    def visible(self) -> list[Track]:
        """Tracks detected in the latest frame, ordered by id."""
        return [t for t in self.tracks.values() if t.last_frame == self.frame]

    def _predicted_box(self, track: Track) -> tuple[float, float, float, float]:
        gap = self.frame - track.last_frame
        dx, dy = track.velocity[0] * gap, track.velocity[1] * gap
        x0, y0, x1, y1 = track.detection.box
        return x0 + dx, y0 + dy, x1 + dx, y1 + dy

    def update(self, detections: Sequence[Detection]) -> TrackedFaces:
        """Match this frame's detections to tracks; returns (track id, detection) for each, ordered by id."""
        self.frame += 1
        candidates = []
        for tid, track in self.tracks.items():
            box = self._predicted_box(track)
            for j, det in enumerate(detections):
                iou = _iou(box, det.box)
                scale = max(det.size, track.detection.size, 1.0)
                dist = float(np.linalg.norm(_centre(box) - _centre(det.box))) / scale
                if iou >= self.min_iou or dist <= self.max_distance:
                    candidates.append((1.0 - iou + dist, tid, j))
        taken_tracks, taken_dets = set(), set()
        for _, tid, j in sorted(candidates):
            if tid in taken_tracks or j in taken_dets:
                continue
            taken_tracks.add(tid)
            taken_dets.add(j)
            self._continue(self.tracks[tid], detections[j])
        # new faces: ids in left-to-right order within the frame
        new = sorted((j for j in range(len(detections)) if j not in taken_dets),
                     key=lambda j: (_centre(detections[j].box)[0], j))
        for j in new:
            det = detections[j]
            self.tracks[self._next_id] = Track(self._next_id, det, self.frame, self.frame, 1, det.size)
            self._next_id += 1
        for tid in [t for t, tr in self.tracks.items() if self.frame - tr.last_frame > self.max_age]:
            del self.tracks[tid]
        return [(t.id, t.detection) for t in sorted(self.visible(), key=lambda t: t.id)]

    def _continue(self, track: Track, det: Detection) -> None:
        gap = max(self.frame - track.last_frame, 1)
        step = (_centre(det.box) - _centre(track.detection.box)) / gap
        vx, vy = track.velocity
        # a short memory of the motion: enough to bridge a missed frame, quick to follow a change of direction
        track.velocity = (0.5 * vx + 0.5 * float(step[0]), 0.5 * vy + 0.5 * float(step[1]))
        track.detection, track.last_frame = det, self.frame
        track.hits += 1
        track.size_sum += det.size


def select(tracker: "FaceTracker | Iterable[Any]", tracks: TrackedFaces, policy: str | int) -> list[int]:
    """Track ids of this frame's faces to swap.

    `tracker` is the FaceTracker, or the tracks alive at this frame (anything with `id`, `hits` and
    `mean_size`), which is what convert's select step passes: it runs after the tracker has moved on.

    - `"all"`: every visible face.
    - `"largest"`: the live track with the largest mean face size so far (among tracks seen in at least
      3 frames, when any are, so a one-frame false detection cannot take over). Averaging over the track's
      life keeps the choice from flipping when two faces are close in size; if the chosen face is missed in
      this frame, nothing is swapped rather than someone else.
    - an int (or a string of digits) k: the track with id k — the k-th face to appear, faces appearing in the
      same frame counted left to right (see the module docstring); nothing while it is not visible.
    """
    visible = [tid for tid, _ in tracks]
    if isinstance(policy, str) and policy.isdigit():
        policy = int(policy)
    if isinstance(policy, int) and not isinstance(policy, bool):
        return [policy] if policy in visible else []
    if policy == "all":
        return sorted(visible)
    if policy == "largest":
        live = list(tracker.tracks.values()) if isinstance(tracker, FaceTracker) else list(tracker)
        if not live:
            return []
        established = [t for t in live if t.hits >= 3] or live
        best = max(established, key=lambda t: (t.mean_size, -t.id))
        return [best.id] if best.id in visible else []
    raise ValueError(f"unknown face selection {policy!r}; use 'largest', 'all' or a face number")


EmbedFn = Callable[[np.ndarray, Detection], np.ndarray]
"""embed_fn(frame image RGB uint8, detection) -> 1-D identity embedding (any length, any norm)."""


class ReferenceMatcher:
    """Picks the one track whose identity embedding is most like a reference face's (cosine similarity).

    Each track's embedding is the running mean of its unit-normalised embeddings, computed on its first
    frame and then every `refresh` frames, so one bad frame cannot change the decision and the embedding
    cost stays low. Returns [] when no visible track reaches `threshold`. Usable wherever `select` is:
    `matcher(tracks, image) -> list[int]`. `similarity` holds the latest score per track id.
    """

    def __init__(self, embed_fn: EmbedFn, reference_embedding: np.ndarray, threshold: float = 0.5,
                 refresh: int = 5, forget_after: int = 100):
        self.embed_fn, self.threshold, self.refresh = embed_fn, float(threshold), max(int(refresh), 1)
        self.forget_after = forget_after
        self.reference = self._unit(reference_embedding)
        self.similarity: dict[int, float] = {}
        self._sum: dict[int, np.ndarray] = {}
        self._seen: dict[int, int] = {}  # visible frames since the track's first embedding
        self._last_call: dict[int, int] = {}
        self._calls = 0

    @staticmethod
    def _unit(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64).ravel()
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def __call__(self, tracks: TrackedFaces, image: np.ndarray) -> list[int]:
        self._calls += 1
        for tid, det in tracks:
            seen = self._seen.get(tid, 0)
            if seen % self.refresh == 0:
                e = self._unit(self.embed_fn(image, det))
                if e.shape != self.reference.shape:
                    raise ValueError(f"embedding of length {e.size} cannot be compared with a reference of "
                                     f"length {self.reference.size}; use the same embedding for both")
                self._sum[tid] = self._sum.get(tid, 0.0) + e
                mean = self._unit(self._sum[tid])
                self.similarity[tid] = float(mean @ self.reference)
            self._seen[tid] = seen + 1
            self._last_call[tid] = self._calls
        for tid in [t for t, c in self._last_call.items() if self._calls - c > self.forget_after]:
            for d in (self._sum, self._seen, self._last_call, self.similarity):
                d.pop(tid, None)
        scored = [(self.similarity[tid], -tid) for tid, _ in tracks if self.similarity[tid] >= self.threshold]
        return [-max(scored)[1]] if scored else []
