"""Blind Gaussian noise level estimation (wavelet MAD)."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from meddenoise.noise import estimate_sigma, estimate_sigma_batch


def _ct_slice() -> np.ndarray:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    pixels = ds.pixel_array.astype(np.float64)
    return (pixels - pixels.min()) / (pixels.max() - pixels.min())


def _smooth_phantom(size: int = 256) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / size
    disc = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.16).astype(float)
    return 0.2 + 0.5 * disc * (0.6 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy))


@pytest.mark.parametrize("sigma", [0.01, 0.02, 0.05, 0.1, 0.2])
def test_estimate_recovers_known_levels_on_a_phantom(sigma, rng) -> None:
    clean = _smooth_phantom()
    estimate = estimate_sigma(clean + rng.normal(0, sigma, clean.shape))
    assert estimate == pytest.approx(sigma, rel=0.08)


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_estimate_on_a_real_ct_slice(sigma, rng) -> None:
    clean = _ct_slice()  # 128x128 built-in sample, real anatomy and edges
    estimate = estimate_sigma(clean + rng.normal(0, sigma, clean.shape))
    assert estimate == pytest.approx(sigma, rel=0.15)


def test_noiseless_smooth_image_estimates_near_zero() -> None:
    assert estimate_sigma(_smooth_phantom()) < 0.002


def test_batches_are_estimated_per_image(rng) -> None:
    clean = np.stack([_smooth_phantom(128)] * 3)
    sigmas = np.array([0.01, 0.05, 0.1])
    noisy = clean + rng.normal(0, 1, clean.shape) * sigmas[:, None, None]
    per_image = estimate_sigma_batch(noisy)
    np.testing.assert_allclose(per_image, sigmas, rtol=0.1)
    assert estimate_sigma(noisy) == pytest.approx(per_image.mean())
    assert estimate_sigma_batch(noisy[0]).shape == (1,)


def test_scale_equivariance(rng) -> None:
    noisy = _smooth_phantom() + rng.normal(0, 0.05, (256, 256))
    assert estimate_sigma(255 * noisy) == pytest.approx(255 * estimate_sigma(noisy))


@pytest.mark.parametrize(
    "bad", [np.zeros(5), np.zeros((2, 2, 2, 2)), np.zeros((1, 8)), np.full((8, 8), np.nan)]
)
def test_bad_input_is_rejected(bad) -> None:
    with pytest.raises(ValueError, match="estimate_sigma"):
        estimate_sigma(bad)
