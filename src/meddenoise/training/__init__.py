"""Training denoisers: typed configs, objectives, losses, training phases, checkpoints.

Main entry points: :class:`TrainConfig`, :func:`train`, :func:`load_checkpoint`, :func:`load_denoiser`.
Objectives (supervised, noise2void, noise2noise, or your own via :func:`register_objective`) live in
:mod:`meddenoise.training.objectives`; a model's own training phases in :mod:`meddenoise.training.phases`.
"""

from meddenoise.training.blindspot import BlindSpotBatch, blind_spot_mask
from meddenoise.training.checkpoint import CheckpointError, load_checkpoint
from meddenoise.training.config import DataConfig, OptimConfig, PretrainConfig, TrainConfig, TrainConfigError
from meddenoise.training.denoise import load_denoiser
from meddenoise.training.losses import get_loss, ssim
from meddenoise.training.objectives import (
    OBJECTIVES,
    Noise2NoiseConfig,
    Noise2VoidConfig,
    Objective,
    ObjectiveConfig,
    SupervisedConfig,
    register_objective,
)
from meddenoise.training.trainer import TrainingDivergedError, TrainResult, train

__all__ = [
    "OBJECTIVES",
    "BlindSpotBatch",
    "CheckpointError",
    "DataConfig",
    "Noise2NoiseConfig",
    "Noise2VoidConfig",
    "Objective",
    "ObjectiveConfig",
    "OptimConfig",
    "PretrainConfig",
    "SupervisedConfig",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "TrainingDivergedError",
    "blind_spot_mask",
    "get_loss",
    "load_checkpoint",
    "load_denoiser",
    "register_objective",
    "ssim",
    "train",
]
