"""A model folder on disk and `SwapModel`, the eval-mode face renderer convert uses.

Layout: every save is a complete snapshot folder `snapshots/step_0001234/` holding `model.json`
(architecture + config, the alignment template, coverage and crop size, the face sets seen, the step and
the sha256 of the weights), `model.safetensors` (the weights: what convert loads and what provenance hashes)
and the training state (`state.json` + `state.safetensors`, see `train/checkpoint.py`). A snapshot appears
by one rename of a finished, fsynced folder (`train/snapshots.py`), so a kill never leaves half of one;
readers still verify the sha256s, because disks and people damage files, and fall back to the newest
snapshot that verifies, saying so in a note. Folders of the earlier layout (the same four files at the top
of the model folder) read as one more, older snapshot. Other code must not open these files directly:
`read_manifest`, `load_model` and `find_snapshot` decide which snapshot counts.
No pickle anywhere: safetensors for tensors, JSON for the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..atomic import write_bytes, write_json
from ..errors import ModelError, ModelMismatchError
from .base import FaceAutoencoder
from .manifest import MODEL_SCHEMA, ModelManifest

SCHEMA_VERSION = MODEL_SCHEMA
MODEL_JSON = "model.json"
WEIGHTS = "model.safetensors"
STATE = "state.safetensors"
STATE_JSON = "state.json"
SNAPSHOTS = "snapshots"
LEGACY_FILES = (MODEL_JSON, WEIGHTS, STATE_JSON, STATE)  # the earlier layout's files, at the folder's top
_STEP_DIR = re.compile(r"^step_(\d{7,})$")
DIRECTIONS = {"a2b": "b", "b2a": "a", "a2a": "a", "b2b": "b"}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is not there is a ModelError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("--device mps was asked for but MPS is not available; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ModelError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def nvidia_gpu_present() -> bool:
    """Whether the machine has an NVIDIA GPU with its driver loaded, read from the driver's files (no CUDA)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()
    except OSError:
        return False


def unused_gpu_note(device: str = "auto") -> str | None:
    """A note when an NVIDIA GPU is there but the installed PyTorch cannot use it, so the work would run on the
    CPU without a word (a CPU-only build, or a CUDA build that does not match the driver)."""
    if device not in ("auto", "cuda") or torch.cuda.is_available() or not nvidia_gpu_present():
        return None
    why = "is a CPU-only build" if torch.version.cuda is None else f"(CUDA {torch.version.cuda}) cannot use it"
    return (f"this machine has an NVIDIA GPU, but the installed PyTorch {torch.__version__} {why}; the work runs "
            "on the CPU. README.md, 'On a GPU', says how to install a build that uses it")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Checkpoint writes: atomic and fsynced, so a crash or power cut never leaves half a model."""
    write_bytes(path, data, durable=True)


def atomic_write_json(path: Path, obj: Any) -> None:
    write_json(path, obj, sort_keys=True, durable=True)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weights_bytes(module: torch.nn.Module) -> bytes:
    """The module's weights as safetensors bytes (fp32, contiguous, on CPU): what the weights file holds."""
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in module.state_dict().items()}
    return st_save(state, metadata={"format": "pt"})


def save_weights(module: torch.nn.Module, path: Path) -> str:
    """Write the weights atomically; return their sha256 (the model hash provenance records)."""
    data = weights_bytes(module)
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def load_weights(module: torch.nn.Module, path: Path) -> str:
    """Load safetensors weights into `module` (strict); return the file's sha256."""
    try:
        data = Path(path).read_bytes()
        state = st_load(data)
    except FileNotFoundError:
        raise ModelError(f"{path} is missing; the model folder is incomplete (train it again or restore the file)") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"{path} is not a readable safetensors file ({e}); restore it or retrain") from None
    missing, unexpected = set(module.state_dict()) - set(state), set(state) - set(module.state_dict())
    if missing or unexpected:
        raise ModelMismatchError(
            f"{path} does not fit the architecture in {MODEL_JSON} "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors); the folder was mixed up"
        )
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise ModelMismatchError(f"{path} has tensors of the wrong shape for its {MODEL_JSON}: {e}") from None
    return sha256_hex(data)


