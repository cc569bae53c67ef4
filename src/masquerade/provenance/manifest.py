"""Signed C2PA manifest: "this file was made by Masquerade, with this model, from this input".

We declare `compositeWithTrainedAlgorithmicMedia` (IPTC): a face swap keeps the source footage and
replaces part of each frame with pixels from a trained model, which is exactly what the composite term
means; plain `trainedAlgorithmicMedia` claims the whole picture is generated. Both validate here, and
`read_manifest` accepts either as synthetic.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path

from masquerade import __version__
from masquerade.errors import ProvenanceError

import numpy as np

from . import watermark
from .keys import ORGANIZATION, Credentials

CLAIM_GENERATOR = "masquerade"
MODEL_ASSERTION = "org.masquerade.model"
SOFT_BINDING = "c2pa.soft-binding"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
DIGITAL_SOURCE_TYPE = IPTC + "compositeWithTrainedAlgorithmicMedia"
SYNTHETIC_SOURCE_TYPES = frozenset({DIGITAL_SOURCE_TYPE, IPTC + "trainedAlgorithmicMedia"})
_MIME = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
}


def mime_type(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    return _MIME.get(suffix) or mimetypes.guess_type(str(path))[0] or "application/octet-stream"


def soft_binding(model_hash: str, nonce: int, version: int = watermark.VERSION) -> dict:
    """The `c2pa.soft-binding` assertion: our watermark algorithm and the payload it carries in this file.

    `value` is the payload of `version` (`payload.FORMATS`: model prefix, nonce, CRC) as base64, as C2PA's
    soft-binding blocks carry it, and `alg` names that version; the whole picture (every frame) is its scope.
    """
    bits = watermark.payload_bits(model_hash, nonce, version)
    value = base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")
    return {
        "label": SOFT_BINDING,
        "data": {"alg": watermark.FORMATS[version].algorithm, "blocks": [{"scope": {}, "value": value}],
                 "name": "Masquerade tiled luma watermark (mark id = model prefix + nonce)"},
    }


def manifest_definition(model_hash: str, title: str, fmt: str, nonce: int | None = None,
                        mark_version: int = watermark.VERSION) -> dict:
    """The claim: created by Masquerade (name + version) from a trained model identified by its hash.

    With `nonce` (the one the pixels' watermark carries, in payload version `mark_version`) the claim also
    records the soft binding and the mark id, which is how a stripped copy leads back to this manifest.
    """
    agent = {"name": CLAIM_GENERATOR, "version": __version__}
    model = {"model_hash": model_hash, "generator": CLAIM_GENERATOR, "version": __version__}
    extra = []
    if nonce is not None:
        model["mark_id"] = watermark.mark_id(model_hash, nonce, mark_version)
        extra.append(soft_binding(model_hash, nonce, mark_version))
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": fmt,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE, "softwareAgent": agent},
                ]},
            },
            {"label": MODEL_ASSERTION, "data": model},
            *extra,
        ],
    }


def _context(settings: dict):
    from c2pa import Context, Settings

    return Context(settings=Settings.from_dict(settings))


def sign_file(src: Path, dst: Path, model_hash: str, credentials: Credentials, source: str | None = None,
              title: str | None = None, nonce: int | None = None, mark_version: int = watermark.VERSION) -> bytes:
    """Copy `src` to `dst` with a signed manifest embedded; `source` (the input media) becomes an ingredient.

    Returns the signed manifest store (JUMBF bytes), which the writer keeps in the local store.
    """
    fmt = mime_type(title or dst)
    definition = manifest_definition(model_hash, title or dst.name, fmt, nonce, mark_version)
    try:
        builder = _builder_with_ingredient(definition, Path(source) if source is not None else None)
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            return builder.sign(credentials.signer(), fmt, fin, fout)
    except ProvenanceError:
        raise
    except Exception as exc:  # noqa: BLE001 - c2pa errors, I/O errors
        full = _disk_full(src, dst)
        if full:
            raise ProvenanceError(f"could not sign {title or dst.name}: {full}") from exc
        raise ProvenanceError(f"could not sign {title or dst.name} ({fmt}): {exc}") from exc


def _disk_full(src: Path, dst: Path) -> str | None:
    """Why signing failed when the disk is the cause, in words: the c2pa library reports a full disk as an
    opaque I/O error ("Io: Other: UntrackedPointer"), so look at the free space the signed copy needs."""
    import shutil

    try:
        need = Path(src).stat().st_size + (64 << 10)  # the copy plus its manifest (a few KB)
        free = shutil.disk_usage(Path(dst).parent).free
    except OSError:
        return None
    if free >= need:
        return None
    mb = lambda n: f"{n / (1 << 20):.1f} MB"  # noqa: E731
    return (f"the disk holding {Path(dst).parent} is full (the signed file needs about {mb(need)}, "
            f"{mb(free)} free); free some space there and run again")


def _builder_with_ingredient(definition: dict, source: Path | None):
    """Hash the input file in as an ingredient; a format c2pa cannot parse (or a folder) goes in by title."""
    from c2pa import Builder

    settings = {"builder": {"thumbnail": {"enabled": False}}}
    if source is None:
        return Builder(definition, context=_context(settings))
    info = {"title": source.name, "relationship": "componentOf"}
    fmt = mime_type(source)
    if source.is_file() and fmt in Builder.get_supported_mime_types():
        builder = Builder(definition, context=_context(settings))
        try:
            with open(source, "rb") as f:
                builder.add_ingredient(info, fmt, f)
            return builder
        except Exception:  # noqa: BLE001 - unparseable input: fall back to a title-only ingredient
            builder.close()
    return Builder({**definition, "ingredients": [{**info, "format": fmt}]}, context=_context(settings))


@dataclass(frozen=True)
class ManifestReport:
    """What the file's C2PA manifest says, and whether its signature holds."""

    present: bool
    state: str | None = None  # c2pa validation state: Trusted / Valid / Invalid
    errors: tuple[str, ...] = ()  # failure codes, e.g. assertion.dataHash.mismatch
    by_masquerade: bool = False  # claim generator is Masquerade and the model assertion is there
    masquerade_key: bool = False  # signing certificate issued by a Masquerade root (ours or another user's)
    synthetic: bool = False
    version: str | None = None
    model_hash: str | None = None
    signer: str | None = None
    label: str | None = None  # the active manifest's C2PA label (urn:c2pa:...)
    mark_id: str | None = None  # the watermark payload the manifest is soft-bound to
    trusted: bool = False  # signed by this user's own Masquerade key
    error: str | None = None  # the file could not be read at all
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def intact(self) -> bool:
        return self.present and self.state in ("Valid", "Trusted") and not self.errors


def read_manifest(path: str | os.PathLike[str], trust_anchor_pem: bytes | None = None) -> ManifestReport:
    """Read and validate the manifest; trusted only if the chain ends at `trust_anchor_pem`."""
    from c2pa import Reader

    context = None  # c2pa's default: signature checked, trust not evaluated
    if trust_anchor_pem:
        context = _context({"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_anchor_pem.decode()}})
    try:
        with open(path, "rb") as f:
            reader = Reader.try_create(mime_type(path), f, context=context)
            if reader is None:
                return ManifestReport(present=False)
            with reader:
                report = json.loads(reader.json())
                state = reader.get_validation_state()
    except OSError as exc:
        raise ProvenanceError(f"cannot read {path}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a manifest so broken that c2pa cannot parse it
        return ManifestReport(present=True, state="Invalid", errors=("manifest.unreadable",), error=str(exc))
    return _summarise(report, state)


def _peek(path: Path) -> dict | None:
    """The manifest store's JSON without validating it (no hashing of the file), or None if there is none."""
    from c2pa import Reader

    if not path.is_file() or path.is_symlink() or mime_type(path) not in set(_MIME.values()):
        return None
    try:
        with open(path, "rb") as f:
            reader = Reader.try_create(mime_type(path), f, context=_context({"verify": {"verify_after_reading": False}}))
            if reader is None:
                return None
            with reader:
                return json.loads(reader.json())
    except Exception:  # noqa: BLE001 - unreadable or foreign: nothing to report
        return None


def read_manifest_label(path: str | os.PathLike[str]) -> str | None:
    """The active manifest's label (urn:c2pa:...) of a file we just signed; cheap (no validation)."""
    report = _peek(Path(path))
    return report.get("active_manifest") if report else None


def made_by_masquerade(path: str | os.PathLike[str]) -> bool:
    """Does this existing file carry a Masquerade manifest signed with a Masquerade key? Cheap: no hashing.

    Used to let a new output replace one of our own earlier outputs (and nothing else). Validation is
    skipped on purpose: only the claim is needed here, and validating would hash a whole video.
    """
    report = _peek(Path(path))
    if report is None:
        return False
    summary = _summarise(report, None)
    return summary.by_masquerade and summary.masquerade_key


def _summarise(report: dict, state: str | None) -> ManifestReport:
    active = report.get("manifests", {}).get(report.get("active_manifest") or "", {})
    failures = report.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    errors = tuple(sorted({f.get("code", "") for f in failures if f.get("code") != "signingCredential.untrusted"}))
    generators = active.get("claim_generator_info") or []
    version = next((g.get("version") for g in generators if g.get("name") == CLAIM_GENERATOR), None)
    sig = active.get("signature_info") or {}
    model_hash, mark, synthetic = None, None, False
    for assertion in active.get("assertions", []):
        if assertion.get("label") == MODEL_ASSERTION:
            model_hash = (assertion.get("data") or {}).get("model_hash")
            mark = (assertion.get("data") or {}).get("mark_id")
        if assertion.get("label", "").startswith("c2pa.actions"):
            actions = (assertion.get("data") or {}).get("actions", [])
            synthetic |= any(a.get("digitalSourceType") in SYNTHETIC_SOURCE_TYPES for a in actions)
    return ManifestReport(
        present=True,
        state=state,
        errors=errors,
        by_masquerade=version is not None and model_hash is not None,
        masquerade_key=sig.get("issuer") == ORGANIZATION,
        synthetic=synthetic,
        version=version,
        model_hash=model_hash,
        signer=sig.get("common_name"),
        label=report.get("active_manifest"),
        mark_id=mark if isinstance(mark, str) else None,
        trusted=state == "Trusted",
        raw=report,
    )
