"""The on-disk face set: aligned crops + masks as PNG, one alignments file, and a manifest.

```
FACESET/
  faceset.json       schema_version, kind, template, size, coverage, detector, id, count, complete, and
                     sources: one entry per input, keyed by its content id, with its resume point
                     (manifest.py: `FaceSetManifest`, the one reader and writer)
  alignments.json    one record per face: file, source, source_id, frame index, timestamp, box, landmarks
                     (frame px), matrix (frame -> crop), detector score, blur score
  alignments.jsonl   only while extract runs or after it was killed: the journal (journal.py)
  faces/*.png        aligned RGB crops          masks/*.png   landmark-hull masks (same names)
  set_aside/<reason>/     faces taken out of the set by curation or by hand, kept with their records
                     (aside.py); extract does not bring them back, `restore` does
  cache_<S>.safetensors   derived: all faces resized to S as one uint8 tensor (rebuilt when stale or damaged)
  identity.safetensors    derived: face-recognition embeddings by face file (curate.py)
```
Face files are named `{content id}_{frame}_{k}.png` (sources.py): the same footage gives the same
names in every run, so a face set only grows. Sets written before that (schema 1, `{input index}_{frame}_{k}`)
open and grow as they are; their faces keep their names. A face set needs nothing outside its folder.

Modules: core.py (`FaceSet`, the only writer, under its lock), manifest.py (`faceset.json` as a typed
record), check.py (reading the JSON files defensively), files.py (one face's PNGs and record), journal.py,
sources.py, cache.py, aside.py (set-aside folders), curate.py (`masquerade faces`), sheet.py (coverage sheet).
"""

from .cache import CACHE_FORMAT, FaceTensors
from .check import ALIGNMENTS, MANIFEST
from .core import FaceSet
from .files import encode_png
from .manifest import SCHEMA_VERSION, FaceSetManifest

__all__ = ["ALIGNMENTS", "CACHE_FORMAT", "MANIFEST", "SCHEMA_VERSION", "FaceSet", "FaceSetManifest", "FaceTensors",
           "encode_png"]
