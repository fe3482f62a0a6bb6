"""Tiny structured images and a tiny config so training tests run in seconds."""

from __future__ import annotations

import numpy as np
import pytest
from training_helpers import make_images

from meddenoise.training import TrainConfig


@pytest.fixture
def tiny_images() -> np.ndarray:
    return make_images(12)


@pytest.fixture
def tiny_config() -> TrainConfig:
    return TrainConfig(
        model="gondara-dae",
        model_params={"filters": 8},
        noise="gaussian(p=0.1,sigma=1)",
        epochs=3,
        batch_size=4,
        val_fraction=0.25,
        seed=3,
        num_threads=1,
    )
