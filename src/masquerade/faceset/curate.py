"""Curating a face set so it holds one person: other people, near-duplicates and outliers are set aside.

Real footage has other people in it, wrong detections and runs of near-identical frames; a model trained on
all of them learns a blend. `curate` decides, face by face, with the reason in words:

- `low_score`: the detector's confidence is under `min_score` (0: the landmark tracker followed a face the
  detector did not confirm);
- `misaligned`: the landmarks sit far from the alignment template after alignment (a failed fit);
- `other_person`: the face-recognition distance to the kept person is over `max_distance`. The person is the
  reference photo's (`--reference`), else the one with the most faces (`faces.identity.main_person`);
- `blurry`: the blur score (recorded by extract) is under `min_sharpness` of the kept person's median;
- `near_duplicate`: a 32 px grey thumbnail differs from the previous kept face of the same footage by less
  than `duplicate_difference` grey levels (brightness removed), so a still shot keeps one face per change.

Nothing is deleted: each face moves to `set_aside/<reason>/` through the face set's locked writer
(`FaceSet.edit` / `set_aside`), and `restore` puts any reason's faces back. A dry run decides the same and
moves nothing. Embeddings cost ~0.15 s a face on a CPU, so they are cached in the face set
(`identity.safetensors`, by face file) and a second run only embeds new faces.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import atomic
from ..errors import MasqueradeError, NoFaceError
from .core import FaceSet
from ..options import check, opt
from ..records import ProgressFn, no_progress

EMBEDDINGS = "identity.safetensors"
EMBEDDING_FORMAT = "1"  # dlib ResNet v1 on the aligned crop, face box 0.9 of the crop (IdentityEmbedder.embed_crop)
REASONS = ("low_score", "misaligned", "other_person", "blurry", "near_duplicate")  # the order they are judged in
THUMB = 32


@dataclass(frozen=True)
class CurateConfig:
    reference: Path | None = opt(None, help="Photo of the person to keep; without one, the person with the most "
                                            "faces in the set is kept.",
                            ui=False)  # the UI has its own photo upload (ui/cleanup_panel.py)
    one_person: bool = opt(True, flag="--one-person/--all-people",
                           help="Set aside the faces of everyone but the person kept.",
                           title="Keep only one person", tip="Set aside the faces of everyone else the clips show. "
                                                             "Turn it off only if you want everyone kept.")
    max_distance: float = opt(0.5, low=0.1, high=1.5, help="Face-recognition distance from the kept person above "
                                                           "which a face counts as someone else.",
                           title="How different the same person may look",
                           tip="Faces that look less like the person kept than this count as someone else. Raise it "
                               "if faces of this person were set aside; lower it if look-alikes stay.",
                           group="Who is kept")
    duplicate_difference: float = opt(1.0, low=0.0, help="Set aside a face whose small grey thumbnail differs from "
                                                         "the previous kept face of its footage by less than this "
                                                         "many grey levels (0 keeps near-duplicates).",
                                    title="Least change between kept frames",
                                    tip="A face that looks almost the same as the one kept just before it in the same "
                                        "clip is set aside, so a still shot does not fill the set. Zero keeps them all.",
                                    group="Near-identical frames")
    min_score: float = opt(0.5, low=0.0, high=1.0, help="Set aside faces whose detector confidence is below this.",
                           title="Least certainty that it is a face",
                           tip="Faces the face finder was unsure of are set aside. Raise it to set aside more "
                               "doubtful faces.", group="Badly found faces")
    max_misalignment: float = opt(0.08, low=0.0, help="Set aside faces whose landmarks miss the alignment template "
                                                      "by more than this share of the crop (failed alignments).",
                                title="Most a face's features may be out of place",
                                tip="Faces whose eyes, nose and mouth were found in the wrong places are set aside. "
                                    "Lower is stricter.", group="Badly found faces")
    min_sharpness: float = opt(0.35, low=0.0, high=1.0, help="Set aside faces whose blur score is below this share "
                                                             "of the kept faces' median (0 keeps blurry faces).",
                              title="Least sharpness", tip="Faces much blurrier than this person's usual faces are "
                                                           "set aside. Raise it to set aside more; zero keeps them all.",
                              group="Badly found faces")
    sheet: bool = opt(True, flag="--sheet/--no-sheet", help="Write the coverage contact sheet (coverage.png and "
                                                            "coverage.json) into the face set.",
                  ui=False)  # the UI always shows it

    def validate(self) -> None:
        check(self, MasqueradeError, words=True)


@dataclass(frozen=True)
class Decision:
    file: str
    reason: str  # one of REASONS
    why: str


@dataclass
class CurateReport:
    faceset: str
    faces: int = 0  # in the set before
    kept: int = 0
    set_aside: dict[str, int] = field(default_factory=dict)  # reason -> faces
    decisions: list[Decision] = field(default_factory=list)
    person: str = ""
    embedded: int = 0  # embeddings computed this run (the rest came from the cache)
    dry_run: bool = False
    sheet: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


# -- decisions ---------------------------------------------------------------------------------------------
def misalignment(fs: FaceSet) -> np.ndarray:
    """Per face: RMS distance of the template's landmarks from their template positions after alignment, as a
    share of the crop side (about 0.01-0.04 for real faces, growing with head turn)."""
    from ..faces.align import get_template, template_points, transform_points

    t = get_template(fs.manifest.template)
    target = template_points(fs.size, fs.manifest.coverage, template=t.name)
    w = np.full(len(target), 1.0 / len(target)) if t.weights is None else t.weights / np.sum(t.weights)
    out = np.empty(len(fs))
    for i, r in enumerate(fs.records):
        placed = transform_points(np.asarray(r["landmarks"])[t.indices], np.asarray(r["matrix"]))
        out[i] = np.sqrt(w @ ((placed - target) ** 2).sum(1)) / fs.size
    return out


def outliers(fs: FaceSet, config: CurateConfig) -> dict[int, Decision]:
    """Faces that fail a check of their own (detector score, then alignment), by index."""
    found: dict[int, Decision] = {}
    off = misalignment(fs)
    for i, r in enumerate(fs.records):
        score = float(r.get("score", 1.0))
        if score < config.min_score:
            found[i] = Decision(r["file"], "low_score", f"detector confidence {score:.2f} < {config.min_score:g}")
        elif off[i] > config.max_misalignment:
            found[i] = Decision(r["file"], "misaligned", f"landmarks {off[i]:.3f} of the crop off the template "
                                                         f"(> {config.max_misalignment:g})")
    return found


def blurry(fs: FaceSet, kept: list[int], share: float) -> dict[int, Decision]:
    """Among `kept`, faces whose blur score is under `share` of theirs' median. Judged after the other people
    are gone: one person's footage may be much sharper than another's, and must not make the other's blurry."""
    if not kept or share <= 0:
        return {}
    blur = {i: float(fs.records[i].get("blur", 0.0)) for i in kept}
    median = float(np.median(list(blur.values())))
    return {i: Decision(fs.records[i]["file"], "blurry", f"blur score {b:.1f} < {share:g} x the median {median:.1f}")
            for i, b in blur.items() if b < share * median}


