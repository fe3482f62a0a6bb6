"""Low-dose CT: projector and FBP accuracy, the 1/dose law, units and dose bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from meddenoise.noise import NoiseSpecError, parse_noise
from meddenoise.noise.ct import back_project, fbp, forward_project

SIZE = 128


def _phantom(size: int = SIZE) -> np.ndarray:
    """Water cylinder (0 HU) in air with a bone insert (1000 HU) and a lung-like insert (-700 HU)."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    hu = np.full((size, size), -1000.0)
    hu[xx**2 + yy**2 < (0.42 * size) ** 2] = 0.0
    hu[(xx - 0.15 * size) ** 2 + yy**2 < (0.06 * size) ** 2] = 1000.0
    hu[(xx + 0.18 * size) ** 2 + (yy - 0.1 * size) ** 2 < (0.08 * size) ** 2] = -700.0
    return hu


def _centre_mask(size: int = SIZE) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return (np.abs(xx) < 0.1 * size) & (np.abs(yy) < 0.25 * size) & (np.abs(yy) > 0.05 * size)


def test_fbp_inverts_the_forward_projection() -> None:
    image = np.zeros((SIZE, SIZE))
    image[30:50, 70:100] = 1.0  # off-centre and asymmetric: catches a wrong rotation of half the views
    image[80:110, 20:40] = 0.5
    recon = fbp(forward_project(image, 180), SIZE)
    assert recon[35:45, 75:95].mean() == pytest.approx(1.0, abs=0.03)
    assert recon[85:105, 25:35].mean() == pytest.approx(0.5, abs=0.03)
    assert abs(recon[60:75, 50:65].mean()) < 0.02


def test_forward_projection_of_a_disc_is_its_chord_length() -> None:
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    disc = (xx**2 + yy**2 < 40**2).astype(float)
    sinogram = forward_project(disc, 36)
    bins = np.arange(sinogram.shape[1]) - (sinogram.shape[1] - 1) / 2
    chord = 2 * np.sqrt(np.clip(40**2 - bins**2, 0, None))
    core = np.abs(bins) < 30
    assert np.abs(sinogram[:, core] - chord[core]).mean() < 0.01 * 80
    assert sinogram.sum(axis=1) == pytest.approx(np.full(36, disc.sum()))


def test_back_projection_is_close_to_the_adjoint() -> None:
    gen = np.random.default_rng(0)
    image, sino = gen.uniform(size=(64, 64)), gen.uniform(size=forward_project(np.zeros((64, 64)), 40).shape)
    lhs = np.sum(forward_project(image, 40) * sino)
    rhs = np.sum(image * back_project(sino, 64))
    assert lhs == pytest.approx(rhs, rel=0.005)


def test_noise_variance_scales_as_one_over_dose() -> None:
    hu = _phantom()
    mask = _centre_mask()
    variances = {}
    for dose in (1.0, 0.5, 0.25, 0.1):
        model = parse_noise(f"lowdose-ct(dose={dose},angles=180)")
        noise = np.stack([model(hu, rng=seed) - hu for seed in range(3)])
        variances[dose] = noise[:, mask].var()
    for dose in (0.5, 0.25, 0.1):
        assert variances[dose] / variances[1.0] == pytest.approx(1.0 / dose, rel=0.15)


def test_noise_is_unbiased_and_structure_is_kept() -> None:
    hu = _phantom()
    noisy = parse_noise("lowdose-ct(dose=0.25,angles=180)")(hu, rng=1)
    mask = _centre_mask()
    assert abs((noisy - hu)[mask].mean()) < 0.2 * (noisy - hu)[mask].std()
    # the noise is spatially correlated (FBP ramp texture), not white: neighbours anti-correlate
    noise = (noisy - hu)[20:108, 20:108]
    corr = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert abs(corr) > 0.05


