"""`ray_extract`: one Ray task per input, each extracting into its own face set, then merged into the output.

Face files are named by their source's content (not by input position), so a task needs nothing from the
others, and the merged face set has the same files, records and manifest as `extract` over the same inputs.
Tasks call the stage's public functions only (`open_job`, `extract_sources`), so the frame loop exists once.
The per-input face sets live in a work folder beside the output until the merge; a finished one is reused
and an unfinished one resumes after an interruption, like any face set.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..errors import NoFaceError
from ..extract import ExtractConfig, ExtractSummary, extract_sources, faceset_settings, open_job
from ..faceset import FaceSet
from ..faceset.sources import Source
from ..records import ProgressFn, no_progress
from .cluster import RayOptions, collect, ray_session, remote
from .ledger import Ledger

_COUNTS = ("frames_read", "faces_kept", "frames_without_face")


def _extract_part(path: str, part: str, config: ExtractConfig, template: str) -> dict:
    """Worker: extract one input into the face set `part` (resuming it if an earlier task was cut short),
    aligned with the output set's `template` (an older set keeps its own as it grows)."""
    sources, faceset = open_job([path], part, config, template)
    summary = extract_sources(sources, faceset, config)
    return {"summary": summary.to_dict(), "entry": dict(faceset.source_entry(sources[0]))}


def ray_extract(inputs: Sequence[str | Path], output: str | Path, config: ExtractConfig = ExtractConfig(),
                address: str | None = None, progress: ProgressFn = no_progress,
                options: RayOptions = RayOptions()) -> ExtractSummary:
    """`extract` with one Ray task per input; the face set at `output` is the one `extract` would make."""
    started = time.perf_counter()
    sources, faceset = open_job(inputs, output, config)
    try:
        summary = _run(sources, faceset, Path(output), config, address, progress, options, started)
        summary.sources = len(inputs)
    finally:
        faceset.close()  # lets other writers in, whatever happened
    summary.seconds = time.perf_counter() - started
    if not faceset.records:
        raise NoFaceError("no face found in " + ", ".join(str(s) for s in inputs) +
                          (f" (rejected: {summary.rejected})" if summary.rejected else "") + "; nothing was written")
    return summary


def _run(sources: list[Source], faceset: FaceSet, output: Path, config: ExtractConfig, address: str | None,
         progress: ProgressFn, options: RayOptions, started: float) -> ExtractSummary:
    """Run the missing parts on Ray, then merge every part into `faceset` and finish it."""
    summary = ExtractSummary(str(output), sources=len(sources))
    total = sum(-(-(s.frame_count or 1) // config.every_nth) for s in sources)
    work = output.with_name(f".{output.name}.ray")
    template = faceset.manifest.template  # the parts align as the output set does
    results: dict[str, dict] = {}
    with ray_session(address, options) as ray:
        ledger = Ledger.open(work, "masquerade.ray-extract", {"settings": faceset_settings(config, template), "config": asdict(config)})
        task = remote(ray, _extract_part, options)
        pending = {}
        for source in sources:
            record = ledger.item(source.id, {"path": source.path}, [])
            if faceset.source_entry(source)["done"]:
                continue  # already in the output (an earlier run got this far)
            part = work / f"part_{source.id}"
            if record["done"] and (not record["result"]["entry"]["faces"] or FaceSet.is_faceset(part)):
                results[source.id] = record["result"]
                continue
            pending[task.remote(_extract_part, source.path, str(part), config, template)] = source.id
        ledger.save()

        def finished(key: str, result: dict) -> None:
            ledger.data["items"][key].update(done=True, result=result)
            ledger.save()
            results[key] = result
            done = sum(r["summary"]["frames_read"] for r in results.values())
            faces = sum(r["summary"]["faces_kept"] for r in results.values())
            progress("extract", done, total, {"faces": faces, "faces/s": faces / (time.perf_counter() - started)})

        collect(ray, pending, finished)
    for source in sources:  # merge in input order, so the summary reads as `extract`'s does
        result = results.get(source.id)
        if result is None:
            continue
        part_dir = work / f"part_{source.id}"
        part = FaceSet.open(part_dir) if result["entry"]["faces"] and FaceSet.is_faceset(part_dir) else None
        faceset.import_source(result["entry"], part)
        for key in _COUNTS:
            setattr(summary, key, getattr(summary, key) + result["summary"][key])
        for why, n in result["summary"]["rejected"].items():
            summary.rejected[why] = summary.rejected.get(why, 0) + n
        summary.sources_without_face += result["summary"]["sources_without_face"]
    if faceset.records:
        faceset.finish()
    ledger.remove()
    return summary