def thumbnail(crop: np.ndarray) -> np.ndarray:
    """A 32 px grey thumbnail with its mean removed: near-duplicates differ by little even when the light changed."""
    import cv2

    grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float32)
    return grey - grey.mean()


def duplicates(fs: FaceSet, kept: list[int], threshold: float) -> dict[int, Decision]:
    """Among `kept` (indices, in the set's order: by footage, then frame), faces too like the last kept face of
    the same footage."""
    found: dict[int, Decision] = {}
    if threshold <= 0:
        return found
    last: dict[str, tuple[str, np.ndarray]] = {}
    for i in kept:
        r = fs.records[i]
        footage = str(r.get("source_id") or r.get("source", ""))
        thumb = thumbnail(fs.crop(i))
        if footage in last:
            name, prev = last[footage]
            diff = float(np.abs(thumb - prev).mean())
            if diff < threshold:
                found[i] = Decision(r["file"], "near_duplicate", f"differs from {name} by {diff:.2f} grey levels "
                                                                 f"(< {threshold:g})")
                continue
        last[footage] = (r["file"], thumb)
    return found


# -- face-recognition embeddings, cached in the face set ---------------------------------------------------
def face_embeddings(fs: FaceSet, progress: ProgressFn = no_progress,
                    embedder_factory: Callable | None = None) -> tuple[np.ndarray, int]:
    """(N×128 embeddings of the set's faces, how many were computed now): cached ones are reused by face file.

    The cache holds every face ever embedded (set-aside ones too, so a restored face costs nothing) and is
    written atomically; call under `FaceSet.edit` so only one writer touches it."""
    from safetensors.numpy import save_file

    cache = _read_embeddings(fs.root / EMBEDDINGS, fs.size)
    todo = [i for i, r in enumerate(fs.records) if r["file"] not in cache]
    if todo:
        if embedder_factory is None:
            from ..faces.identity import IdentityEmbedder as embedder_factory
        embedder = embedder_factory()
        started = time.perf_counter()
        for n, i in enumerate(todo, 1):
            cache[fs.records[i]["file"]] = embedder.embed_crop(fs.crop(i)).astype(np.float32)
            progress("embed", n, len(todo), {"faces/s": n / max(time.perf_counter() - started, 1e-6)})
        files = sorted(cache)
        with atomic.atomic_path(fs.root / EMBEDDINGS) as tmp:
            save_file({"embeddings": np.stack([cache[f] for f in files])}, str(tmp),
                      metadata={"format": EMBEDDING_FORMAT, "size": str(fs.size), "files": json.dumps(files)})
    return np.stack([cache[r["file"]] for r in fs.records]), len(todo)


