"""Balanced sampling: rare head turns and rare expressions are drawn about as often as common ones.

A talking-head clip is mostly frontal with the mouth nearly shut; sampled uniformly, a net sees a profile or
a wide-open mouth a few times per thousand faces, learns the common face well and renders the rest as a
blurred average (the "mean face" whose mouth never follows the source). Here every face gets a weight so
that each bin of head yaw, of mouth opening and of eye state carries about the same share of the draws.

Every factor is balanced at once (each non-empty bin of each factor gets the same share of the draws,
by iterative proportional fitting); the result is capped at `max_boost` times the mean so one odd face (a mis-detection, a
single frame of profile) cannot take over the batches. Features come from the landmarks stored with every
face, in aligned-crop pixels (the crop has roll removed, so horizontal distances measure yaw):

- yaw: from how far the nose tip sits between the two cheek edges, as an angle (0 frontal, ± to either
  side; calibrated against the head's half-width, close to degrees for moderate turns);
- mouth: inner-lip gap over face size (`faces.landmark_measures`), binned at `mouth_edges`;
- eyes: closed or open relative to the face set's own open level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..faces.landmark_measures import closed_frames, eye_opening, mouth_opening, yaw_proxy

@dataclass(frozen=True)
class BalanceSettings:
    yaw_bin: float = 10.0  # width of a yaw bin (degrees-like units)
    mouth_edges: tuple[float, ...] = (0.04, 0.15)  # closed | open | wide (inner-lip gap / face size)
    eyes: bool = True  # balance closed against open eyes
    max_boost: float = 6.0  # no face is drawn more than this many times as often as an average face
    strength: float = 1.0  # 1 = fully balanced bins, 0 = uniform over faces


@dataclass(frozen=True)
class FaceFeatures:
    yaw: np.ndarray  # (N,)
    mouth: np.ndarray
    eyes_closed: np.ndarray  # (N,) bool


def face_features(landmarks: np.ndarray) -> FaceFeatures:
    """Yaw, mouth opening and eye state of N faces from their N×478×2 crop landmarks."""
    lms = np.asarray(landmarks, np.float64).reshape(-1, 478, 2)
    return FaceFeatures(yaw_proxy(lms), mouth_opening(lms), closed_frames(eye_opening(lms)))


def _targets(bins: np.ndarray, strength: float, max_boost: float) -> dict[int, float]:
    """Each bin's wanted share of the draws: its share of the faces moved towards uniform by `strength`, but
    never more than `max_boost` times its share of the faces (one closed-eye frame among hundreds must not
    get half the draws: it would be seen hundreds of times more often than any other face)."""
    keys, counts = np.unique(bins, return_counts=True)
    natural = counts / counts.sum()
    wanted = natural ** (1 - strength) * (1 / len(keys)) ** strength
    wanted /= wanted.sum()
    for _ in range(len(keys)):  # water-filling: cap, hand the excess to the bins under their cap
        capped = np.minimum(wanted, max_boost * natural)
        free = capped < max_boost * natural
        excess = 1.0 - capped.sum()
        if excess <= 1e-12 or not free.any():
            wanted = capped
            break
        capped[free] += excess * capped[free] / capped[free].sum()
        wanted = capped
    return dict(zip(keys.tolist(), (wanted / wanted.sum()).tolist()))


def bins_of(features: FaceFeatures, settings: BalanceSettings = BalanceSettings()) -> dict[str, np.ndarray]:
    """Integer bin of every face for each factor (unknown values fall in a bin of their own, -999)."""
    yaw = np.where(np.isfinite(features.yaw), np.floor(features.yaw / settings.yaw_bin + 0.5), -999).astype(int)
    mouth = np.where(np.isfinite(features.mouth), np.digitize(features.mouth, settings.mouth_edges), -999)
    out = {"yaw": yaw, "mouth": mouth.astype(int)}
    if settings.eyes:
        out["eyes_closed"] = features.eyes_closed.astype(int)
    return out


def sampling_weights(landmarks: np.ndarray, settings: BalanceSettings = BalanceSettings()) -> np.ndarray:
    """Draw probabilities (N,), summing to 1, for faces with N×478×2 crop landmarks."""
    n = len(landmarks)
    if n == 0:
        return np.zeros(0)
    factors = [(b, _targets(b, settings.strength, settings.max_boost)) for b in bins_of(face_features(landmarks), settings).values()]
    w = np.full(n, 1.0 / n)
    # Iterative proportional fitting: rescale to each factor's wanted bin shares in turn; repeated, the
    # weights settle where every factor is balanced at once (multiplying per-factor weights would not be,
    # when factors go together, e.g. closed eyes with a frown).
    for _ in range(50):
        for b, wanted in factors:
            for k, share in wanted.items():
                sel = b == k
                w[sel] *= share / w[sel].sum()
    w = w / w.mean()
    for _ in range(100):  # cap at max_boost × the mean; capping lowers the mean, so repeat until it holds
        capped = np.minimum(w, settings.max_boost * w.mean())
        if np.allclose(capped, w, rtol=1e-6, atol=0):
            break
        w = capped
    return w / w.sum()


def balance_summary(landmarks: np.ndarray, weights: np.ndarray | None = None,
                    settings: BalanceSettings = BalanceSettings()) -> dict[str, dict[str, list[float]]]:
    """For logs: per factor, each bin's share of the faces and its share of the draws under `weights`."""
    bins = bins_of(face_features(landmarks), settings)
    weights = sampling_weights(landmarks, settings) if weights is None else np.asarray(weights, np.float64)
    out = {}
    for name, b in bins.items():
        keys = np.unique(b)
        out[name] = {"bins": [int(k) for k in keys],
                     "faces": [round(float((b == k).mean()), 4) for k in keys],
                     "draws": [round(float(weights[b == k].sum() / weights.sum()), 4) for k in keys]}
    return out


def weighted_indices(weights: torch.Tensor, batch: int, gen: torch.Generator,
                     drawable: int | None = None) -> torch.Tensor:
    """`batch` face indices drawn with probabilities `weights` from the training generator (so resumes are
    exact); distinct within a batch when enough faces have weight, as `augment.sample_indices` does.
    `drawable`: how many faces have weight, counted once per face set by the caller (counting it here would
    wait for the device at every step)."""
    weights = weights.double()
    drawable = int((weights > 0).sum()) if drawable is None else drawable
    if batch > drawable:
        return torch.multinomial(weights, batch, replacement=True, generator=gen)
    # torch.multinomial without replacement, bit for bit and drawing the same numbers from `gen` (the faces
    # with the largest weight over an exponential key), less its check of `weights`, a host read on the CPU
    keys = torch.empty_like(weights).exponential_(1, generator=gen)
    return torch.topk(weights / keys, batch).indices
