"""Noise2Noise (Lehtinen et al. 2018): input and target are two independent noisy realisations."""

from __future__ import annotations

from typing import Literal

import numpy as np

from meddenoise.training.objectives.base import (
    Batch,
    ConfiguredLoss,
    NoiseFn,
    ObjectiveConfig,
    as_float32,
    register_objective,
)

__all__ = ["Noise2NoiseConfig", "Noise2NoiseObjective"]


@register_objective
class Noise2NoiseConfig(ObjectiveConfig):
    """Noisy → independent noisy realisation of the same image (no clean images needed)."""

    kind: Literal["noise2noise"] = "noise2noise"

    def build(self) -> Noise2NoiseObjective:
        return Noise2NoiseObjective(self)


class Noise2NoiseObjective(ConfiguredLoss):
    """Two realisations per image, simulated or given as ``train_images`` + ``train_targets``."""

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        if noise is not None:
            return [noise(images, rng=rng), noise(images, rng=rng)]
        if targets is None:
            raise ValueError(
                "mode noise2noise without a noise model needs explicit targets (second noisy realisations)"
            )
        return [images, targets]

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        if noise is not None:
            clean = crops[0]
            return Batch(as_float32(noise(clean, rng=rng)), as_float32(noise(clean, rng=rng)), None)
        # Either realisation can be the input: swapping at random doubles the pairs seen.
        swap = np.asarray(rng.random(crops.shape[1]) < 0.5)
        first = np.where(swap[:, None, None], crops[1], crops[0])
        second = np.where(swap[:, None, None], crops[0], crops[1])
        return Batch(first, second, None)