def snapshot_name(step: int) -> str:
    return f"step_{step:07d}"


def is_model_folder(path: str | os.PathLike) -> bool:
    """True for a folder `masquerade train` made (either layout), even one killed before its first save."""
    path = Path(path)
    return (path / SNAPSHOTS).is_dir() or (path / MODEL_JSON).is_file()


@dataclass(frozen=True)
class Snapshot:
    """One saved state of a model: a `snapshots/step_*` folder, or the top of an earlier-layout folder."""

    path: Path
    step: int
    manifest: ModelManifest
    legacy: bool = False
    note: str | None = None  # set when newer snapshots were passed over: which, and why

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS

    @property
    def label(self) -> str:
        return _label(self.path, self.legacy)


def _label(path: Path, legacy: bool) -> str:
    return "the earlier-layout files at the folder's top" if legacy else f"{SNAPSHOTS}/{path.name}"


def list_snapshots(model_dir: str | os.PathLike) -> list[tuple[int, Path, bool]]:
    """Candidate snapshots, newest first, unverified: (step, folder, legacy). On a tie of steps the
    snapshot folder comes before the earlier layout's files (it is the migrated copy of them)."""
    model_dir = Path(model_dir)
    found: list[tuple[int, Path, bool]] = []
    folder = model_dir / SNAPSHOTS
    if folder.is_dir():
        for entry in folder.iterdir():
            m = _STEP_DIR.match(entry.name)
            if m and entry.is_dir() and not entry.is_symlink():
                found.append((int(m.group(1)), entry, False))
    if (model_dir / MODEL_JSON).is_file():
        try:
            step = int(json.loads((model_dir / MODEL_JSON).read_text()).get("step", 0))
        except Exception:  # unreadable: still a candidate, so the note can say what is wrong with it
            step = -1
        found.append((step, model_dir, True))
    return sorted(found, key=lambda t: (t[0], not t[2]), reverse=True)


class DamagedSnapshot(Exception):
    """Why one snapshot cannot be used; callers turn it into part of a note, or a ModelError if none can."""


def _json_object(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise DamagedSnapshot(f"{path.name} is missing") from None
    except (OSError, ValueError):
        raise DamagedSnapshot(f"{path.name} is unreadable") from None
    if not isinstance(obj, dict):
        raise DamagedSnapshot(f"{path.name} is not a JSON object")
    return obj


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks (a weights file can be larger than we want to hold twice)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 23), b""):
                h.update(chunk)
    except FileNotFoundError:
        raise DamagedSnapshot(f"{path.name} is missing") from None
    except OSError as e:
        raise DamagedSnapshot(f"{path.name} is unreadable ({e.strerror})") from None
    return h.hexdigest()


def verify_snapshot(path: Path, step: int, legacy: bool = False, need_state: bool = False) -> dict[str, Any]:
    """The snapshot's manifest if its files are intact (hashes match, steps agree); else `DamagedSnapshot`."""
    manifest = _json_object(path / MODEL_JSON)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DamagedSnapshot(f"{MODEL_JSON} has schema_version {manifest.get('schema_version')!r}, "
                       f"this masquerade reads {SCHEMA_VERSION}")
    step = int(manifest.get("step", 0)) if legacy else step
    if manifest.get("step", 0) != step:
        raise DamagedSnapshot(f"{MODEL_JSON} says step {manifest.get('step')!r}")
    expected = manifest.get("weights_sha256")
    if expected is None and not legacy:
        raise DamagedSnapshot(f"{MODEL_JSON} records no weights hash")
    if expected not in (None, file_sha256(path / WEIGHTS)):
        raise DamagedSnapshot(f"{WEIGHTS} does not match its recorded hash")
    if need_state:
        meta = _json_object(path / STATE_JSON)
        if meta.get("step") != step:
            raise DamagedSnapshot(f"{STATE_JSON} is from step {meta.get('step')!r}, the weights from step {step}")
        if meta.get("state_sha256") != file_sha256(path / STATE):
            raise DamagedSnapshot(f"{STATE} does not match its recorded hash")
    return manifest


