"""Noise models: moments against theory at a fixed seed, determinism, shape/dtype, clipping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from meddenoise.noise import NOISE_MODELS, NoiseModel, parse_noise

# One representative spec per registered model, at a setting where clipping does not matter
# unless the test is about clipping.
SPECS = {
    "gaussian": "gaussian(p=0.1,sigma=1)",
    "poisson": "poisson(p=0.2,lam=5)",
    "masking": "masking(fraction=0.25)",
    "lowdose-ct": "lowdose-ct(dose=0.25,units=unit,angles=64)",
}


def _spec(name: str) -> str:
    return SPECS.get(name, str(NOISE_MODELS[name]()))


@pytest.mark.parametrize("name", sorted(NOISE_MODELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 32), (3, 32, 32)])
def test_shape_dtype_kept_input_untouched_and_seed_determines_noise(name, dtype, shape) -> None:
    model = parse_noise(_spec(name))
    clean = np.random.default_rng(0).uniform(0.2, 0.8, shape).astype(dtype)
    before = clean.copy()
    noisy = model(clean, rng=3)
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    assert np.array_equal(clean, before)
    assert np.array_equal(noisy, model(clean, rng=3))
    assert np.array_equal(noisy, model(clean, rng=np.random.default_rng(3)))
    assert not np.array_equal(noisy, model(clean, rng=4))
    assert np.isfinite(noisy).all()


@pytest.mark.parametrize("name", sorted(NOISE_MODELS))
def test_integer_images_are_rounded_into_their_dtype(name) -> None:
    model = parse_noise(_spec(name))
    clean = np.random.default_rng(0).integers(0, 2, (16, 16)).astype(np.uint8)
    if name == "lowdose-ct":  # HU slices are signed integers in DICOM files
        model, clean = parse_noise("lowdose-ct(dose=0.5,angles=64)"), clean.astype(np.int16) * 1000 - 1000
    noisy = model(clean, rng=0)
    assert noisy.dtype == clean.dtype and noisy.shape == clean.shape
    # the same noise as on the float image, rounded to the nearest integer and clipped to the dtype
    info = np.iinfo(clean.dtype)
    unrounded = model(clean.astype(np.float64), rng=0)
    assert np.array_equal(noisy, np.clip(np.rint(unrounded), info.min, info.max).astype(clean.dtype))


class _AddOffsets(NoiseModel):
    """Adds fixed offsets: fractional ones and ones that leave the integer dtype's range."""

    name = "add-offsets"

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x + np.array([-3.7, 0.4, 9.2, 0.6, -0.5, 1.5])


@pytest.mark.parametrize(
    ("clean", "expected"),
    [
        (np.array([0, 10, 250, 128, 7, 7], np.uint8), np.array([0, 10, 255, 129, 6, 8], np.uint8)),
        (
            np.array([-32766, 5, 32760, 0, 0, 32766], np.int16),
            np.array([-32768, 5, 32767, 1, 0, 32767], np.int16),
        ),
    ],
)
def test_integer_results_are_rounded_half_to_even_and_clipped_not_wrapped(clean, expected) -> None:
    # Without rounding, astype truncates (10.4 -> 10 but 128.6 -> 128); without clipping, 259.2 wraps to 3.
    noisy = _AddOffsets()(clean, rng=0)
    assert noisy.dtype == clean.dtype
    assert np.array_equal(noisy, expected)


def test_gaussian_moments_without_clipping(rng) -> None:
    p, sigma, mu = 0.02, 1.5, 0.5
    clean = np.full((256, 256), 0.5)
    noise = parse_noise(f"gaussian(p={p},sigma={sigma},mu={mu})")(clean, rng=rng) - clean
    # mean p*mu, std p*sigma; 65,536 samples: mean error < 5 standard errors
    assert abs(noise.mean() - p * mu) < 5 * p * sigma / 256
    assert noise.std() == pytest.approx(p * sigma, rel=0.02)
    assert stats.normaltest(noise.ravel()).pvalue > 1e-4


def test_gaussian_clipping_matches_the_censored_normal(rng) -> None:
    # On a black image half of clip(0 + p*N(0, sigma)) is 0 and the rest is half-normal:
    # mean p*sigma/sqrt(2*pi) when p*sigma << 1.
    p, sigma = 0.1, 1.0
    noisy = parse_noise(f"gaussian(p={p},sigma={sigma})")(np.zeros((256, 256)), rng=rng)
    assert noisy.min() == 0.0 and noisy.max() <= 1.0
    assert (noisy == 0).mean() == pytest.approx(0.5, abs=0.01)
    assert noisy.mean() == pytest.approx(p * sigma / np.sqrt(2 * np.pi), rel=0.02)


