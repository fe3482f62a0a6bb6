"""Noise models: the papers' corruptions and the physics of clinical noise, all seedable.

Every model is written as a spec string and built with :func:`parse_noise`::

    >>> import numpy as np
    >>> from meddenoise.noise import parse_noise
    >>> noise = parse_noise("gaussian(p=0.1,sigma=1)+saltpepper(amount=0.02)")
    >>> noisy = noise(np.full((64, 64), 0.5, np.float32), rng=0)
    >>> noisy.shape, noisy.dtype, str(noise)
    ((64, 64), dtype('float32'), 'gaussian(p=0.1,sigma=1)+saltpepper(amount=0.02)')

:data:`NOISE_MODELS` lists the registered models; add one by subclassing :class:`NoiseModel`
and decorating it with :func:`register_noise`.
"""

from __future__ import annotations

from meddenoise.noise import ct as _ct  # noqa: F401  (importing registers the models)
from meddenoise.noise import paper as _paper  # noqa: F401
from meddenoise.noise import physics as _physics  # noqa: F401
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
from meddenoise.noise.ct import LowDoseCTNoise
from meddenoise.noise.estimate import (
    estimate_ct_noise,
    estimate_ct_noise_per_slice,
    estimate_noise_correlation,
    estimate_noise_correlation_in_units,
    estimate_noise_correlation_per_slice,
    estimate_noise_in_units,
    estimate_noise_reading_in_units,
    estimate_noise_std,
    estimate_noise_std_per_slice,
    estimate_sigma,
    estimate_sigma_batch,
    noise_estimator_for,
)
from meddenoise.noise.paper import GaussianNoise, MaskingNoise, PoissonNoise
from meddenoise.noise.physics import (
    PhotonNoise,
    PoissonGaussianNoise,
    RicianNoise,
    SaltPepperNoise,
    SpeckleNoise,
)

__all__ = [
    "NOISE_MODELS",
    "ComposedNoise",
    "GaussianNoise",
    "LowDoseCTNoise",
    "MaskingNoise",
    "NoiseModel",
    "NoiseSpecError",
    "Param",
    "PhotonNoise",
    "PoissonGaussianNoise",
    "PoissonNoise",
    "RicianNoise",
    "SaltPepperNoise",
    "SpeckleNoise",
    "describe_models",
    "estimate_ct_noise",
    "estimate_ct_noise_per_slice",
    "estimate_noise_correlation",
    "estimate_noise_correlation_in_units",
    "estimate_noise_correlation_per_slice",
    "estimate_noise_in_units",
    "estimate_noise_reading_in_units",
    "estimate_noise_std",
    "estimate_noise_std_per_slice",
    "estimate_sigma",
    "estimate_sigma_batch",
    "format_value",
    "noise_estimator_for",
    "parse_noise",
    "register_noise",
]
