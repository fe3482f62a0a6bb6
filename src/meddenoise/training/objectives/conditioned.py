"""Noise-level-conditioned supervised training (FFDNet, DRUNet): the network is told each sample's noise std.

Every sample of a batch gets its own noise level ``sigma`` drawn from the configured range (a fraction of
them exactly 0, so the network learns to return a clean image unchanged), additive white Gaussian noise of
that std (not clipped: clipping would bias the noise and the level would no longer be its std), and the
level travels with the batch to the network as ``model(x, sigma=...)``. The images given to the trainer
are the clean targets; the objective makes the noise itself, so ``TrainConfig.noise`` must be None.

With ``texture="given"`` the noise is not white: the trainer's targets are then *noise textures*, one
zero-mean, unit-std noise image per clean image and aligned with it (e.g. the low-dose CT noise that a
sinogram simulation adds to that very slice: streaks follow its bones), cropped and augmented together
with it, and a sample's noise is ``sigma * texture`` (sign flipped at random). The level a network is told
therefore keeps its meaning, the std of the noise, whatever its texture. ``white_fraction`` of the noisy
samples still get white noise so one network serves both, and ``mixed_fraction`` a mixture of both (a share
of the variance, uniform in [0, 1], from the texture): white noise added to a scan that has its own.

With ``tell_correlation`` the network is also told each sample's noise lag-1 correlation (for models with
``correlation_input``): 0 for white noise, the texture crop's own for a texture, the texture's share of the
variance times that for a mixture. Told the level alone, a network trained on both kinds has to hedge
between them; told the kind too, it need not.

With ``level_weight_power`` p > 0 each sample's loss is weighted by ``max(sigma, level_weight_floor)^-p``
(the batch's mask carries the weights; a weighted mean, so per-pixel losses only; under torchrun each rank
takes it over its own share of the batch, as with blind-spot masks). Why: a denoiser's error
grows about as ``sigma^1.3`` between 1 % and 5 % noise, so with a plain MSE the noisiest samples of a wide
range set the gradient and the low, clinical levels are an afterthought; ``p`` near that exponent gives
every level's *relative* error (its PSNR) about the same say, ``p = 2`` weights each sample by its
noise variance's inverse.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from meddenoise.training.objectives.base import (
    PER_PIXEL_LOSSES,
    Batch,
    ConfiguredLoss,
    NoiseFn,
    ObjectiveConfig,
    register_objective,
)

__all__ = ["ConditionedConfig", "ConditionedObjective", "lag1_correlation"]


@register_objective
class ConditionedConfig(ObjectiveConfig):
    """Clean images → (clean + N(0, sigma²), sigma) → clean, with sigma drawn per sample."""

    kind: Literal["conditioned"] = "conditioned"
    sigma_low: float = Field(0.0, ge=0.0, description="Lowest noise std on the [0, 1] scale.")
    sigma_high: float = Field(0.2, gt=0.0, le=1.0, description="Highest noise std on the [0, 1] scale.")
    distribution: Literal["uniform", "log-uniform"] = Field(
        "uniform",
        description="How sigma is drawn in [sigma_low, sigma_high]; log-uniform spends more samples on "
        "low levels (clinical noise is low) and needs sigma_low > 0.",
    )
    clean_fraction: float = Field(
        0.05, ge=0.0, lt=1.0, description="Fraction of samples with sigma exactly 0 (input = target)."
    )
    texture: Literal["white", "given"] = Field(
        "white",
        description="white: Gaussian white noise; given: the trainer's targets are unit-std noise "
        "textures aligned with the clean images, scaled by each sample's sigma.",
    )
    white_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="With given textures: fraction of noisy samples given white noise."
    )
    mixed_fraction: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="With given textures: fraction of noisy samples given white noise and texture mixed "
        "(the texture's share of the variance uniform in [0, 1]).",
    )
    tell_correlation: bool = Field(
        False,
        description="Also tell the network each sample's noise lag-1 correlation (models with "
        "correlation_input): 0 for white noise.",
    )
    level_weight_power: float = Field(
        0.0,
        ge=0.0,
        le=4.0,
        description="Weight each sample's loss by max(sigma, level_weight_floor)^-power (0: plain loss): "
        "gives low noise levels their say against the noisiest samples (mse, l1 or bce only).",
    )
    level_weight_floor: float = Field(
        0.005,
        gt=0.0,
        le=1.0,
        description="Levels below this one (and clean samples) are weighted as this level.",
    )

    @model_validator(mode="after")
    def _check_range(self) -> ConditionedConfig:
        if self.sigma_low >= self.sigma_high:
            raise ValueError(f"sigma_low ({self.sigma_low}) must be below sigma_high ({self.sigma_high})")
        if self.distribution == "log-uniform" and self.sigma_low <= 0:
            raise ValueError("a log-uniform sigma needs sigma_low > 0")
        if self.texture == "white" and (self.white_fraction != 0.0 or self.mixed_fraction != 0.0):
            raise ValueError("white_fraction and mixed_fraction apply to texture='given' only")
        if self.level_weight_power > 0 and self.loss not in PER_PIXEL_LOSSES:
            raise ValueError(
                f"level_weight_power needs a per-pixel loss ({', '.join(PER_PIXEL_LOSSES)}), got {self.loss!r}"
            )
        if self.white_fraction + self.mixed_fraction > 1.0:
            raise ValueError(
                f"white_fraction + mixed_fraction must be at most 1, got {self.white_fraction} + "
                f"{self.mixed_fraction}"
            )
        return self

    def targets_are_images(self) -> bool:
        return self.texture != "given"  # given: the targets are zero-mean noise textures

    def build(self) -> ConditionedObjective:
        return ConditionedObjective(self)


class ConditionedObjective(ConfiguredLoss):
    """Draws a noise level per sample, corrupts the clean crop with it and hands it to the network."""

    config: ConditionedConfig

    def __init__(self, config: ConditionedConfig) -> None:
        super().__init__(config)
        self.config = config

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        if noise is not None:
            raise ValueError("the conditioned objective makes its own noise: train it with noise=None")
        if self.config.texture == "given":
            if targets is None:
                raise ValueError("texture='given' needs the noise textures as the trainer's targets")
            return [images, targets]
        if targets is not None:
            raise ValueError("the conditioned objective trains on clean images only (no explicit targets)")
        return [images]

    def draw_sigma(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` noise levels (float32) from the configured distribution, a fraction of them 0."""
        cfg = self.config
        if cfg.distribution == "log-uniform":
            levels = np.exp(rng.uniform(np.log(cfg.sigma_low), np.log(cfg.sigma_high), size=count))
        else:
            levels = rng.uniform(cfg.sigma_low, cfg.sigma_high, size=count)
        levels[rng.random(count) < cfg.clean_fraction] = 0.0
        return levels.astype(np.float32)

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        clean = np.asarray(crops[0], dtype=np.float32)
        count = clean.shape[0]
        sigma = self.draw_sigma(count, rng)
        unit_noise = rng.standard_normal(clean.shape, dtype=np.float32)
        correlation = np.zeros(count, dtype=np.float32)  # white noise
        if self.config.texture == "given":
            if len(crops) < 2:
                raise ValueError("texture='given' needs crops of the noise textures (train with targets)")
            sign = np.where(rng.random(count) < 0.5, -1.0, 1.0).astype(np.float32)
            draw = np.asarray(rng.random(size=count))
            # the texture's share of each sample's noise variance: 0 white, 1 texture, between for a mixture
            share = (draw >= self.config.white_fraction).astype(np.float32)
            if self.config.mixed_fraction > 0:
                mixed = (draw >= self.config.white_fraction) & (
                    draw < self.config.white_fraction + self.config.mixed_fraction
                )
                share[mixed] = rng.uniform(0.0, 1.0, size=int(mixed.sum())).astype(np.float32)
            textures = sign[:, None, None] * np.asarray(crops[1], np.float32)
            has = share > 0
            weight = np.sqrt(share[has])[:, None, None]
            unit_noise[has] = (
                np.sqrt(1.0 - share[has])[:, None, None] * unit_noise[has] + weight * textures[has]
            )
            if self.config.tell_correlation:
                correlation[has] = share[has] * lag1_correlation(textures[has])
        noisy = clean + sigma[:, None, None] * unit_noise
        told = correlation if self.config.tell_correlation else None
        weights = self.level_weights(sigma)
        mask = (
            None
            if weights is None
            else np.ascontiguousarray(np.broadcast_to(weights[:, None, None], clean.shape))
        )
        return Batch(noisy.astype(np.float32), clean, mask, sigma=sigma, correlation=told)

    def level_weights(self, sigma: np.ndarray) -> np.ndarray | None:
        """Each sample's loss weight ``max(sigma, floor)^-power``, scaled to a batch mean of 1 (float32
        ``(B,)``); None with ``level_weight_power`` 0 (the plain loss)."""
        cfg = self.config
        if cfg.level_weight_power == 0:
            return None
        weights = np.maximum(np.asarray(sigma, np.float64), cfg.level_weight_floor) ** -cfg.level_weight_power
        return (weights / weights.mean()).astype(np.float32)


def lag1_correlation(noise: np.ndarray) -> np.ndarray:
    """Lag-1 correlation (rows and columns averaged) of each zero-mean noise image of ``(N, H, W)``: float32 ``(N,)``.

    >>> rng = np.random.default_rng(0)
    >>> white = rng.standard_normal((1, 64, 64))
    >>> abs(float(lag1_correlation(white)[0])) < 0.05
    True
    """
    x = np.asarray(noise, dtype=np.float64)
    across = np.mean(x[:, :, 1:] * x[:, :, :-1], axis=(1, 2)) + np.mean(x[:, 1:] * x[:, :-1], axis=(1, 2))
    power = np.mean(x * x, axis=(1, 2))
    out = np.zeros(len(x))
    np.divide(across, 2.0 * power, out=out, where=power > 0)
    return out.astype(np.float32)
