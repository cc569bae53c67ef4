"""Held-out validation for training: a stable split of each face set, and the scores logged at each preview.

The split is by a hash of each face's file name, not by position or a random draw: a face is held out or not
for ever, so when a face set grows (face sets only grow) the faces held out before stay held out and the
curves of a resumed run stay comparable. About `share` of the faces (default 5%) are held out; a set too
small to hold any out by the hash gives up its lowest-hash face so there is always something to measure.

Scores, for any net with `render(x, identity)` (see `models/base.py`):
- A→A and B→B on held-out faces: SSIM over the crop, SSIM inside the face mask, and L1 — at the model's size,
  or at `eval_size` (e.g. the face set's 256 px) after bicubic resizing or an identity upscaler, so the gain
  of the upscaler is measured on the same footing;
- identity distance of held-out faces swapped A→B (and B→A) to each identity's mean face-recognition
  embedding, when the `eval` extra (dlib) is installed. It costs ~30 ms per face on a CPU, so it embeds at
  most `identity_faces` faces per direction.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..faceset import FaceSetManifest, FaceTensors
from .config import DEFAULT_SHARE
from .losses import ssim_map
_SALT = b"masquerade-holdout-v1:"

Upscale = Callable[[torch.Tensor], torch.Tensor]  # N×3×s×s [0, 1] -> N×3×S×S [0, 1]


def holdout_key(name: str) -> float:
    """A face name's fixed position in [0, 1): faces whose key is below the share are held out."""
    digest = hashlib.sha256(_SALT + name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Split:
    train: list[int]  # face indices used for training
    held: list[int]  # face indices held out for validation


def split_names(names: Sequence[str], share: float = DEFAULT_SHARE, min_held: int = 1) -> Split:
    """Split faces by the hash of their names; at least `min_held` held out when more faces than that exist."""
    if not 0 <= share < 1:
        raise ValueError(f"the held-out share must be in [0, 1), not {share}")
    keys = [holdout_key(n) for n in names]
    held = {i for i, k in enumerate(keys) if k < share}
    if share > 0 and len(held) < min_held and len(names) > min_held:
        held = set(sorted(range(len(names)), key=lambda i: keys[i])[:min_held])
    return Split([i for i in range(len(names)) if i not in held], sorted(held))


def face_names(faceset: Any) -> list[str]:
    """Stable names of a face set's faces: the crop file names (index strings for sets without records)."""
    records = getattr(faceset, "records", None)
    if records is not None:
        return [str(r["file"]) for r in records]
    n = len(faceset.load_tensors(size=FaceSetManifest.of(faceset).size))
    return [str(i) for i in range(n)]


def split_faceset(faceset: Any, share: float = DEFAULT_SHARE) -> Split:
    return split_names(face_names(faceset), share)


class FaceSubset:
    """Some faces of a face set, with its manifest: what `train` reads instead of the whole set."""

    def __init__(self, faceset: Any, indices: Sequence[int]):
        self.manifest, self.faceset, self.indices = faceset.manifest, faceset, list(indices)
        records = getattr(faceset, "records", None)
        if records is not None:
            self.records = [records[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def load_tensors(self, size: int) -> FaceTensors:
        t = self.faceset.load_tensors(size=size)
        idx = torch.as_tensor(self.indices, dtype=torch.long)
        return FaceTensors(t.faces[idx], t.masks[idx], t.landmarks[idx])


@dataclass
class HeldOut:
    """Held-out faces of one identity: model-size inputs and `eval_size` references (uint8, CPU)."""

    inputs: torch.Tensor  # N×3×s×s, the face set's cache at the model's size (as training sees faces)
    targets: torch.Tensor  # N×3×S×S at eval size
    masks: torch.Tensor  # N×1×S×S at eval size
    measures: torch.Tensor | None = None  # N×11 expression measures (`faces.expression_reference`)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def held_out(faceset: Any, indices: Sequence[int], size: int, eval_size: int | None = None) -> HeldOut:
    sub = FaceSubset(faceset, indices)
    small = sub.load_tensors(size)
    big = small if eval_size in (None, size) else sub.load_tensors(int(eval_size))
    from ..faces.expression_reference import measures

    return HeldOut(small.faces, big.faces, big.masks, torch.from_numpy(measures(small.landmarks.numpy())))


def _float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device).float().div_(255.0)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased when shrinking) resize of N×C×s×s images in [0, 1]: the no-upscaler baseline."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def image_scores(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """SSIM (whole crop and inside the mask) and L1 of float N×3×S×S images in [0, 1].

    The SSIM is the training loss's (11-tap Gaussian window), named `ssim_gauss11` so that no report confuses
    it with `evaluate`'s scikit-image SSIM (`ssim_box7`, a 7×7 uniform window): the two differ on the same faces."""
    smap = ssim_map(out.float(), target.float())
    m = mask.float().expand_as(smap)
    return {
        "ssim_gauss11": float(smap.mean()),
        "ssim_gauss11_face": float((smap * m).sum() / m.sum().clamp_min(1.0)),
        "l1": float((out.float() - target.float()).abs().mean()),
    }


@torch.no_grad()
def render_batches(net, x: torch.Tensor, identity: str, chunk: int = 32, measures: torch.Tensor | None = None,
                   source: str | None = None) -> torch.Tensor:
    """`net.render(x, identity, measures, source)[0]` in eval mode, in chunks, restoring the net's training flag."""
    was_training = getattr(net, "training", False)
    if hasattr(net, "eval"):
        net.eval()
    expression_map = getattr(net, "expression_map", None)  # nets without expression channels: render(x, identity)
    takes = measures is not None and expression_map is not None and expression_map(identity) is not None
    parts = measures.to(x.device).split(chunk) if takes else [None] * len(x.split(chunk))
    try:
        return torch.cat([(net.render(part, identity, m, source) if takes else net.render(part, identity))[0]
                          .float().clamp(0, 1) for part, m in zip(x.split(chunk), parts)])
    finally:
        if hasattr(net, "train"):
            net.train(was_training)


@torch.no_grad()
def reconstruction_scores(net, held: HeldOut, identity: str, device: torch.device | str = "cpu",
                          upscaler: Upscale | None = None) -> dict[str, float]:
    """X→X on held-out faces, compared at the held-out references' size (`upscaler` or bicubic to reach it)."""
    device = torch.device(device)
    if len(held) == 0:
        return {"ssim_gauss11": float("nan"), "ssim_gauss11_face": float("nan"), "l1": float("nan"), "faces": 0}
    out = render_batches(net, _float(held.inputs, device), identity, measures=held.measures)
    size = held.targets.shape[-1]
    out = upscaler(out).float().clamp(0, 1) if upscaler is not None and size != out.shape[-1] else resize(out, size)
    scores = image_scores(out, _float(held.targets, device), _float(held.masks, device))
    return {**scores, "faces": len(held)}


def identity_available() -> bool:
    """Whether face-recognition embeddings can be computed (the `eval` extra: dlib + its model files)."""
    return all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))


