"""Occlusion benchmark (issue 26): do hands and objects stay in front of the swap, and is the face left whole?

    .venv/bin/python bench/occlusion.py --mask-model DIR [--frames 12] [--every 7] [--masks auto,hull+model]
        [--model DIR --target FACESET] [--seed 0] [--save DIR]

Prints ONE JSON object; {"skipped": ...} when ../shared/data/faces is absent. `--mask-model` is a folder
holding a trained occlusion mask (`model_dir/occlusion/`, made by `masquerade train` or `train-mask`).
`--model` (optional) is a trained swap model folder; without it a stand-in swap is used (the crop mirrored
and recoloured, with a full mask), which changes every face pixel, so any occluder pixel it does not
keep shows up, and the identity distance is not measured.

For each shared clip, `--frames` frames (every `--every`-th), and for each HELD-OUT occluder family of
`train/held_out_occluders.py` (shapes and pictures the mask net never saw: `object_photo`, `hand_template`), an
occluder is pasted at a random place over the face in the frame (the same draw for every `--masks` choice).
The frames then go through convert's own steps (stills: each frame on its own, no smoothing), and per family:
- `iou`: the final mask (what paste blends through) against the truth, hull minus occluder, in the crop;
- `occluder_kept`: share of the occluder's pixels over the face (inside the landmark hull) whose output differs from the input by at most 8 levels, and
  `occluder_psnr_db`: PSNR of the occluder region, input against output (the watermark is not applied here);
then on the same frames with no occluder: `hull_kept` (share of the hull the mask keeps, it must not eat the
face) and, with `--model`, `--target` (the face set of the person the swap turns faces into: B for the
default a2b) and the eval extra, `identity_distance`: the mean face-recognition distance of the converted
face (in the output frame, at the face's detection box) to the mean of `--target`'s faces. Comparing it
between `--masks` choices with and without `learned` says whether the learned mask costs the swap identity
(it would where it keeps parts of the original face).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, real_clips  # noqa: E402

TARGETS = {"iou": 0.90, "occluder_kept": 0.95, "occluder_psnr_db": 35.0, "hull_kept": 0.97}
TOLERANCE = 8  # levels of 255: an occluder pixel "survives unchanged" within this


class StandInSwap:
    """A swap that changes every face pixel (mirrored, warmer) with a full mask: no training needed."""

    def __init__(self, size: int = 128):
        from masquerade.faces.align import TEMPLATE_NAME

        self.config = SimpleNamespace(size=size, coverage="face", template=TEMPLATE_NAME, architecture="stand-in")
        self.faceset_size = {"a": 256, "b": 256}  # crop side of each identity's face set, as a model records it

    def swap(self, faces, direction):
        import torch

        out = faces.flip(-1) * torch.tensor([1.1, 0.95, 0.85]).view(1, 3, 1, 1)
        return out.clamp(0, 1), torch.ones_like(faces[:, :1])


def frames_of(clip: Path, count: int, every: int) -> list:
    from masquerade.media import read_frames

    out = []
    for i, frame in enumerate(read_frames(clip)):
        if i % every == 1:  # offset by one from extraction's every-3rd: not the frames a face set was made of
            out.append(frame)
        if len(out) >= count:
            break
    return out


def paste_in_frame(image: np.ndarray, landmarks: np.ndarray, draw, rng, palette):
    """The frame with an occluder of `draw`'s family over its face -> (image, occluder mask H×W bool)."""
    import cv2

    from masquerade.train.occluders import paste

    x0, y0 = landmarks.min(0)
    x1, y1 = landmarks.max(0)
    side = int(max(x1 - x0, y1 - y0) * 1.2)
    occ = draw(side, rng, palette)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = image.shape[:2]
    m = np.float32([[1, 0, cx - side / 2], [0, 1, cy - side / 2]])
    rgb = cv2.warpAffine(occ.rgb, m, (w, h))
    alpha = cv2.warpAffine(occ.alpha, m, (w, h))
    face = image.astype(np.float32) / 255
    out, hard = paste(face, SimpleNamespace(rgb=rgb, alpha=alpha, family=occ.family), rng, soft=True)
    return (out * 255).round().astype(np.uint8), hard


def run_masks(frames: list, model, mask: str, learned) -> list:
    """Each frame through convert's steps with `--mask mask` -> the FrameWork records (faces keep their masks)."""
    from masquerade.convert import ConvertConfig, faceset_size, run_frames
    from masquerade.convert.steps import StepContext, build_steps, close_steps

    config = ConvertConfig(mask=mask)
    steps = build_steps(StepContext(model, config, False, faceset_size(model, config.direction), occlusion=learned))
    items = []
    try:
        run_frames(frames, steps, items.append, batch_size=4)
    finally:
        close_steps(steps)
    return items


