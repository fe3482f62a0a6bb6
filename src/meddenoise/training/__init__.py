"""Training denoisers: typed configs, losses, supervised and self-supervised training, checkpoints.

Main entry points: :class:`TrainConfig`, :func:`train`, :func:`load_checkpoint`, :func:`load_denoiser`.
"""

from meddenoise.training.blindspot import BlindSpotBatch, blind_spot_mask
from meddenoise.training.checkpoint import CheckpointError, load_checkpoint
from meddenoise.training.config import TrainConfig, TrainConfigError
from meddenoise.training.denoise import load_denoiser
from meddenoise.training.losses import get_loss, ssim
from meddenoise.training.trainer import TrainResult, train

__all__ = [
    "BlindSpotBatch",
    "CheckpointError",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "blind_spot_mask",
    "get_loss",
    "load_checkpoint",
    "load_denoiser",
    "ssim",
    "train",
]
