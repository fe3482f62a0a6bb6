"""Supervised training: input ``noise(clean)``, target ``clean``."""

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

__all__ = ["SupervisedConfig", "SupervisedObjective"]


@register_objective
class SupervisedConfig(ObjectiveConfig):
    """Noisy → clean (Gondara 2016 and most of the literature)."""

    kind: Literal["supervised"] = "supervised"

    def build(self) -> SupervisedObjective:
        return SupervisedObjective(self)


class SupervisedObjective(ConfiguredLoss):
    """Pairs of a noisy input and its clean target."""

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        if noise is not None:
            return [noise(images, rng=rng), images]
        if targets is None:
            raise ValueError("mode supervised without a noise model needs explicit targets (clean images)")
        return [images, targets]

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        if noise is not None:
            clean = crops[0]
            return Batch(as_float32(noise(clean, rng=rng)), clean, None)
        return Batch(crops[0], crops[1], None)