def _read_embeddings(path: Path, size: int) -> dict[str, np.ndarray]:
    """The cache as {file: embedding}; empty when missing, of another format or damaged (it is derived data)."""
    from safetensors import safe_open

    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            if meta.get("format") != EMBEDDING_FORMAT or meta.get("size") != str(size):
                return {}
            files, emb = json.loads(meta["files"]), f.get_tensor("embeddings")
    except Exception:  # safetensors and json raise their own types for every kind of damage; all mean rebuild
        return {}
    if not isinstance(files, list) or emb.ndim != 2 or emb.shape[0] != len(files):
        return {}
    return {str(name): emb[k] for k, name in enumerate(files)}


def reference_embedding(photo: Path, fs: FaceSet, embedder_factory: Callable | None = None) -> np.ndarray:
    """The embedding of the largest face in `photo`, aligned exactly as the face set's faces were."""
    from ..faces import create_detector
    from ..faces.align import align_face
    from ..media import read_image

    image = read_image(photo)
    detector = create_detector(fs.manifest.detector, video=False, max_faces=4)
    try:
        found = sorted(detector.detect(image), key=lambda d: -d.size)
    finally:
        detector.close()
    if not found:
        raise NoFaceError(f"{photo}: no face found in the reference photo; give a photo where the face is clearly "
                          "visible")
    face = align_face(image, found[0], fs.size, fs.manifest.coverage, fs.manifest.template)
    if embedder_factory is None:
        from ..faces.identity import IdentityEmbedder as embedder_factory
    return embedder_factory().embed_crop(face.crop)


