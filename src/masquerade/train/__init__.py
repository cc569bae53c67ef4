"""Training stage: augmentation on the device, losses, the loop, snapshots, the divergence guard, previews."""

from .config import TrainConfig, TrainConfigError, TrainResult
from .trainer import train

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "train"]
