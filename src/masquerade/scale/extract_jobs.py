"""`ray_extract`: one Ray task per input file, each into its own face set, merged in input order.

Each task names its faces with the source index it has in the whole job, so the merged face set has the
same files and records, in the same order, as `extract` over the same inputs. The per-file face sets live
in a work folder beside the output until the merge; a finished one is reused after an interruption.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..errors import NoFaceError
from ..extract import ExtractConfig, ExtractSummary, extract_frame, faceset_settings, open_job
from ..faceset import FaceSet
from ..records import ProgressFn, Tally, no_progress
from .cluster import RayOptions, collect, ray_session, remote
from .ledger import Ledger, fingerprint

_SUMMARY_KEYS = ("frames", "kept", "no face")


def _extract_part(path: str, source_index: int, part: str, config: ExtractConfig) -> dict:
    """Worker: extract one source into the face set `part` (replacing an unfinished one) like `extract` does."""
    from ..faces import create_detector
    from ..media import probe, read_frames

    info = probe(path)
    root = Path(part)
    shutil.rmtree(root, ignore_errors=True)
    faceset = FaceSet.create_or_resume(root, faceset_settings(config))
    entry = faceset.source_entry(info.path)
    tally = Tally()
    detector = create_detector(config.detector, video=info.kind == "video", max_faces=max(4, config.max_faces),
                               min_score=config.min_score)
    try:
        for frame in read_frames(info.path, every_nth=config.every_nth):
            entry["faces"] += extract_frame(frame, detector, config, faceset, source_index, tally, True)
            tally.add("frames")
            entry.update(next_frame=frame.index + 1, frames_read=entry["frames_read"] + 1)
    finally:
        detector.close()
    entry["done"] = True
    faceset.checkpoint(complete=True)
    return {"entry": entry, "tally": tally.counts}


def _link(src: Path, dst: Path) -> None:
    """Hard-link (or copy) a finished face file into the output; atomic, and the part keeps its copy."""
    tmp = dst.with_name(f".{dst.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def ray_extract(inputs: Sequence[str | Path], output: str | Path, config: ExtractConfig = ExtractConfig(),
                address: str | None = None, progress: ProgressFn = no_progress,
                options: RayOptions = RayOptions()) -> ExtractSummary:
    """`extract` with one Ray task per input; the face set at `output` is the one `extract` would make."""
    started = time.perf_counter()
    infos, faceset = open_job(inputs, output, config)
    output = Path(output)
    entries = [faceset.source_entry(info.path) for info in infos]
    summary = ExtractSummary(str(output), sources=len(infos))
    tally = Tally()
    total = sum((info.frame_count or 1) // config.every_nth for info in infos)
    work = output.with_name(f".{output.name}.ray")
    results: dict[int, dict] = {}
    with ray_session(address, options) as ray:
        ledger = Ledger.open(work, "masquerade.ray-extract", {"settings": faceset_settings(config), "config": asdict(config)})
        task = remote(ray, _extract_part, options)
        pending = {}
        for i, info in enumerate(infos):
            record = ledger.item(info.path, {"fingerprint": fingerprint(info.path), "index": i}, [])
            if entries[i]["done"]:
                continue  # already in the output (an earlier run got this far)
            if record["done"] and FaceSet.is_faceset(work / f"part_{i:03d}"):
                results[i] = record["result"]
                continue
            pending[task.remote(_extract_part, info.path, i, str(work / f"part_{i:03d}"), config)] = i
        ledger.save()

        def finished(i: int, result: dict) -> None:
            ledger.data["items"][infos[i].path].update(done=True, result=result)
            ledger.save()
            results[i] = result
            done = sum(r["entry"]["frames_read"] for r in results.values())
            faces = sum(r["entry"]["faces"] for r in results.values())
            progress("extract", done, total, {"faces": faces, "faces/s": faces / (time.perf_counter() - started)})

        collect(ray, pending, finished)
    for i, info in enumerate(infos):  # merge in input order: the records come out as `extract` writes them
        if i not in results:
            continue
        part = FaceSet.create_or_resume(work / f"part_{i:03d}", faceset_settings(config))
        for record in part.records:
            for folder in ("faces", "masks"):
                (output / folder).mkdir(parents=True, exist_ok=True)
                _link(part.root / folder / record["file"], output / folder / record["file"])
        files = {r["file"] for r in part.records}
        faceset.records = [r for r in faceset.records if r["file"] not in files] + part.records
        entries[i].update(results[i]["entry"])
        for k, v in results[i]["tally"].items():
            tally.add(k, v)
        if results[i]["entry"]["faces"] == 0:
            summary.sources_without_face.append(info.path)
    summary.frames_read = tally["frames"]
    summary.faces_kept = tally["kept"]
    summary.frames_without_face = tally["no face"]
    summary.rejected = {k: v for k, v in tally.counts.items() if k not in _SUMMARY_KEYS}
    summary.seconds = time.perf_counter() - started
    if not faceset.records:
        ledger.remove()
        raise NoFaceError("no face found in " + ", ".join(str(i.path) for i in infos) +
                          (f" (rejected: {summary.rejected})" if summary.rejected else "") + "; nothing was written")
    faceset.checkpoint(complete=True)
    ledger.remove()
    return summary
