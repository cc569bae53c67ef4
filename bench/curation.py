"""Curation: a face set extracted from a clip where two people alternate keeps only the chosen one. One JSON object.

    .venv/bin/python bench/curation.py [--every 30] [--nth 2] [--work DIR]

For each pair of the real clips in ../shared/data/faces (man_d19 + woman_d3: different people; woman_d3 +
woman_d10: two women 0.70 apart, near dlib's 0.6 same-person line), a clip is made that alternates `--every`
frames of one and of the other (all frames of both, the smaller video padded to the larger's size; the last
20 frames of each are held out and one of them is the reference photo). The clip is extracted (every
`--nth` frame) and curated three ways: keep the person with the most faces, and keep each person by its
held-out reference photo. Each face's true person is known from its frame number. Reported per run:
- precision / recall: of the faces the set keeps after every rule, the share that is the chosen person
  (target >= 0.99), and the share of the chosen person's faces kept (duplicates and outliers lower it);
- identity_precision / identity_recall: the same for the identity rule alone, on the faces it judged;
- seconds of the first curation (embeds every face) and of a second one (embeddings cached).
Dry runs, so each curation sees the whole set. Skips (prints {"skipped": ...}) when the clips are absent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import REAL_CLIPS  # noqa: E402

HELD_OUT = 20


def frames_of(path: Path) -> list[np.ndarray]:
    from masquerade.media import read_frames

    return [f.image for f in read_frames(path)]


def padded(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - frame.shape[0]) // 2, (w - frame.shape[1]) // 2
    out[y:y + frame.shape[0], x:x + frame.shape[1]] = frame
    return out


def alternating_clip(a: Path, b: Path, every: int, work: Path) -> tuple[Path, list[str], dict[str, Path]]:
    """(clip, person of each frame, held-out reference photo of each person)."""
    from masquerade.media import write_image, write_video

    fa, fb = frames_of(a), frames_of(b)
    h, w = max(fa[0].shape[0], fb[0].shape[0]), max(fa[0].shape[1], fb[0].shape[1])
    refs = {}
    for name, frames in ((a.stem, fa), (b.stem, fb)):
        refs[name] = write_image(work / f"reference_{name}.png", padded(frames[-HELD_OUT // 2], h, w))
    fa, fb = fa[:-HELD_OUT], fb[:-HELD_OUT]
    frames, who, ia, ib = [], [], 0, 0
    while ia < len(fa) or ib < len(fb):
        for name, src, start in ((a.stem, fa, ia), (b.stem, fb, ib)):
            chunk = src[start:start + every]
            frames += [padded(f, h, w) for f in chunk]
            who += [name] * len(chunk)
        ia, ib = ia + every, ib + every
    clip = write_video(work / f"{a.stem}+{b.stem}.mp4", frames, 30.0)
    return clip, who, refs


def score(report, fs_records: dict[str, int], who: list[str], chosen: str) -> dict:
    """precision/recall of what the set keeps in the end, and of the identity rule alone (on the faces it judged:
    those not set aside before it for their score or alignment)."""
    aside = {d.file: d.reason for d in report.decisions}
    people = {f: who[i] for f, i in fs_records.items()}
    judged = [f for f in people if aside.get(f) not in ("low_score", "misaligned")]
    passed = [f for f in judged if aside.get(f) != "other_person"]
    final = [f for f in people if f not in aside]
    truth = [f for f in people if people[f] == chosen]

    def share(part, whole):
        return round(len(part) / max(len(whole), 1), 4)

    return {"chosen": chosen, "faces": len(people), "chosen_faces": len(truth), "person": report.person,
            "precision": share([f for f in final if people[f] == chosen], final),
            "recall": share([f for f in final if people[f] == chosen], truth), "kept": len(final),
            "identity_precision": share([f for f in passed if people[f] == chosen], passed),
            "identity_recall": share([f for f in passed if people[f] == chosen], [f for f in judged if f in truth]),
            "set_aside": report.set_aside}


def run_pair(a: Path, b: Path, args, work: Path) -> dict:
    from masquerade.extract import ExtractConfig, extract
    from masquerade.faceset import FaceSet
    from masquerade.faceset.curate import EMBEDDINGS, CurateConfig, curate

    clip, who, refs = alternating_clip(a, b, args.every, work)
    out = work / f"fs-{a.stem}+{b.stem}"
    t0 = time.perf_counter()
    extract([clip], out, ExtractConfig(size=256, every_nth=args.nth))
    extract_s = time.perf_counter() - t0
    records = {r["file"]: r["frame_index"] for r in FaceSet.open(out).records}
    counts = {p: sum(who[i] == p for i in records.values()) for p in (a.stem, b.stem)}
    (out / EMBEDDINGS).unlink(missing_ok=True)
    t0 = time.perf_counter()
    largest = curate(out, CurateConfig(sheet=False), dry_run=True)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    curate(out, CurateConfig(sheet=False), dry_run=True)
    cached_s = time.perf_counter() - t0
    runs = [score(largest, records, who, max(counts, key=counts.get))]
    for name, photo in refs.items():
        runs.append({**score(curate(out, CurateConfig(reference=photo, sheet=False), dry_run=True), records, who,
                                name), "reference": photo.name})
    return {"clip": clip.name, "frames": len(who), "faces": len(records), "faces_per_person": counts,
            "extract_s": round(extract_s, 1), "curate_first_s": round(first_s, 1),
            "curate_cached_s": round(cached_s, 1), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=30, help="frames of one person before the other's")
    parser.add_argument("--nth", type=int, default=2, help="extract every n-th frame")
    parser.add_argument("--work", type=Path, default=None, help="keep the clips and face sets here")
    args = parser.parse_args()
    pairs = [("man_d19", "woman_d3"), ("woman_d3", "woman_d10")]
    if not all((REAL_CLIPS / f"{n}.mp4").is_file() for p in pairs for n in p):
        print(json.dumps({"skipped": f"real clips not found in {REAL_CLIPS}"}))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="masq-curation-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = [run_pair(REAL_CLIPS / f"{a}.mp4", REAL_CLIPS / f"{b}.mp4", args, work) for a, b in pairs]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    worst = min(min(r["precision"], r["identity_precision"]) for pair in results for r in pair["runs"])
    print(json.dumps({"bench": "curation", "every": args.every, "nth": args.nth, "pairs": results,
                      "worst_precision": worst, "target_met": worst >= 0.99}, indent=1))


if __name__ == "__main__":
    main()
