"""The typed records of a model folder's manifests: `model.json` (`ModelManifest`), an identity upscaler's
JSON (`UpscalerManifest`) and the occlusion mask net's `mask.json` (`MaskNetManifest`).

Why records, not dicts: the trainer used to write `model.json` as a dict literal and each reader (convert,
evaluate, the UI, train-upscaler, tests, benches) picked keys out of it with its own defaults, so a field
one side wrote could be dropped or read differently by another. Here every field is named once, with the
default that manifests written before it existed read as; `from_dict` accepts every shape earlier versions
wrote and `to_dict` writes today's. Keys this version does not know are kept in `extra` and written back,
so rewriting a manifest never loses what a newer version put in it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

MODEL_SCHEMA = 1  # model.json's schema_version
UPSCALER_SCHEMA = 1
UPSCALER_KIND = "masquerade.upscaler"
MASK_SCHEMA = 1
MASK_KIND = "masquerade.occlusion-mask"


def _sides(value: Any) -> dict[str, int] | None:
    """Per-identity crop sizes: `{"a": 256, "b": 128}`; one number (for both) and absent are older shapes."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): int(v) for k, v in value.items()}
    return {"a": int(value), "b": int(value)}


def _read(cls: type, data: Mapping[str, Any], typed: Callable[[dict[str, Any]], None]) -> Any:
    """`cls` from a manifest's JSON: its fields put in their types by `typed` (in place), the other keys in
    `extra`; ValueError saying what is missing or of the wrong type."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a manifest is a JSON object, not {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    known = {k: v for k, v in data.items() if k in names}
    try:
        typed(known)
    except KeyError as e:
        raise ValueError(f"it records no {e.args[0]}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"a field has the wrong type ({e})") from None
    return cls(**known, extra={k: v for k, v in data.items() if k not in names})


def _to_dict(record: Any) -> dict[str, Any]:
    out = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "extra"}
    return {**record.extra, **out}


@dataclass(frozen=True)
class ModelManifest:
    """What `model.json` in each snapshot records: how to rebuild the net, which crops it takes, what trained it.

    `step` and `weights_sha256` belong to one snapshot (`train.snapshots.save_snapshot` sets them); the rest
    is the model's and is the same in every snapshot of a run.
    """

    architecture: str
    arch_config: dict[str, Any]
    size: int  # side of the faces the net takes and renders
    template: str | None = None  # alignment template the face sets were cut with (convert aligns the same)
    coverage: str | None = None
    facesets: dict[str, list[str]] = field(default_factory=dict)  # ids of the face sets each side trained on
    # crop side of each identity's face set: convert cuts input faces at this size, then resizes, as training did
    faceset_size: dict[str, int] | None = None  # None: saved before it was recorded (cut at `size`)
    train_config: dict[str, Any] | None = None
    precision: str | None = None  # the label `--precision auto` chose; a resume keeps it
    nod_reading: str = "relative"  # how the expression code reads the nod; models saved before the record: relative
    expression_code: int | None = None
    init_from: dict[str, Any] | None = None  # the warm start's source, if any
    step: int = 0
    weights_sha256: str | None = None  # None only in folders of the earliest layout
    schema_version: int = MODEL_SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer version wrote: kept, written back

    @classmethod
    def for_net(cls, architecture: str, arch_config: Any, template: str | None, coverage: str | None,
                **fields: Any) -> "ModelManifest":
        """The record of a net of `architecture` built with `arch_config` (its config dataclass), for faces
        aligned with `template` and `coverage`; `fields` sets the rest."""
        return cls(architecture, dataclasses.asdict(arch_config), int(arch_config.size), template, coverage, **fields)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelManifest":
        """The record of a `model.json` of any version; ValueError when it does not describe a model."""
        return _read(cls, data, cls._typed)

    @staticmethod
    def _typed(known: dict[str, Any]) -> None:
        known["architecture"] = str(known["architecture"])
        known["arch_config"] = dict(known["arch_config"])
        known["size"] = int(known["size"])
        known["faceset_size"] = _sides(known.get("faceset_size"))
        known["facesets"] = {str(k): list(v) for k, v in (known.get("facesets") or {}).items()}
        known["step"] = int(known.get("step", 0))
        known["nod_reading"] = str(known.get("nod_reading") or "relative")

    def to_dict(self) -> dict[str, Any]:
        """What `model.json` holds (JSON types only)."""
        return _to_dict(self)

    def check_aligned_like(self, faceset: Mapping[str, Any]) -> None:
        """Refuse a face set (its manifest) cut with another template or coverage than this model's faces: a
        second network trained on it beside this model would learn faces framed differently from the model's."""
        from ..errors import ModelMismatchError

        for key in ("template", "coverage"):
            recorded = getattr(self, key)
            if recorded is not None and faceset.get(key) != recorded:
                raise ModelMismatchError(f"the face set was extracted with {key} {faceset.get(key)!r} but the model "
                                         f"with {recorded!r}; extract it with --{key} {recorded}")

    def with_step(self, step: int, weights_sha256: str) -> "ModelManifest":
        """This record for one snapshot: its step and the hash of its weights."""
        return dataclasses.replace(self, step=int(step), weights_sha256=weights_sha256)


