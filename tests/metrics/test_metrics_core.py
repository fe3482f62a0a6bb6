"""SSIM, MS-SSIM, PSNR, MSE, MAE: identities, agreement with scikit-image, batch helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.metrics import structural_similarity

from meddenoise.metrics import (
    CT_METRICS,
    HIGHER_IS_BETTER,
    METRICS,
    get_metric,
    mae,
    metric_batch,
    ms_ssim,
    mse,
    psnr,
    ssim,
)
from meddenoise.metrics.structural import wang_downsample


def _pair(rng: np.random.Generator, shape=(48, 56), noise=0.15) -> tuple[np.ndarray, np.ndarray]:
    clean = rng.random(shape)
    return clean, np.clip(clean + noise * rng.standard_normal(shape), 0, 1)


@pytest.mark.parametrize(
    "settings_",
    [
        {},
        {"gaussian_weights": True},
        {"win_size": 5},
        {"win_size": 11},
        {"use_sample_covariance": False},
        {"gaussian_weights": True, "use_sample_covariance": False},
        {"k1": 0.02, "k2": 0.05},
    ],
)
@pytest.mark.parametrize("data_range", [1.0, 2.0, 255.0])
def test_ssim_agrees_with_scikit_image(rng, settings_, data_range):
    clean, noisy = _pair(rng)
    clean, noisy = clean * data_range, noisy * data_range
    ours = ssim(clean, noisy, data_range=data_range, **settings_)
    # scikit-image spells the constants K1, K2.
    sk_settings = {{"k1": "K1", "k2": "K2"}.get(k, k): v for k, v in settings_.items()}
    reference = structural_similarity(clean, noisy, data_range=data_range, **sk_settings)
    assert abs(ours - reference) < 1e-6


def test_ssim_agrees_with_scikit_image_on_float32(rng):
    clean, noisy = _pair(rng, shape=(64, 64))
    a, b = clean.astype(np.float32), noisy.astype(np.float32)
    assert abs(ssim(a, b, data_range=1.0) - structural_similarity(a, b, data_range=1.0)) < 1e-6


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(11, 24), st.integers(11, 24)), elements=st.floats(0, 1)),
    st.integers(0, 2**32 - 1),
)
def test_ssim_matches_scikit_image_on_any_image(clean, seed):
    noisy = np.clip(clean + 0.2 * np.random.default_rng(seed).standard_normal(clean.shape), 0, 1)
    for gaussian in (False, True):
        ours = ssim(clean, noisy, data_range=1.0, gaussian_weights=gaussian)
        reference = structural_similarity(clean, noisy, data_range=1.0, gaussian_weights=gaussian)
        assert abs(ours - reference) < 1e-6


def test_identities(rng):
    clean, noisy = _pair(rng, shape=(200, 190))
    assert ssim(clean, clean, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    assert ssim(clean, clean, data_range=1.0, gaussian_weights=True) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(clean, clean, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    assert psnr(clean, clean, data_range=1.0) == math.inf
    assert mse(clean, clean) == 0.0
    assert mae(clean, clean) == 0.0
    assert ssim(clean, noisy, data_range=1.0) < 0.9
    assert ms_ssim(clean, noisy, data_range=1.0) < 0.99


def test_psnr_of_a_known_mse():
    clean = np.zeros((10, 10))
    shifted = clean + 0.1  # MSE 0.01 exactly → 20 dB at data range 1, 40 dB at data range 10
    assert mse(clean, shifted) == pytest.approx(0.01)
    assert psnr(clean, shifted, data_range=1.0) == pytest.approx(20.0)
    assert psnr(clean, shifted, data_range=10.0) == pytest.approx(40.0)


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float64, (6, 7), elements=st.floats(-10, 10)),
    arrays(np.float64, (6, 7), elements=st.floats(-10, 10)),
)
def test_errors_are_symmetric_and_ordered(x, y):
    assert mae(x, y) == pytest.approx(mae(y, x))
    assert mse(x, y) == pytest.approx(mse(y, x))
    assert mae(x, y) ** 2 <= mse(x, y) + 1e-9  # Jensen
    assert ssim(x, y, data_range=20.0, win_size=5) == pytest.approx(ssim(y, x, data_range=20.0, win_size=5))


def test_ssim_worsens_with_more_noise(rng):
    clean = rng.random((64, 64))
    noisy = [np.clip(clean + s * rng.standard_normal(clean.shape), 0, 1) for s in (0.05, 0.1, 0.3)]
    scores = [ssim(clean, n, data_range=1.0) for n in noisy]
    assert scores[0] > scores[1] > scores[2]


def test_data_range_is_required_and_checked(rng):
    clean, noisy = _pair(rng)
    with pytest.raises(TypeError):
        ssim(clean, noisy)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        psnr(clean, noisy)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="data_range"):
        psnr(clean, noisy, data_range=0)
    with pytest.raises(ValueError, match="same shape"):
        ssim(clean, noisy[:-1], data_range=1.0)
    with pytest.raises(ValueError, match="window"):
        ssim(clean[:5, :5], noisy[:5, :5], data_range=1.0)
    with pytest.raises(ValueError, match="NaN"):
        mse(clean, np.full_like(clean, np.nan))


def test_ms_ssim_needs_room_for_five_scales(rng):
    clean, noisy = _pair(rng, shape=(64, 64))
    with pytest.raises(ValueError, match="176x176"):
        ms_ssim(clean, noisy, data_range=1.0)
    # Fewer scales fit smaller images: three scales need 44 pixels.
    three = ms_ssim(clean, noisy, data_range=1.0, weights=(0.2, 0.3, 0.5))
    assert 0 < three < 1


def test_ms_ssim_with_one_scale_is_wang_ssim(rng):
    clean, noisy = _pair(rng, shape=(40, 40))
    expected = ssim(clean, noisy, data_range=1.0, gaussian_weights=True, use_sample_covariance=False)
    assert ms_ssim(clean, noisy, data_range=1.0, weights=(1.0,)) == pytest.approx(expected, abs=1e-12)


def test_wang_downsample_matches_matlab_convention():
    image = np.arange(25, dtype=np.float64).reshape(5, 5)
    half = wang_downsample(image, 2)
    # 2x2 means starting at even rows/columns; the last (odd) row/column is mirrored onto itself.
    assert half.shape == (3, 3)
    assert half[0, 0] == pytest.approx(np.mean(image[:2, :2]))
    assert half[1, 2] == pytest.approx(np.mean(image[2:4, 4]))
    assert half[2, 2] == pytest.approx(image[4, 4])
    assert np.array_equal(wang_downsample(image, 1), image)


def test_registry_and_batches(rng):
    assert set(METRICS) == {"ssim", "psnr", "mse", "mae", "ms_ssim", "lpips", *CT_METRICS}
    assert set(HIGHER_IS_BETTER) == set(METRICS)
    assert get_metric("MS-SSIM") is ms_ssim
    with pytest.raises(ValueError, match="unknown metric"):
        get_metric("fsim")
    clean = rng.random((3, 32, 32))
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    per_image = metric_batch("ssim", clean, noisy, data_range=1.0)
    assert per_image.shape == (3,)
    assert per_image[1] == pytest.approx(ssim(clean[1], noisy[1], data_range=1.0))
    assert metric_batch("psnr", clean[0], noisy[0], data_range=1.0).shape == (1,)
    gaussian = metric_batch(ssim, clean, noisy, data_range=1.0, gaussian_weights=True)
    assert not np.allclose(gaussian, per_image)


def test_metrics_classical_and_bench_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, meddenoise.metrics, meddenoise.classical, meddenoise.experiments.evaluate; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