def _to_uint8(x: torch.Tensor) -> list[np.ndarray]:
    return list((x.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy())


class IdentityProbe:
    """Mean embeddings of both identities (from their training faces), and distances of swapped faces."""

    def __init__(self, faces_a: torch.Tensor, faces_b: torch.Tensor, limit: int = 16, embedder=None):
        from ..faces.identity import IdentityEmbedder

        self.embedder = embedder or IdentityEmbedder()
        self.means = {k: self._mean(v, limit) for k, v in (("a", faces_a), ("b", faces_b))}

    def _mean(self, faces: torch.Tensor, limit: int) -> np.ndarray:
        idx = np.linspace(0, len(faces) - 1, min(limit, len(faces))).round().astype(int)
        return np.mean([self.embedder.embed_crop(c) for c in _to_uint8(faces[idx].float() / 255)], axis=0)

    def distances(self, swapped: torch.Tensor, target: str, source: str) -> dict[str, float]:
        """Mean embedding distance of swapped faces (float N×3×S×S, ≥ ~128 px for dlib) to both identities."""
        from ..faces.identity import distance

        emb = [self.embedder.embed_crop(c) for c in _to_uint8(swapped)]
        return {"to_target": float(np.mean([distance(e, self.means[target]) for e in emb])),
                "to_source": float(np.mean([distance(e, self.means[source]) for e in emb]))}


class Validator:
    """Everything `train` needs for held-out curves: the two splits, the training subsets and `scores(net)`.

    `scores` returns flat keys for metrics.jsonl: val_ssim_gauss11_a, val_ssim_gauss11_face_a, val_l1_a (and _b), and with
    identity on, val_id_a2b_to_b / val_id_a2b_to_a (and b2a). Lower distance to the target is better.
    """

    def __init__(self, faceset_a: Any, faceset_b: Any, size: int, share: float = DEFAULT_SHARE,
                 eval_size: int | None = None, identity: bool | None = None, identity_faces: int = 8,
                 device: torch.device | str = "cpu"):
        self.size, self.device = size, torch.device(device)
        self.splits = {"a": split_faceset(faceset_a, share), "b": split_faceset(faceset_b, share)}
        sets = {"a": faceset_a, "b": faceset_b}
        self.train_sets = {k: FaceSubset(sets[k], s.train) for k, s in self.splits.items()}
        self.held = {k: held_out(sets[k], s.held, size, eval_size) for k, s in self.splits.items()}
        self.identity_faces = identity_faces
        self.probe: IdentityProbe | None = None
        self.identity = identity_available() if identity is None else bool(identity)
        self._id_size = max(int(eval_size or 0), 128)  # dlib's aligner wants a face well above 64 px

    def _identity_probe(self) -> IdentityProbe:
        """Built at the first identity score, not before: embedding the mean faces costs about a second, which
        a run that never reaches an identity preview should not pay."""
        if self.probe is None:
            faces = {k: self.train_sets[k].load_tensors(self._id_size).faces for k in ("a", "b")}
            self.probe = IdentityProbe(faces["a"], faces["b"])
        return self.probe

    @torch.no_grad()
    def scores(self, net, upscalers: dict[str, Upscale] | None = None, identity: bool = True) -> dict[str, float]:
        """Held-out scores of `net`; the identity distances only when `identity` and dlib is there (they
        cost ~30 ms a face, so training asks for them every few previews only)."""
        upscalers = upscalers or {}
        out: dict[str, float] = {}
        for side in ("a", "b"):
            s = reconstruction_scores(net, self.held[side], side, self.device, upscalers.get(side))
            out.update({f"val_{k}_{side}": round(v, 5) for k, v in s.items() if k != "faces"})
        if identity and self.identity and any(len(h) for h in self.held.values()):
            self._identity_probe()
            for src, dst in (("a", "b"), ("b", "a")):
                held = self.held[src]
                if not len(held):
                    continue
                x = _float(held.inputs[: self.identity_faces], self.device)
                m = None if held.measures is None else held.measures[: self.identity_faces]
                swapped = render_batches(net, x, dst, measures=m, source=src)
                up = upscalers.get(dst)
                swapped = up(swapped) if up is not None else swapped
                d = self.probe.distances(resize(swapped.float(), self._id_size), dst, src)
                out[f"val_id_{src}2{dst}_to_{dst}"] = round(d["to_target"], 4)
                out[f"val_id_{src}2{dst}_to_{src}"] = round(d["to_source"], 4)
        return out
