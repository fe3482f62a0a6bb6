"""Helpers shared by the training tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from meddenoise.training import TrainConfig


def make_images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth blobs on a dark background (mammogram-like), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        radius = rng.uniform(0.15, 0.35)
        images[i] = np.clip(1.2 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2) - 0.1, 0, 1)
    return images


def stacked_dae_config(**changes: Any) -> TrainConfig:
    """A tiny stacked DAE run: one pretraining epoch per layer, one fine-tuning epoch; ``changes`` override."""
    base: dict[str, Any] = {
        "model": "stacked-dae",
        "model_params": {"channels": [4, 4]},
        "noise": "gaussian(p=0.1,sigma=1)",
        "pretrain_epochs_per_layer": 1,
        "epochs": 1,
        "batch_size": 4,
        "val_fraction": 0.25,
        "seed": 0,
        "num_threads": 1,
    }
    return TrainConfig(**{**base, **changes})


def perturbed(model: nn.Module, seed: int) -> nn.Module:
    """``model`` in eval mode with every weight moved at random (a fresh ffdunet's tail starts at 0, so its
    output would be its input whatever the rest holds)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()
