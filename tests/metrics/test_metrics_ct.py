"""CT image-quality measures on phantoms with known answers (meddenoise.metrics.ct)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import erf

from meddenoise.metrics import HIGHER_IS_BETTER, METRICS
from meddenoise.metrics.ct import (
    edge_gradient_ratio,
    edge_mtf,
    error_nps_peak_shift,
    error_texture_distance,
    flat_rois,
    hu_bias,
    noise_power_spectrum,
    nps_texture_distance,
    residual_structure,
    routine_dose_faithfulness,
    strong_edges,
)


def test_white_noise_has_a_flat_nps_whose_integral_is_the_variance() -> None:
    rng = np.random.default_rng(0)
    rois = rng.normal(0.0, 12.0, (200, 32, 32))
    result = noise_power_spectrum(rois, pixel_mm=0.7)
    # the integral equals the mean sample variance of the mean-subtracted ROIs exactly (Parseval)
    assert result.variance == pytest.approx(float(np.mean([r.var() for r in rois])), rel=1e-9)
    assert result.variance == pytest.approx(144.0, rel=5 * math.sqrt(2 / rois.size))
    # flat: each radial bin beyond DC at var * dx^2, within 5 standard errors of its average
    expected = 144.0 * 0.7**2
    assert np.abs(result.radial[2:] / expected - 1).max() < 0.1
    # frequency axis: bins of 1 / (N dx) up to Nyquist 1 / (2 dx)
    assert result.frequencies[1] == pytest.approx(1 / (32 * 0.7))
    assert result.frequencies[-1] == pytest.approx(1 / (2 * 0.7))
    # white: mean frequency = mean |f| over the grid, every frequency weighted equally (DC removed)
    f = np.fft.fftfreq(32, d=0.7)
    radius = np.hypot(*np.meshgrid(f, f))
    assert result.mean_frequency == pytest.approx(radius.sum() / (radius.size - 1), rel=0.02)


def test_nps_peaks_at_the_frequency_of_the_noise_texture() -> None:
    rng = np.random.default_rng(1)
    x = np.arange(64) * 0.5  # mm
    f0 = 8 / (64 * 0.5)  # cycles/mm, on the grid
    rois = [np.cos(2 * np.pi * f0 * x + rng.uniform(0, 2 * np.pi))[None, :].repeat(64, 0) for _ in range(4)]
    assert noise_power_spectrum(rois, pixel_mm=0.5).peak_frequency == pytest.approx(f0)
    # blurring white noise ("plastic" texture) moves the mean frequency down
    white = rng.normal(size=(20, 64, 64))
    blurred = np.stack([ndimage.gaussian_filter(r, 1.5) for r in white])
    assert (
        noise_power_spectrum(blurred, pixel_mm=0.5).mean_frequency
        < 0.5 * noise_power_spectrum(white, pixel_mm=0.5).mean_frequency
    )


@pytest.mark.parametrize("cut", [0.1, 0.25, 0.5])
def test_nps_bands_partition_the_variance_and_weigh_white_noise_by_their_area(cut: float) -> None:
    rng = np.random.default_rng(3)
    rois = rng.normal(0.0, 10.0, (100, 32, 32))
    nps = noise_power_spectrum(rois, pixel_mm=0.7)
    low, high = nps.band_std(0.0, cut), nps.band_std(cut)
    assert low**2 + high**2 == pytest.approx(nps.variance, rel=1e-12)
    assert nps.band_std() ** 2 == pytest.approx(nps.variance, rel=1e-12)
    # white noise: each band's variance is its share of the grid's frequencies (DC removed by detrending)
    f = np.fft.fftfreq(32, d=0.7)
    radius = np.hypot(*np.meshgrid(f, f))
    share = ((radius > 0) & (radius < cut)).sum() / (radius.size - 1)
    assert low**2 / nps.variance == pytest.approx(share, abs=0.03)


def test_blurred_noise_moves_its_power_to_the_coarse_band() -> None:
    rng = np.random.default_rng(4)
    white = rng.normal(0.0, 10.0, (40, 64, 64))
    blurred = np.stack([ndimage.gaussian_filter(r, 2.0) for r in white])
    share = [
        noise_power_spectrum(x, pixel_mm=0.5).band_std(0.0, 0.15) ** 2 / x.var() for x in (white, blurred)
    ]
    assert share[1] > 3 * share[0]


def test_nps_texture_distance_ignores_magnitude_and_grows_with_blur() -> None:
    rng = np.random.default_rng(5)
    white = rng.normal(0.0, 10.0, (60, 32, 32))
    reference = noise_power_spectrum(white, pixel_mm=0.7)
    assert nps_texture_distance(reference, reference) == 0.0
    # the same texture at a third of the std (another draw): only estimation noise apart
    weaker = noise_power_spectrum(rng.normal(0.0, 10.0 / 3, (60, 32, 32)), pixel_mm=0.7)
    assert nps_texture_distance(weaker, reference) < 0.05
    assert nps_texture_distance(weaker, reference) == pytest.approx(nps_texture_distance(reference, weaker))
    # blurring moves the variance to low frequencies: the more blur, the farther from the white texture
    distances = [
        nps_texture_distance(
            noise_power_spectrum(np.stack([ndimage.gaussian_filter(r, s) for r in white]), pixel_mm=0.7),
            reference,
        )
        for s in (0.5, 1.0, 2.0)
    ]
    assert 0.05 < distances[0] < distances[1] < distances[2] < 1.0


def test_nps_texture_distance_of_noises_without_a_common_frequency_is_one() -> None:
    x = np.arange(32)
    low = np.cos(2 * np.pi * 3 * x / 32)[None, :].repeat(32, 0)  # 3 cycles per ROI
    high = np.cos(2 * np.pi * 9 * x / 32)[:, None].repeat(32, 1)  # 9, along the other axis
    a, b = noise_power_spectrum(low, pixel_mm=0.5), noise_power_spectrum(high, pixel_mm=0.5)
    assert nps_texture_distance(a, b) == pytest.approx(1.0)
    # half of each: half the variance in a common annulus
    assert nps_texture_distance(noise_power_spectrum(low + high, pixel_mm=0.5), b) == pytest.approx(0.5)
    assert math.isnan(nps_texture_distance(noise_power_spectrum(np.zeros((32, 32)), pixel_mm=0.5), b))
    with pytest.raises(ValueError, match="pixel size"):
        nps_texture_distance(a, noise_power_spectrum(low, pixel_mm=0.7))


def test_plane_detrending_removes_a_ramp() -> None:
    rng = np.random.default_rng(2)
    ramp = np.add.outer(np.arange(32.0), np.arange(32.0)) * 5
    rois = ramp + rng.normal(0, 1.0, (50, 32, 32))
    assert noise_power_spectrum(rois, detrend="plane").variance == pytest.approx(1.0, rel=0.05)
    assert noise_power_spectrum(rois, detrend="mean").variance > 100
    with pytest.raises(ValueError, match="square"):
        noise_power_spectrum(np.zeros((3, 8, 9)))


@pytest.mark.parametrize(("sigma_mm", "pixel_mm"), [(0.8, 0.5), (1.2, 0.7), (0.6, 0.35)])
def test_mtf50_of_a_gaussian_blurred_edge(sigma_mm: float, pixel_mm: float) -> None:
    x = (np.arange(96) - 47.5) * pixel_mm
    esf = 1000 * (1 + erf(x / (sigma_mm * math.sqrt(2)))) / 2 - 1000
    roi = np.tile(esf, (20, 1))
    expected = math.sqrt(math.log(2) / 2) / (math.pi * sigma_mm)
    assert edge_mtf(roi, pixel_mm=pixel_mm).mtf50 == pytest.approx(expected, rel=0.01)
    # the same edge turned 90 degrees and falling instead of rising
    assert edge_mtf(roi.T[::-1], pixel_mm=pixel_mm).mtf50 == pytest.approx(expected, rel=0.01)


def _phantom() -> np.ndarray:
    """A body in HU: fat -100, a soft-tissue organ 50, a bone 1000, in air."""
    yy, xx = np.mgrid[:128, :128] - 63.5
    hu = np.where(xx**2 + yy**2 < 60**2, -100.0, -1000.0)
    hu[xx**2 + (yy / 0.7) ** 2 < 35**2] = 50.0
    hu[(xx - 10) ** 2 + yy**2 < 8**2] = 1000.0
    return hu


def test_gradient_ratio_of_a_scaled_and_of_a_blurred_image() -> None:
    ref = _phantom()
    assert edge_gradient_ratio(ref, ref) == pytest.approx(1.0)
    assert edge_gradient_ratio(0.9 * ref, ref) == pytest.approx(0.9)
    assert edge_gradient_ratio(ndimage.gaussian_filter(ref, 2.0), ref) < 0.7


def test_gradient_ratio_does_not_count_noise_as_edge_strength() -> None:
    ref = _phantom()
    edges = strong_edges(ref)
    magnitude = ndimage.gaussian_gradient_magnitude
    ratios, excess = [], []
    for seed in range(12):
        noisy = ref + np.random.default_rng(seed).normal(0, 150, ref.shape)
        ratio = edge_gradient_ratio(noisy, ref)
        ratios.append(ratio)
        # the unprojected sum |grad noisy| / sum |grad ref| reads the noise as sharper edges
        excess.append(magnitude(noisy, 1.0)[edges].sum() / magnitude(ref, 1.0)[edges].sum() - ratio)
    # unbiased: the mean over draws is 1 within 5 standard errors; |grad| lies above it beyond 5 of its own
    mean, error = np.mean(ratios), np.std(ratios, ddof=1) / np.sqrt(len(ratios))
    assert abs(mean - 1.0) < 5 * error
    assert np.mean(excess) > 5 * np.std(excess, ddof=1) / np.sqrt(len(excess))
    # blur still shows through the noise
    blurred_noisy = ndimage.gaussian_filter(ref, 1.5) + np.random.default_rng(99).normal(0, 150, ref.shape)
    assert edge_gradient_ratio(blurred_noisy, ref) < 0.85


def test_hu_bias_is_the_exact_shift_in_each_tissue_band() -> None:
    ref = _phantom()
    shifted = ref + 7.0
    assert hu_bias(shifted, ref, band="soft") == pytest.approx(7.0)
    fat_only = ref + np.where(ref == -100.0, -4.0, 0.0)
    assert hu_bias(fat_only, ref, band="fat") == pytest.approx(-4.0)
    assert hu_bias(fat_only, ref, band="soft") == pytest.approx(0.0)
    assert METRICS["hu_bias_soft"](shifted, ref, data_range=1.0) == pytest.approx(7.0)
    assert METRICS["hu_bias_soft_core"](shifted, ref, data_range=1.0) == pytest.approx(7.0)


def test_core_hu_bias_tells_blur_at_tissue_borders_from_a_level_shift() -> None:
    # a soft-tissue bar 20 px wide in fat: blur pulls its border pixels towards fat, not its core
    ref = np.full((96, 96), -100.0)
    ref[:, 38:58] = 50.0
    blurred = ndimage.gaussian_filter(ref, 2.0)
    assert hu_bias(blurred, ref, band="soft") < -1.0
    assert abs(METRICS["hu_bias_soft_core"](blurred, ref, data_range=1.0)) < 0.05
    assert hu_bias(blurred, ref, band="soft", erode=6) == METRICS["hu_bias_soft_core"](
        blurred, ref, data_range=1
    )
    # a shift of the level is seen in the core too, and a thin bar has no core
    assert METRICS["hu_bias_soft_core"](blurred + 3.0, ref, data_range=1.0) == pytest.approx(3.0, abs=0.05)
    thin = np.full((96, 96), -100.0)
    thin[:, 42:54] = 50.0
    assert math.isnan(METRICS["hu_bias_soft_core"](thin + 3.0, thin, data_range=1.0))
    assert hu_bias(thin + 3.0, thin, band="soft") == pytest.approx(3.0)
    with pytest.raises(ValueError, match="erode"):
        hu_bias(ref, ref, erode=0)


def test_residual_structure_tells_removed_noise_from_removed_anatomy() -> None:
    rng = np.random.default_rng(3)
    clean = _phantom()
    noisy = clean + rng.normal(0, 20, clean.shape)
    assert abs(residual_structure(clean, noisy)) < 0.15  # only noise removed
    assert residual_structure(ndimage.gaussian_filter(noisy, 2.0), noisy) > 0.5  # edges removed too
    assert residual_structure(noisy, noisy) == 0.0
    assert not HIGHER_IS_BETTER["residual_structure"] and HIGHER_IS_BETTER["gradient_ratio"]


def test_routine_dose_faithfulness_of_known_outputs() -> None:
    rng = np.random.default_rng(4)
    clean = _phantom()
    scan = clean + rng.normal(0, 15, clean.shape)
    shifted = routine_dose_faithfulness(scan + 5.0, scan)
    assert shifted.shift_soft == pytest.approx(5.0) and shifted.shift_fat == pytest.approx(5.0)
    assert shifted.gradient_ratio == pytest.approx(1.0) and shifted.noise_reduction == pytest.approx(0.0)
    # the output's noise halved everywhere: 50 % less noise in the flat tiles
    half = clean + 0.5 * (scan - clean)
    assert routine_dose_faithfulness(half, scan).noise_reduction == pytest.approx(0.5, abs=0.03)
    assert routine_dose_faithfulness(clean, scan).tiles > 5


def test_flat_rois_stay_inside_the_band() -> None:
    ref = _phantom()
    rois = flat_rois(ref, size=16, band=(-200, 300))
    assert rois and all((ref[r : r + 16, c : c + 16] < 300).all() for r, c in rois)
    assert all((ref[r : r + 16, c : c + 16] > -200).all() for r, c in rois)
    assert len(flat_rois(ref, size=16, limit=2)) == 2


def _kernel_noise(shape: tuple[int, int], std: float, seed: int = 0) -> np.ndarray:
    """Noise like a CT kernel's: white noise blurred by a Gaussian of 1 px, scaled to ``std`` HU."""
    blurred = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), 1.0)
    return std * blurred / blurred.std()