def test_report_2025_corruption_is_gaussian_p03_sigma15(rng) -> None:
    clean = np.random.default_rng(1).uniform(0, 1, (64, 64)).astype(np.float32)
    expected = np.clip(clean + 0.3 * np.random.default_rng(5).normal(0, 1.5, clean.shape), 0, 1)
    got = parse_noise("gaussian(p=0.3,sigma=1.5)")(clean, rng=5)
    np.testing.assert_allclose(got, expected.astype(np.float32), atol=1e-6)


def test_poisson_additive_matches_the_formula_and_moments() -> None:
    clean = np.random.default_rng(1).uniform(0, 1, (128, 128))
    got = parse_noise("poisson(p=0.2,lam=5,reading=additive)")(clean, rng=11)
    expected = np.clip(clean + 0.2 * np.random.default_rng(11).poisson(5, clean.shape), 0, 1)
    np.testing.assert_array_equal(got, expected)
    # Without clipping (tiny p): the added noise has mean p*lam and variance p^2*lam.
    raw = parse_noise("poisson(p=0.001,lam=5,reading=additive)")(np.full((256, 256), 0.5), rng=2) - 0.5
    assert raw.mean() == pytest.approx(0.001 * 5, rel=0.01)
    assert raw.var() == pytest.approx(0.001**2 * 5, rel=0.03)


def test_poisson_centred_is_zero_mean() -> None:
    raw = parse_noise("poisson(p=0.001,lam=5,reading=centred)")(np.full((256, 256), 0.5), rng=2) - 0.5
    assert abs(raw.mean()) < 5 * 0.001 * np.sqrt(5) / 256
    assert raw.var() == pytest.approx(0.001**2 * 5, rel=0.03)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_masking_zeroes_exactly_the_fraction_in_every_image(fraction) -> None:
    clean = np.random.default_rng(0).uniform(0.1, 1, (4, 20, 30)).astype(np.float32)
    noisy = parse_noise(f"masking(fraction={fraction})")(clean, rng=0)
    zeroed = (noisy == 0).reshape(4, -1).sum(axis=1)
    assert (zeroed == round(fraction * 600)).all()
    kept = noisy != 0
    assert np.array_equal(noisy[kept], clean[kept])
    # different images get different masks
    if 0 < fraction < 1:
        assert not np.array_equal(noisy[0] == 0, noisy[1] == 0)


def test_masking_positions_are_uniform() -> None:
    noisy = parse_noise("masking(fraction=0.3)")(np.ones((2000, 4, 4)), rng=9)
    per_pixel = (noisy == 0).mean(axis=0)
    assert np.allclose(per_pixel, 0.3, atol=0.04)


def test_poisson_standardised_has_unit_variance_before_p() -> None:
    raw = parse_noise("poisson(p=0.01,lam=5,reading=standardised)")(np.full((256, 256), 0.5), rng=3) - 0.5
    assert abs(raw.mean()) < 5 * 0.01 / 256
    assert raw.std() == pytest.approx(0.01, rel=0.02)


def test_poisson_signal_reading_is_zero_mean_with_signal_dependent_variance() -> None:
    p, lam = 0.01, 50.0
    for level in (0.2, 0.8):
        raw = parse_noise(f"poisson(p={p},lam={lam})")(np.full((256, 256), level), rng=4) - level
        assert abs(raw.mean()) < 5 * p * np.sqrt(lam * level) / 256
        assert raw.var() == pytest.approx(p**2 * lam * level, rel=0.03)
    # no noise where there is no signal
    assert np.array_equal(parse_noise("poisson(p=0.2,lam=5)")(np.zeros((8, 8)), rng=0), np.zeros((8, 8)))


def test_poisson_signal_reading_at_table_iv_is_photon_noise_with_peak_5() -> None:
    clean = np.random.default_rng(1).uniform(0, 1, (64, 64))
    got = parse_noise("poisson(p=0.2,lam=5)")(clean, rng=8)
    expected = np.clip(np.random.default_rng(8).poisson(5 * clean) / 5, 0, 1)
    np.testing.assert_allclose(got, expected, atol=1e-12)