def region_scores(item, before: np.ndarray, occluder: np.ndarray) -> dict:
    """IoU of the face's mask with hull-minus-occluder in the crop; occluder pixels kept in the frame."""
    import cv2

    from masquerade.faces.align import warp_to_crop

    out = {}
    face = item.faces[0] if item.faces else None
    if face is not None:
        size = face.mask.shape[0]
        hull = cv2.resize(face.hull, (size, size), interpolation=cv2.INTER_LINEAR) if face.hull.shape[0] != size else face.hull
        occ_crop = warp_to_crop(occluder.astype(np.float32)[..., None].repeat(3, 2), face.matrix_for(size), size)[..., 0]
        truth = (hull > 0.5) & (occ_crop < 0.5)
        pred = face.mask > 0.5
        union = (truth | pred).sum()
        out["iou"] = float((truth & pred).sum() / union) if union else 1.0
        out["hull_kept"] = float((pred & (hull > 0.5)).sum() / max(1, (hull > 0.5).sum()))
    if occluder.any() and face is not None:
        from masquerade.faces.align import warp_to_frame

        h, w = before.shape[:2]
        over_face = warp_to_frame(face.hull, face.matrix_for(face.hull.shape[0]), w, h) > 0.5
        # the occluder's pixels over the face (elsewhere nothing is swapped), less their 1 px blended rim
        region = (cv2.erode(occluder.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & over_face
        if not region.any():
            return out
        diff = np.abs(item.output.astype(int) - before.astype(int))[region]
        out["occluder_kept"] = float((diff.max(axis=1) <= TOLERANCE).mean())
        mse = float((diff.astype(np.float64) ** 2).mean())
        out["occluder_psnr_db"] = 99.0 if mse == 0 else float(10 * np.log10(255 ** 2 / mse))
    return out


def target_identity(faceset: Path):
    """A function: a converted frame's record -> distance of its first face to the mean of `faceset`'s faces."""
    from masquerade.evaluate.identity import faceset_identity
    from masquerade.faceset import FaceSet
    from masquerade.faces.identity import IdentityEmbedder, distance

    embedder = IdentityEmbedder()
    centre = faceset_identity(embedder, FaceSet.open(faceset))
    return lambda item: round(distance(embedder.embed(item.output, item.faces[0].detection.box), centre), 4)


def mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if key in r]
    return round(float(np.mean(vals)), 4) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mask-model", type=Path, required=True)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--target", type=Path, help="With --model: the face set of the person the swap should look like.")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--every", type=int, default=7)
    ap.add_argument("--masks", default="auto,hull+model+hands,hull+model+learned,hull+model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, help="Write the first frame of each clip, family and mask (input | output) here.")
    args = ap.parse_args()
    clips = real_clips()
    if not clips:
        print(json.dumps({"skipped": "../shared/data/faces is absent"}))
        return
    from masquerade.convert.run import open_model
    from masquerade.faces import create_detector
    from masquerade.media import read_frames  # noqa: F401 - imported for its side effects on first use
    from masquerade.models.occlusion import load_mask_net
    from masquerade.records import Frame
    from masquerade.train.held_out_occluders import HELD_OUT_FAMILIES
    from masquerade.train.occluders import palette_from_faces

    t0 = time.perf_counter()
    learned = load_mask_net(args.mask_model, "cpu")
    model = open_model(args.model) if args.model else StandInSwap()
    masks = [m for m in args.masks.split(",") if m]
    detector = create_detector("mediapipe")
    identity = target_identity(args.target) if args.model and args.target else None
    rows: dict[str, dict[str, list]] = {m: {f: [] for f in [*HELD_OUT_FAMILIES, "clean"]} for m in masks}
    for clip in clips:
        frames = frames_of(clip, args.frames, args.every)
        rng = np.random.default_rng(args.seed)
        found = [detector.detect(f.image) for f in frames]
        frames = [f for f, d in zip(frames, found) if d]
        lms = [d[0].landmarks for d in found if d]
        # skin tones for the hand template: the clip's own faces (as training takes them from the face sets)
        crops = [f.image[int(l[:, 1].min()):int(l[:, 1].max()), int(l[:, 0].min()):int(l[:, 0].max())] for f, l in zip(frames, lms)]
        import cv2

        faces = np.stack([cv2.resize(c, (64, 64)) for c in crops])
        palette = palette_from_faces(faces, np.full(faces.shape[:3], 255, np.uint8))
        sets = {"clean": [(f.image, np.zeros(f.image.shape[:2], bool)) for f in frames]}
        for fam, draw in HELD_OUT_FAMILIES.items():
            sets[fam] = [paste_in_frame(f.image, l, draw, rng, palette) for f, l in zip(frames, lms)]
        for mask in masks:
            for fam, pairs in sets.items():
                items = run_masks([Frame(i, i / 30, img, clip.name) for i, (img, _) in enumerate(pairs)], model, mask,
                                  learned)
                for item, (img, occ) in zip(items, pairs):
                    rows[mask][fam].append(region_scores(item, img, occ))
                    if fam == "clean" and identity is not None and item.faces:
                        rows[mask][fam][-1]["identity_distance"] = identity(item)
                if args.save and items:
                    args.save.mkdir(parents=True, exist_ok=True)
                    pair = np.concatenate([pairs[0][0], items[0].output], axis=1)
                    cv2.imwrite(str(args.save / f"{clip.stem}_{fam}_{mask}.png"), pair[:, :, ::-1])
    out = {"bench": "occlusion", "clips": [c.name for c in clips], "frames_per_clip": args.frames,
           "model": str(args.model) if args.model else "stand-in (mirrored, recoloured, full mask)", "target": str(args.target) if args.target else None,
           "mask_net": {k: getattr(learned.manifest, k) for k in ("steps", "seconds", "held_out")},
           "targets": TARGETS, "results": {}}
    for mask in masks:
        res = {}
        for fam in HELD_OUT_FAMILIES:
            r = rows[mask][fam]
            res[fam] = {"faces": sum("iou" in x for x in r), "iou": mean(r, "iou"),
                        "occluder_kept": mean(r, "occluder_kept"), "occluder_psnr_db": mean(r, "occluder_psnr_db")}
        res["clean"] = {"faces": sum("iou" in x for x in rows[mask]["clean"]), "hull_kept": mean(rows[mask]["clean"], "hull_kept"),
                        "identity_distance": mean(rows[mask]["clean"], "identity_distance")}
        out["results"][mask] = res
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["machine"] = machine()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
