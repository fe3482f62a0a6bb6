"""Noise2Void / Noise2Self: blind-spot training on noisy images only.

Krull, Buchholz & Jug, CVPR 2019; Batson & Royer, ICML 2019. In every image ``fraction`` of the
pixels are hidden (:func:`~meddenoise.training.blindspot.blind_spot_mask`); the loss counts only the
hidden pixels, against their original noisy values.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from meddenoise.training.blindspot import blind_spot_mask
from meddenoise.training.objectives.base import (
    PER_PIXEL_LOSSES,
    Batch,
    ConfiguredLoss,
    NoiseFn,
    ObjectiveConfig,
    as_float32,
    register_objective,
)

__all__ = ["Noise2VoidConfig", "Noise2VoidObjective"]


@register_objective
class Noise2VoidConfig(ObjectiveConfig):
    """Blind-spot masking: predict hidden noisy pixels from their neighbours."""

    kind: Literal["noise2void"] = "noise2void"
    fraction: float = Field(0.02, gt=0.0, le=0.5, description="Fraction of pixels masked per image.")
    replacement: Literal["neighbour", "local_mean"] = Field(
        "neighbour",
        description="Replace a masked pixel by a random neighbour (N2V) or by the mean of its "
        "neighbourhood excluding itself (Noise2Self-style).",
    )
    radius: int = Field(2, ge=1, le=5, description="Neighbourhood radius (2 → 5x5).")

    @model_validator(mode="after")
    def _per_pixel_loss(self) -> Noise2VoidConfig:
        if self.loss not in PER_PIXEL_LOSSES:
            raise ValueError(
                f"noise2void trains on masked pixels only; use a per-pixel loss ({', '.join(PER_PIXEL_LOSSES)}), "
                f"not {self.loss!r}"
            )
        return self

    def build(self) -> Noise2VoidObjective:
        return Noise2VoidObjective(self)


class Noise2VoidObjective(ConfiguredLoss):
    """Masked noisy input, the unmasked noisy image as target, the mask restricting the loss."""

    def __init__(self, config: Noise2VoidConfig) -> None:
        super().__init__(config)
        self.blind_spot = config

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        return [images if noise is None else noise(images, rng=rng)]

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        noisy = crops[0] if noise is None else as_float32(noise(crops[0], rng=rng))
        cfg = self.blind_spot
        masked = blind_spot_mask(
            noisy, fraction=cfg.fraction, radius=cfg.radius, replacement=cfg.replacement, rng=rng
        )
        return Batch(masked.inputs, noisy, masked.mask)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            raise ValueError("noise2void needs the blind-spot mask of its batch")
        return super().loss(pred, target, mask)
