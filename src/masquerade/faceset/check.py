"""Reading a face set's JSON files defensively: every way they can be damaged ends in one FaceSetError.

Why a module of its own: a face set is often copied, synced or edited by hand, so `faceset.json` may be `[]`,
`null`, a string or cut short, and a record may lack its fields or name a file outside the folder. Each case
is named here once, with what to do about it, instead of surfacing as a traceback wherever a field is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import FaceSetError

MANIFEST = "faceset.json"  # its fields are checked by faceset/manifest.py
ALIGNMENTS = "alignments.json"


def damaged(root: Path, name: str, why: str) -> FaceSetError:
    return FaceSetError(f"{root / name} is damaged ({why}); restore it from a backup, or extract the footage "
                        f"again into a new face set folder (nothing in {root} was changed)")


def read_json(root: Path, name: str) -> Any:
    try:
        return atomic.read_json(root / name)
    except FileNotFoundError:
        raise FaceSetError(f"{root}: not a face set (missing {name}); run `masquerade extract ... -o {root}`") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError: truncated or not JSON at all
        raise damaged(root, name, f"not valid JSON: {str(exc).split(':')[0]}") from None
    except OSError as exc:
        raise FaceSetError(f"{root / name}: cannot be read ({exc.strerror}); check the folder's permissions") from None


def check_records(root: Path, data: Any) -> list[dict]:
    faces = data.get("faces") if isinstance(data, dict) else None
    if not isinstance(faces, list):
        raise damaged(root, ALIGNMENTS, "no list of faces")
    for i, r in enumerate(faces):
        name = r.get("file") if isinstance(r, dict) else None
        if not isinstance(name, str) or Path(name).name != name or name.startswith(".") \
                or not isinstance(r.get("matrix"), list) or not isinstance(r.get("landmarks"), list):
            raise damaged(root, ALIGNMENTS, f"face record {i} is incomplete")
    return faces