def test_error_texture_is_compared_with_the_added_noise_in_flat_tissue() -> None:
    ref = _phantom()
    noise = _kernel_noise(ref.shape, 20.0)
    noisy = ref + noise
    assert len(flat_rois(ref)) >= 2
    # the input itself, and any share of its noise: the added noise's texture exactly, peak unmoved
    for output in (noisy, ref + 0.4 * noise):
        assert error_texture_distance(output, ref, noisy) == pytest.approx(0.0, abs=1e-9)
        assert error_nps_peak_shift(output, ref, noisy) == pytest.approx(0.0)
    # a blotchy residual (the noise blurred by 2 px): far from the noise's texture, its peak lower
    blotchy = ref + ndimage.gaussian_filter(noise, 2.0)
    assert error_texture_distance(blotchy, ref, noisy) > 0.3
    assert error_nps_peak_shift(blotchy, ref, noisy) < 0
    # only the fine grain left (the noise minus its 1.5-px low-pass): the peak moves up
    grainy = ref + noise - ndimage.gaussian_filter(noise, 1.5)
    assert error_nps_peak_shift(grainy, ref, noisy) > 0
    # half of each: between the two
    assert (
        0.0
        < error_texture_distance(ref + 0.5 * noise + 0.5 * ndimage.gaussian_filter(noise, 2.0), ref, noisy)
        < error_texture_distance(blotchy, ref, noisy)
    )


