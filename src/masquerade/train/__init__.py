"""Training stage: augmentation on the device, losses, the loop, snapshots, the divergence guard, previews.

`train` (the loop, which needs torch) loads on first use, so reading `TrainConfig`'s options stays torch-free.
"""

from .config import TrainConfig, TrainConfigError, TrainResult

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "train"]


def __getattr__(name: str):
    if name == "train":
        from .trainer import train

        globals()["train"] = train
        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