def plan(fs: FaceSet, config: CurateConfig, progress: ProgressFn = no_progress,
         embedder_factory: Callable | None = None) -> tuple[list[Decision], str, int]:
    """(decisions, which person was kept, embeddings computed): what `curate` would set aside, and why."""
    from ..faces.identity import distances_to, main_person

    found = outliers(fs, config)
    rest = [i for i in range(len(fs)) if i not in found]
    person, embedded = "everyone (--all-people)", 0
    if config.one_person and rest:
        emb, embedded = face_embeddings(fs, progress, embedder_factory)
        ref = None if config.reference is None else reference_embedding(config.reference, fs, embedder_factory)
        try:
            centre = main_person(emb[rest], config.max_distance, ref)
        except ValueError:
            raise NoFaceError(f"no face in {fs.root} is within {config.max_distance:g} of the person in "
                              f"{config.reference}; check the photo, or raise --max-distance") from None
        dist = distances_to(emb, centre)
        others = [i for i in rest if dist[i] > config.max_distance]
        for i in others:
            found[i] = Decision(fs.records[i]["file"], "other_person",
                                f"face-recognition distance {dist[i]:.2f} > {config.max_distance:g}")
        rest = [i for i in rest if i not in found]
        person = (f"the person in {config.reference}" if ref is not None else
                  f"the person with the most faces ({len(rest)} of {len(fs)})")
    found.update(blurry(fs, rest, config.min_sharpness))
    rest = [i for i in rest if i not in found]
    found.update(duplicates(fs, rest, config.duplicate_difference))
    return [found[i] for i in sorted(found)], person, embedded


def curate(faceset: str | Path, config: CurateConfig = CurateConfig(), dry_run: bool = False,
           progress: ProgressFn = no_progress, embedder_factory: Callable | None = None) -> CurateReport:
    """Keep one person in the face set and set the rest aside by reason (nothing moves with `dry_run`); write
    the coverage contact sheet of the faces kept. The UI calls this too."""
    from .sheet import write_sheet

    config.validate()
    started = time.perf_counter()
    report = CurateReport(str(faceset), dry_run=dry_run)
    with FaceSet.edit(faceset) as fs:
        report.faces = len(fs)
        report.decisions, report.person, report.embedded = plan(fs, config, progress, embedder_factory)
        for d in report.decisions:
            report.set_aside[d.reason] = report.set_aside.get(d.reason, 0) + 1
        gone = {d.file for d in report.decisions}
        if len(gone) == len(fs):
            raise NoFaceError(f"{fs.root}: every face would be set aside ({report.set_aside}); loosen the settings")
        if not dry_run:
            for reason in REASONS:
                chosen = {d.file: d.why for d in report.decisions if d.reason == reason}
                if chosen:
                    fs.set_aside(chosen, reason, chosen)
        report.kept = report.faces - len(gone)
        if config.sheet:
            keep = [i for i, r in enumerate(fs.records) if r["file"] not in gone]
            report.sheet = str(write_sheet(fs, keep))
    report.seconds = time.perf_counter() - started
    return report


def restore(faceset: str | Path, reason: str | None = None, files: list[str] | None = None) -> int:
    """Put back the faces set aside for `reason` (every reason when None), or only the named `files`; returns
    how many came back."""
    with FaceSet.edit(faceset) as fs:
        return fs.restore(reason, files)


def set_aside(faceset: str | Path, files: list[str], reason: str = "removed", why: str = "") -> int:
    """Set the named faces aside by hand (the UI's "remove"), under the face set's writer lock."""
    with FaceSet.edit(faceset) as fs:
        return fs.set_aside(files, reason, {f: why for f in files} if why else None)


def coverage_sheet(faceset: str | Path) -> Path:
    """Write (or refresh) the coverage contact sheet of a face set as it is; returns coverage.png's path."""
    from .sheet import write_sheet

    with FaceSet.edit(faceset) as fs:
        return write_sheet(fs)


__all__ = ["CurateConfig", "CurateReport", "Decision", "REASONS", "coverage_sheet", "curate", "face_embeddings",
           "plan", "restore", "set_aside"]
