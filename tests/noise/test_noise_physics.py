"""Clinical noise physics: moments against theory at a fixed seed, Rician bias, clipping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from meddenoise.noise import NoiseSpecError, parse_noise

FLAT = 0.4
SHAPE = (256, 256)  # 65,536 samples: standard errors of ~0.4 % on a variance


def _flat(level: float = FLAT) -> np.ndarray:
    return np.full(SHAPE, level)


@pytest.mark.parametrize("peak", [10.0, 100.0])
def test_photon_noise_is_poisson_scaled(peak) -> None:
    noisy = parse_noise(f"photon(peak={peak},clip=false)")(_flat(), rng=1)
    assert noisy.mean() == pytest.approx(FLAT, rel=0.01)
    assert noisy.var() == pytest.approx(FLAT / peak, rel=0.03)
    # values live on the lattice k / peak
    assert np.allclose(noisy * peak, np.rint(noisy * peak))


def test_photon_noise_clips_by_default() -> None:
    noisy = parse_noise("photon(peak=5)")(_flat(0.9), rng=1)
    assert noisy.max() == 1.0 and noisy.min() >= 0.0


def test_poisson_gaussian_variance_adds() -> None:
    peak, sigma = 50.0, 0.03
    noisy = parse_noise(f"poisson-gaussian(peak={peak},sigma={sigma},clip=false)")(_flat(), rng=2)
    assert noisy.mean() == pytest.approx(FLAT, abs=5 * np.sqrt(FLAT / peak + sigma**2) / 256)
    assert noisy.var() == pytest.approx(FLAT / peak + sigma**2, rel=0.03)


def _rician_mean(nu: float, sigma: float) -> float:
    """E|nu + n1 + i n2| (Rice distribution), via the Laguerre polynomial L_1/2 with scaled Bessel functions."""
    r = -(nu**2) / (2 * sigma**2)
    laguerre = special.ive(0, -r / 2) * (1 - r) - r * special.ive(1, -r / 2)
    return float(sigma * np.sqrt(np.pi / 2) * laguerre)


@pytest.mark.parametrize("level", [0.0, 0.05, 0.1, 0.5])
def test_rician_mean_matches_the_rice_distribution(level) -> None:
    sigma = 0.05
    noisy = parse_noise(f"rician(sigma={sigma},clip=false)")(_flat(level), rng=3)
    assert noisy.mean() == pytest.approx(_rician_mean(level, sigma), rel=0.01)
    # second moment of the Rice distribution: nu^2 + 2 sigma^2
    assert np.mean(noisy**2) == pytest.approx(level**2 + 2 * sigma**2, rel=0.02)


def test_rician_bias_at_zero_signal_is_the_rayleigh_mean() -> None:
    sigma = 0.08
    noisy = parse_noise(f"rician(sigma={sigma})")(np.zeros(SHAPE), rng=4)
    assert noisy.min() >= 0.0
    assert noisy.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.01)
    assert noisy.var() == pytest.approx((4 - np.pi) / 2 * sigma**2, rel=0.03)


def test_rician_is_nearly_gaussian_at_high_snr() -> None:
    noisy = parse_noise("rician(sigma=0.01)")(_flat(0.5), rng=5)
    assert noisy.mean() == pytest.approx(0.5 + 0.01**2 / (2 * 0.5), abs=1e-4)
    assert noisy.std() == pytest.approx(0.01, rel=0.02)


@pytest.mark.parametrize("looks", [1.0, 4.0, 16.0])
def test_gamma_speckle_has_mean_x_and_variance_x2_over_looks(looks) -> None:
    noisy = parse_noise(f"speckle(looks={looks},clip=false)")(_flat(), rng=6)
    assert noisy.mean() == pytest.approx(FLAT, rel=0.02)
    assert noisy.var() == pytest.approx(FLAT**2 / looks, rel=0.04)


def test_rayleigh_speckle_moments() -> None:
    noisy = parse_noise("speckle(looks=1,dist=rayleigh,clip=false)")(_flat(), rng=7)
    assert noisy.mean() == pytest.approx(FLAT, rel=0.01)
    assert noisy.var() == pytest.approx(FLAT**2 * (4 / np.pi - 1), rel=0.03)
    with pytest.raises(NoiseSpecError, match="looks=1"):
        parse_noise("speckle(looks=4,dist=rayleigh)")


def test_speckle_keeps_black_black() -> None:
    assert np.array_equal(parse_noise("speckle(looks=2)")(np.zeros((8, 8)), rng=0), np.zeros((8, 8)))


@pytest.mark.parametrize(("amount", "salt"), [(0.1, 0.5), (0.3, 0.2), (0.05, 1.0)])
def test_salt_and_pepper_fractions(amount, salt) -> None:
    noisy = parse_noise(f"saltpepper(amount={amount},salt={salt})")(_flat(), rng=8)
    assert (noisy == 1).mean() == pytest.approx(amount * salt, abs=0.005)
    assert (noisy == 0).mean() == pytest.approx(amount * (1 - salt), abs=0.005)
    assert np.isin(noisy, [0.0, 1.0, FLAT]).all()


def test_mixture_of_physical_models_composes() -> None:
    mixture = parse_noise("photon(peak=100,clip=false)+poisson-gaussian(peak=1000000,sigma=0.02,clip=false)")
    noisy = mixture(_flat(), rng=9)
    assert noisy.var() == pytest.approx(FLAT / 100 + 0.02**2 + FLAT / 1e6, rel=0.04)