def _mean_frequency(noise: np.ndarray) -> float:
    """Power-weighted mean radial frequency (cycles/pixel) of a noise image."""
    power = np.abs(np.fft.fft2(noise - noise.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(noise.shape[0]), np.fft.fftfreq(noise.shape[1]), indexing="ij")
    return float((np.hypot(fy, fx) * power).sum() / power.sum())


def test_a_lower_kernel_cutoff_makes_coarser_weaker_noise() -> None:
    hu = _phantom()
    mask = _centre_mask()
    crop = (slice(30, 98), slice(30, 98))
    found = {}
    for cutoff in (1.0, 0.6, 0.3):
        model = parse_noise(f"lowdose-ct(dose=0.25,angles=180,filter=hann,cutoff={cutoff})")
        noise = model(hu, rng=5) - hu
        found[cutoff] = (_mean_frequency(noise[crop]), noise[mask].std())
    assert found[1.0][0] > found[0.6][0] > found[0.3][0]
    # the same photons through a narrower band: less variance (the ramp's high frequencies are gone)
    assert found[1.0][1] > found[0.6][1] > found[0.3][1]


def test_a_cutoff_zeroes_the_filter_above_it_and_full_band_is_the_plain_window() -> None:
    from meddenoise.noise.ct import ramp_filter

    full = ramp_filter(256, "hann")
    np.testing.assert_array_equal(ramp_filter(256, "hann", 1.0), full)
    half = ramp_filter(256, "hann", 0.5)
    freq = np.abs(np.fft.fftfreq(half.size))  # cycles per bin; Nyquist = 0.5
    assert np.all(half[freq > 0.25 + 1e-9] == 0.0)
    assert np.all(half[(freq > 0) & (freq < 0.2)] > 0.0)
    # below the cutoff the window is stretched: hann(0.5) passes at a quarter of Nyquist (half its band)
    # what hann passes at half Nyquist (relative to the ramp, which the cutoff does not stretch)
    ramp = ramp_filter(256, "ramp")
    quarter, middle = np.argmin(np.abs(freq - 0.125)), np.argmin(np.abs(freq - 0.25))
    assert half[quarter] / ramp[quarter] == pytest.approx(full[middle] / ramp[middle], rel=1e-6)
    with pytest.raises(ValueError, match="cutoff"):
        ramp_filter(256, "hann", 0.0)


def test_more_electronic_noise_means_more_noise_at_low_dose() -> None:
    hu = _phantom()
    mask = _centre_mask()
    quiet = parse_noise("lowdose-ct(dose=0.05,i0=20000,electronic=0)")(hu, rng=2) - hu
    loud = parse_noise("lowdose-ct(dose=0.05,i0=20000,electronic=40)")(hu, rng=2) - hu
    assert loud[mask].var() > 1.3 * quiet[mask].var()


def test_simulated_view_count_keeps_the_dose() -> None:
    hu = _phantom()
    mask = _centre_mask()
    few = np.stack([parse_noise("lowdose-ct(dose=0.25,angles=90)")(hu, rng=s) - hu for s in range(3)])
    many = np.stack([parse_noise("lowdose-ct(dose=0.25,angles=360)")(hu, rng=s) - hu for s in range(3)])
    assert few[:, mask].var() == pytest.approx(many[:, mask].var(), rel=0.2)


def test_unit_images_map_through_the_hu_window() -> None:
    hu = _phantom()
    lo, hi = -1000.0, 1000.0
    unit = (hu - lo) / (hi - lo)
    in_hu = parse_noise("lowdose-ct(dose=0.25,angles=90)")(hu, rng=3)
    in_unit = parse_noise("lowdose-ct(dose=0.25,angles=90,units=unit,hu_lo=-1000,hu_hi=1000)")(unit, rng=3)
    np.testing.assert_allclose(in_unit, np.clip((in_hu - lo) / (hi - lo), 0, 1), atol=1e-9)


def test_batches_are_processed_slice_by_slice_and_non_square_slices_work() -> None:
    hu = _phantom()[:, 10:110]
    batch = np.stack([hu, hu])
    noisy = parse_noise("lowdose-ct(dose=0.5,angles=64)")(batch.astype(np.float32), rng=4)
    assert noisy.shape == batch.shape and noisy.dtype == np.float32
    assert not np.allclose(noisy[0], noisy[1])


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("lowdose-ct(dose=0)", "in (0, 1]"),
        ("lowdose-ct(dose=0.5,angles=91)", "must be even"),
        ("lowdose-ct(dose=0.5,hu_lo=100,hu_hi=0)", "hu_hi must be greater"),
        ("lowdose-ct(dose=0.5,cutoff=0)", "in (0, 1]"),
        ("lowdose-ct(dose=0.5,cutoff=1.5)", "in (0, 1]"),
    ],
)
def test_bad_ct_parameters(spec, fragment) -> None:
    with pytest.raises(NoiseSpecError, match=None) as info:
        parse_noise(spec)
    assert fragment in str(info.value)


def test_a_single_row_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        parse_noise("lowdose-ct(dose=0.5)")(np.zeros(16))


def test_a_dicom_gives_its_pixel_spacing_unless_the_spec_sets_one() -> None:
    from pathlib import Path

    from pydicom.data import get_testdata_file

    from meddenoise.io import read_image
    from meddenoise.noise.files import noise_image

    image = read_image(Path(get_testdata_file("CT_small.dcm")))  # PixelSpacing 0.661468 mm
    assert image.meta.pixel_spacing == pytest.approx((0.661468, 0.661468))
    hu = image.pixels.astype(np.float64)
    noisy = noise_image(image, "lowdose-ct(dose=0.25)", rng=3)
    own = parse_noise("lowdose-ct(dose=0.25,pixel_mm=0.661468)")(hu, rng=3)
    np.testing.assert_allclose(noisy, own.astype(np.float32), rtol=1e-6)
    assumed = parse_noise("lowdose-ct(dose=0.25)")(hu, rng=3)  # 0.7 mm: a different scan
    assert np.abs(noisy - assumed.astype(np.float32)).max() > 1.0
    told = noise_image(image, "lowdose-ct(dose=0.25,pixel_mm=0.5)", rng=3)
    np.testing.assert_allclose(told, parse_noise("lowdose-ct(dose=0.25,pixel_mm=0.5)")(hu, rng=3), rtol=1e-5)