def test_error_texture_without_error_or_flat_tissue_is_nan() -> None:
    ref = _phantom()
    noisy = ref + _kernel_noise(ref.shape, 20.0)
    assert math.isnan(error_texture_distance(ref, ref, noisy))  # a perfect output leaves no noise
    assert math.isnan(error_nps_peak_shift(ref, ref, noisy))
    air = np.full((128, 128), -1000.0)
    assert math.isnan(error_texture_distance(air + 5.0, air, air + 10.0))  # no fat or soft tissue
    with pytest.raises(ValueError, match="noisy image"):
        error_texture_distance(noisy, ref, noisy[:64])


def test_the_noise_texture_metrics_read_the_noisy_input_in_hu() -> None:
    from meddenoise.evaluation import Score, score_images

    ref = _phantom()
    noise = _kernel_noise(ref.shape, 20.0, seed=1)
    blotchy_hu = ref + ndimage.gaussian_filter(noise, 2.0)
    low, high = -1024.0, 3071.0

    def unit(hu: np.ndarray) -> np.ndarray:
        return ((hu - low) / (high - low)).astype(np.float32)

    scores = [Score(name, to_units=(low, high)) for name in ("nps_distance", "nps_peak_shift")]
    values = score_images(unit(ref), unit(blotchy_hu), scores, noisy=unit(ref + noise))
    # the same as in HU directly (the noisy input mapped like the pair; float32 rounding aside)
    assert values["nps_distance"][0] == pytest.approx(
        error_texture_distance(blotchy_hu, ref, ref + noise), abs=1e-3
    )
    assert values["nps_peak_shift"][0] == pytest.approx(error_nps_peak_shift(blotchy_hu, ref, ref + noise))
    assert not HIGHER_IS_BETTER["nps_distance"] and "nps_peak_shift" in METRICS
    with pytest.raises(ValueError, match="give the noisy input"):
        score_images(unit(ref), unit(blotchy_hu), scores)
