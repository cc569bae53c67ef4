"""What a training run takes from the saved model, or decides once before its first step.

A resumed run must train exactly the model it resumes: its architecture and settings (a different `--model`
is refused), how its expression code reads the nod, the face sets it has seen. A new one takes them from
the options (or from the `--init-from` source). The occlusion mask net, when the run trains one, is trained
here first, before the swap model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ModelMismatchError
from ..models import make_config, saved_config
from ..models.manifest import ModelManifest
from ..records import ProgressFn
from .config import TrainConfig
from .warmstart import source_settings


def inductor_env(config: TrainConfig) -> dict[str, str]:
    """Keep inductor's compiled kernels between runs (the first compile costs 10-20 s); it reads the folder
    from the environment when it compiles, inside the run."""
    return {"TORCHINDUCTOR_CACHE_DIR": str(Path.home() / ".cache" / "masquerade" / "inductor")} if config.compile else {}


def architecture(config: TrainConfig, saved: ModelManifest | None) -> tuple[str, Any]:
    """Architecture name and config: the saved model's (a different --model is refused) or a new one."""
    if saved is not None:
        name = saved.architecture
        if config.model not in (None, name):
            raise ModelMismatchError(
                f"this model folder holds a {name!r} model, not {config.model!r}; train into a new folder to switch"
            )
        return name, saved_config(name, saved.arch_config)
    name, options = config.model or "original", config.model_options
    if config.model is None and config.init_from:  # a warm start takes the source's architecture and settings
        name, base = source_settings(config.init_from)
        options = {**base, **options}
    try:
        return name, make_config(name, options)
    except ValueError as e:
        raise ModelMismatchError(str(e)) from None


def seen_facesets(saved: ModelManifest | None, key: str, fid: str) -> list[str]:
    """The ids of the face sets side `key` has trained on, this run's (`fid`) included: kept across resumes."""
    seen = list(saved.facesets.get(key, [])) if saved else []
    return seen if fid in seen else seen + [fid]


def train_mask_first(fs_a, fs_b, model_dir: Path, config: TrainConfig, progress: ProgressFn,
                     should_stop: Callable[[], bool] | None = None) -> float:
    """Train the occlusion mask net on both face sets before the swap model, unless it is off (`mask_minutes`
    0) or the folder has one already (`occlusion.needs_training`); returns the minutes it took (out of
    `--minutes`)."""
    from ..models.occlusion import read_mask_manifest
    from .occlusion import mask_budget, needs_training, train_mask_net

    mask_config = mask_budget(config.minutes, config.steps, config.mask_minutes)
    if mask_config is None or not needs_training(read_mask_manifest(model_dir), mask_config):
        return 0.0
    mask_config.seed, mask_config.device, mask_config.threads = config.seed, config.device, config.threads
    return train_mask_net([fs_a, fs_b], model_dir, mask_config, progress, should_stop).seconds / 60  # Ctrl-C stops it too


def nod_reading_note(saved: ModelManifest | None, arch, config: TrainConfig) -> list[str]:
    """A model's nod reading is fitted once, when it is created (against a typical face with the turn, against
    each person's usual tilt without it) and lives in its weights; switching the turn on a resume cannot change
    it, so say so rather than let the user believe it did."""
    if saved is None or not getattr(arch, "expression", 0):
        return []
    was = nod_reading(saved, config) == "absolute"
    if was == (config.turn > 0):
        return []
    reading = "against a typical face (it was created with the turn)" if was else "against each person's usual tilt"
    return [f"the turn is now {'on' if config.turn > 0 else 'off'}, but this model keeps reading the nod as it was "
            f"created, {reading}; only the augmentation changes. Start a new model folder to change the reading"]


def nod_reading(saved: ModelManifest | None, config: TrainConfig) -> str:
    """How the model's expression code reads the nod: chosen at creation, recorded in the manifest, kept by
    every resume. Models saved before the record read it relative to each person (the only reading then)."""
    if saved is not None:
        return saved.nod_reading
    return "absolute" if config.turn > 0 else "relative"