_VERIFIED: dict[tuple, ModelManifest] = {}  # verified manifests, keyed by the files' (size, mtime, inode)


def _stat_key(path: Path, need_state: bool) -> tuple:
    names = LEGACY_FILES if need_state else (MODEL_JSON, WEIGHTS)
    key: list[Any] = [str(path), need_state]
    for name in names:
        try:
            st = (path / name).stat()
            key.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            key.append(None)
    return tuple(key)


def find_snapshot(model_dir: str | os.PathLike, need_state: bool = False) -> Snapshot:
    """The newest snapshot whose files verify; `need_state` also requires its training state (resume).

    Newer snapshots that fail are skipped, and the returned snapshot's `note` says which and why, so the
    caller can tell the user that an older state is being used instead of refusing the whole folder.
    """
    model_dir = Path(model_dir)
    candidates = list_snapshots(model_dir)
    if not candidates:
        if (model_dir / SNAPSHOTS).is_dir():
            raise ModelError(f"{model_dir} holds no saved snapshot yet (training stopped before its first save); "
                             "run `masquerade train` on it again")
        raise ModelError(f"{model_dir} is not a model folder (no {SNAPSHOTS}/ or {MODEL_JSON}); "
                         "train one with `masquerade train`")
    skipped: list[str] = []
    for step, path, legacy in candidates:
        key = _stat_key(path, need_state)
        manifest = _VERIFIED.get(key)
        if manifest is None:
            try:
                manifest = _record(verify_snapshot(path, step, legacy, need_state))
            except DamagedSnapshot as e:
                skipped.append(f"{_label(path, legacy)}: {e}")
                continue
            if len(_VERIFIED) > 256:
                _VERIFIED.clear()
            _VERIFIED[key] = manifest
        found = manifest.step
        note = None
        if skipped:
            note = (f"{model_dir}: using the snapshot of step {found} ({_label(path, legacy)}) because newer ones "
                    f"are damaged: {'; '.join(skipped)}")
        return Snapshot(path, found, manifest, legacy, note)
    what = "intact training state" if need_state else "intact weights"
    raise ModelError(f"{model_dir}: no snapshot has {what} ({'; '.join(skipped)}); "
                     "restore the folder from a backup or train into a new folder")


def _record(manifest: dict[str, Any]) -> ModelManifest:
    try:
        return ModelManifest.from_dict(manifest)
    except ValueError as e:
        raise DamagedSnapshot(f"{MODEL_JSON} does not describe a model ({e})") from None


def read_manifest(model_dir: Path) -> ModelManifest:
    """The manifest of the newest usable snapshot (see `find_snapshot`): what convert would load."""
    return find_snapshot(model_dir).manifest


@dataclass(frozen=True)
class ModelInfo:
    """What convert needs to know about a model: which crops it takes and how to rebuild it."""

    architecture: str
    size: int
    template: str
    coverage: str


