"""Training stage: augmentation on the device, losses, the loop, checkpoints, previews."""

from .config import TrainConfig, TrainResult
from .trainer import train

__all__ = ["TrainConfig", "TrainResult", "train"]