class _SidecarRecord:
    """from_dict / to_dict shared by the records of a small net saved beside the model (`models.sidecar`):
    each record class says how its known fields are typed (`_typed`)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """The record of the net's JSON; ValueError when it lacks what every version wrote."""
        return _read(cls, data, cls._typed)

    @staticmethod
    def _typed(known: dict[str, Any]) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class UpscalerManifest(_SidecarRecord):
    """What an identity upscaler's `{side}_{in}to{out}.json` records (see `models.upscaler`).

    `weights` and `weights_sha256` name the weights file written beside it; `save_upscaler` fills them in.
    """

    side: str
    config: dict[str, Any]  # `UpscalerConfig` as a dict
    weights: str = ""
    weights_sha256: str = ""
    faceset: dict[str, Any] = field(default_factory=dict)  # id, template, coverage, size, count of its face set
    steps: int = 0
    seconds: float | None = None
    held_out: dict[str, float] = field(default_factory=dict)  # scores against bicubic on held-out faces
    held_out_faces: int | None = None
    train_config: dict[str, Any] | None = None
    kind: str = UPSCALER_KIND
    schema_version: int = UPSCALER_SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _typed(known: dict[str, Any]) -> None:
        known["side"], known["config"] = str(known["side"]), dict(known["config"])
        known["steps"] = int(known.get("steps", 0))
        known["faceset"] = dict(known.get("faceset") or {})
        known["held_out"] = dict(known.get("held_out") or {})


@dataclass(frozen=True)
class MaskNetManifest(_SidecarRecord):
    """What the occlusion mask net's `occlusion/mask.json` records (see `models.occlusion`): its config, the
    weights it names, the face sets it learned from and its held-out scores, which decide whether convert's
    `--mask auto` trusts it (`models.occlusion.trusted`)."""

    config: dict[str, Any]  # `MaskNetConfig` as a dict
    weights: str = ""
    weights_sha256: str = ""
    facesets: list[dict[str, Any]] = field(default_factory=list)  # id, template, coverage, size, count of each
    steps: int = 0
    seconds: float | None = None
    held_out: dict[str, float] = field(default_factory=dict)  # iou_<family>, hull_kept_clean
    families: list[str] = field(default_factory=list)  # occluder families it trained on
    train_config: dict[str, Any] | None = None
    kind: str = MASK_KIND
    schema_version: int = MASK_SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _typed(known: dict[str, Any]) -> None:
        known["config"] = dict(known["config"])
        known["steps"] = int(known.get("steps", 0))
        known["facesets"] = [dict(f) for f in known.get("facesets") or []]
        known["held_out"] = {str(k): float(v) for k, v in (known.get("held_out") or {}).items()}
        known["families"] = [str(f) for f in known.get("families") or []]