class SwapModel:
    """A trained model in eval mode: renders aligned faces as either identity. No gradients, no training state.

    It carries the manifest it was built from (`manifest`) and, when loaded from a folder, that folder
    (`model_dir`: where convert's `--upscale auto` and the occlusion mask net look)."""

    def __init__(self, net: FaceAutoencoder, manifest: ModelManifest, hash: str, device: torch.device,
                 note: str | None = None, model_dir: Path | None = None, precision: str | None = None):
        from .inference_precision import InferencePrecision

        self.net, self.manifest, self.hash, self.device = net.eval().to(device), manifest, hash, device
        # On a GPU bf16 where the first batch runs clearly faster that way (`models.inference_precision`); on a
        # CPU fp32 unless asked: `lite` ran 0.88x as fast in bf16 on the 2-core AMX CPU, and fp32 keeps a CPU
        # convert's output the same from run to run (no timing in the loop)
        precision = precision or ("auto" if device.type == "cuda" else "fp32")
        self.runner = InferencePrecision(self.net, device, precision, call=lambda net, x, *extra: net.render(x, *extra))
        self.config = ModelInfo(manifest.architecture, manifest.size, manifest.template, manifest.coverage)
        self.note = note  # set when newer snapshots were damaged and an older one was loaded (say so to the user)
        self.model_dir = model_dir

    @property
    def faceset_size(self) -> dict[str, int] | None:
        """Crop side of each identity's training faces (convert cuts its input faces at it); None: not recorded."""
        return self.manifest.faceset_size

    @property
    def notes(self) -> tuple[str, ...]:
        return (self.note,) if self.note else ()

    @property
    def takes_expression(self) -> bool:
        """Whether the net has expression channels: then `swap` wants the faces' measures (convert computes them
        from the landmarks only for such a model)."""
        return self.net.expression_map("a") is not None

    def open_eyes(self, side: str) -> float | None:
        """Eye opening of `side`'s person at rest, as the model's expression code reads it (None: a model without
        expression channels knows none). Convert's eyes step closes a swap's eyes against these."""
        return self.net.expression.open_eyes(side) if self.takes_expression else None

    @torch.no_grad()
    def swap(self, faces: torch.Tensor, direction: str = "a2b", chunk: int = 64,
             measures: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """faces: float N×3×S×S in [0, 1] → (face N×3×S×S, mask N×1×S×S), float32 on the input's device.
        `measures`: the faces' expression measures N×11 (`faces.expression_reference`), read by nets with expression
        channels relative to the source side's person (direction's first letter); None: at rest."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        s = self.config.size
        if faces.ndim != 4 or faces.shape[1] != 3 or faces.shape[2:] != (s, s):
            raise ModelMismatchError(f"this model takes N×3×{s}×{s} faces, got {tuple(faces.shape)}; align crops at {s} px")
        out_f, out_m = [], []
        parts = [None] * len(faces.split(chunk)) if measures is None else torch.as_tensor(measures).split(chunk)
        for part, e in zip(faces.split(chunk), parts):
            e = None if e is None else e.to(self.device, torch.float32)
            f, m = self.runner(part.to(self.device, torch.float32), DIRECTIONS[direction], e, direction[0])
            out_f.append(f.float().to(faces.device))
            out_m.append(m.float().to(faces.device))
        return torch.cat(out_f), torch.cat(out_m)


def load_model(model_dir: str | os.PathLike, device: str = "auto") -> SwapModel:
    """Rebuild a trained model from its folder alone (no flags) and put it in eval mode on `device`.

    Loads the newest snapshot with intact weights; `SwapModel.note` says when that is not the newest one.
    """
    model_dir = Path(model_dir)
    snap = find_snapshot(model_dir)
    try:
        net = build_net(snap.manifest)
    except (KeyError, ValueError, TypeError) as e:
        raise ModelError(f"{snap.path / MODEL_JSON} does not describe a known model ({e}); retrain it") from None
    digest = load_weights(net, snap.weights)
    if snap.manifest.weights_sha256 not in (None, digest):
        raise ModelError(f"{snap.weights} changed while it was being loaded; run the command again")
    return SwapModel(net, snap.manifest, digest, resolve_device(device), note=snap.note, model_dir=model_dir)


def build_net(manifest: ModelManifest) -> FaceAutoencoder:
    """The untrained net a manifest describes (its architecture, with the settings it was saved with)."""
    from . import build_model, saved_config

    return build_model(manifest.architecture, saved_config(manifest.architecture, manifest.arch_config))
