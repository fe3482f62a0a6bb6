"""Noise models: the papers' corruptions and the physics of clinical noise, all seedable.

Every model is written as a spec string and built with :func:`parse_noise`::

    >>> import numpy as np
    >>> from meddenoise.noise import parse_noise
    >>> noise = parse_noise("gaussian(p=0.1,sigma=1)+masking(fraction=0.02)")
    >>> noisy = noise(np.full((64, 64), 0.5, np.float32), rng=0)
    >>> noisy.shape, noisy.dtype, str(noise)
    ((64, 64), dtype('float32'), 'gaussian(p=0.1,sigma=1)+masking(fraction=0.02)')

:data:`NOISE_MODELS` lists the registered models; add one by subclassing :class:`NoiseModel`
and decorating it with :func:`register_noise`.
"""

from __future__ import annotations

from meddenoise.noise import paper as _paper  # noqa: F401  (registers the models)
from meddenoise.noise.base import (
    NOISE_MODELS,
    ComposedNoise,
    NoiseModel,
    NoiseSpecError,
    Param,
    describe_models,
    format_value,
    parse_noise,
    register_noise,
)
from meddenoise.noise.estimate import estimate_sigma, estimate_sigma_batch
from meddenoise.noise.paper import GaussianNoise, MaskingNoise, PoissonNoise

__all__ = [
    "NOISE_MODELS",
    "ComposedNoise",
    "GaussianNoise",
    "MaskingNoise",
    "NoiseModel",
    "NoiseSpecError",
    "Param",
    "PoissonNoise",
    "describe_models",
    "estimate_sigma",
    "estimate_sigma_batch",
    "format_value",
    "parse_noise",
    "register_noise",
]
