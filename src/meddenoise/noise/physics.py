"""Physically motivated noise of clinical images: photon counting, detector read noise, MRI
magnitude (Rician), ultrasound speckle and impulse noise.

All act on images scaled to [0, 1] (1 = the brightest signal the model refers to). Results are
clipped to [0, 1] unless ``clip=false`` is given (then only impossible negative values of
magnitudes and counts are avoided by construction, nothing else is cut).
"""

from __future__ import annotations

import numpy as np

from meddenoise.noise.base import NoiseModel, NoiseSpecError, Param, register_noise

__all__ = ["PhotonNoise", "PoissonGaussianNoise", "RicianNoise", "SaltPepperNoise", "SpeckleNoise"]

_CLIP = Param("clip", "bool", True, "clip the result to [0, 1]")


def _finish(model: NoiseModel, noisy: np.ndarray) -> np.ndarray:
    return np.clip(noisy, 0.0, 1.0) if model.clip else noisy


@register_noise
class PhotonNoise(NoiseModel):
    """Signal-dependent Poisson (shot) noise of photon counting: ``Poisson(x * peak) / peak``.

    ``peak`` is the expected photon count of a pixel of value 1, so the noise variance is
    ``x / peak`` (SNR ``sqrt(x * peak)``): low counts, strong noise (X-ray, fluoroscopy, PET/SPECT).
    """

    name = "photon"
    summary = "signal-dependent Poisson (shot) noise: Poisson(x*peak)/peak"
    params = (
        Param("peak", "float", 30.0, "expected photon count at x = 1", low=0.0, low_open=True, always=True),
        _CLIP,
    )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _finish(self, rng.poisson(np.clip(x, 0.0, None) * self.peak) / self.peak)


@register_noise
class PoissonGaussianNoise(NoiseModel):
    """Photon noise plus Gaussian detector (read) noise: ``Poisson(x * peak) / peak + N(0, sigma)``.

    The standard model of raw X-ray / CCD / flat-panel detector signals (Foi et al. 2008):
    variance ``x / peak + sigma^2``.
    """

    name = "poisson-gaussian"
    summary = "photon noise plus Gaussian read noise: Poisson(x*peak)/peak + N(0, sigma)"
    params = (
        Param("peak", "float", 30.0, "expected photon count at x = 1", low=0.0, low_open=True, always=True),
        Param("sigma", "float", 0.02, "std of the read noise on the [0, 1] scale", low=0.0, always=True),
        _CLIP,
    )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        counts = rng.poisson(np.clip(x, 0.0, None) * self.peak) / self.peak
        return _finish(self, counts + rng.normal(0.0, self.sigma, size=x.shape))


@register_noise
class RicianNoise(NoiseModel):
    """Rician noise of MRI magnitude images: ``|x + n1 + i n2|`` with ``n1, n2 ~ N(0, sigma)``.

    The real and imaginary channels of the complex MR signal carry independent Gaussian noise;
    the magnitude is then Rician: biased upwards at low SNR (pure noise has mean
    ``sigma * sqrt(pi / 2)``, the Rayleigh mean) and nearly Gaussian with std ``sigma`` at high SNR.
    """

    name = "rician"
    summary = "MRI magnitude noise: |x + n1 + i*n2|, n1, n2 ~ N(0, sigma)"
    params = (
        Param(
            "sigma", "float", 0.05, "std of each complex channel on the [0, 1] scale", low=0.0, always=True
        ),
        _CLIP,
    )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        real = x + rng.normal(0.0, self.sigma, size=x.shape)
        imaginary = rng.normal(0.0, self.sigma, size=x.shape)
        return _finish(self, np.hypot(real, imaginary))


SPECKLE_DISTRIBUTIONS = ("gamma", "rayleigh")


@register_noise
class SpeckleNoise(NoiseModel):
    """Multiplicative speckle of coherent imaging (ultrasound, OCT, SAR): ``x * s`` with ``E[s] = 1``.

    * ``dist=gamma``: intensity speckle averaged over ``looks`` independent looks,
      ``s ~ Gamma(looks, 1/looks)``: variance ``1/looks`` (fully developed single-look speckle
      at ``looks=1`` is exponential).
    * ``dist=rayleigh``: amplitude (envelope) speckle of a single look, ``s`` Rayleigh-distributed
      scaled to mean 1: variance ``4/pi - 1 = 0.273``; ``looks`` must then stay 1.
    """

    name = "speckle"
    summary = "multiplicative speckle x*s, s ~ Gamma(looks, 1/looks) or Rayleigh (mean 1)"
    params = (
        Param(
            "looks",
            "float",
            4.0,
            "number of looks (gamma: variance 1/looks)",
            low=0.0,
            low_open=True,
            always=True,
        ),
        Param("dist", "choice", "gamma", "speckle distribution", choices=SPECKLE_DISTRIBUTIONS),
        _CLIP,
    )

    def validate(self) -> None:
        if self.dist == "rayleigh" and self.looks != 1:
            raise NoiseSpecError("speckle: dist=rayleigh is single-look amplitude speckle; give looks=1")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.dist == "gamma":
            factor = rng.gamma(self.looks, 1.0 / self.looks, size=x.shape)
        else:
            factor = rng.rayleigh(1.0 / np.sqrt(np.pi / 2.0), size=x.shape)
        return _finish(self, x * factor)


@register_noise
class SaltPepperNoise(NoiseModel):
    """Impulse noise: a random ``amount`` of the pixels set to 1 (salt, with probability ``salt``) or 0.

    Each pixel is hit independently with probability ``amount`` (dead/hot detector pixels,
    transmission errors).
    """

    name = "saltpepper"
    summary = "impulse noise: a random fraction 'amount' of pixels set to 1 (salt) or 0 (pepper)"
    params = (
        Param("amount", "float", 0.05, "probability that a pixel is hit", low=0.0, high=1.0, always=True),
        Param("salt", "float", 0.5, "share of the hit pixels set to 1 (the rest to 0)", low=0.0, high=1.0),
    )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        hit = rng.random(x.shape) < self.amount
        to_salt = rng.random(x.shape) < self.salt
        noisy = x.copy()
        noisy[hit & to_salt] = 1.0
        noisy[hit & ~to_salt] = 0.0
        return noisy
