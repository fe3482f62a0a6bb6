"""Noise std from flat regions (`estimate_noise_std`): white, correlated and real CT noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter

from meddenoise.data import mni152_path
from meddenoise.noise import (
    estimate_noise_std,
    estimate_noise_std_per_slice,
    estimate_sigma,
    parse_noise,
)
from meddenoise.noise.estimate import _cell_sums


def _smooth(size: int = 256) -> np.ndarray:
    """A smooth image on the 0-255 scale (shading and slow waves, no edges)."""
    yy, xx = np.mgrid[:size, :size] / size
    return 100 + 80 * np.sin(3 * xx) * np.cos(2 * yy) + 30 * xx


def _piecewise(size: int = 256) -> np.ndarray:
    """A piecewise-constant image on the 0-255 scale: a disc and a band on a background."""
    yy, xx = np.mgrid[:size, :size] / size
    return 60 + 100 * (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.1) + 40 * (xx > 0.7)


def _ridges(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Noise-free anatomy-like structure with no flat spot: 300 thin random ridges (vessels, sulci)
    blurred by a Gaussian of 1.5 px, on slow shading."""
    ridges = np.zeros((size, size))
    for _ in range(300):
        y0, x0 = rng.uniform(0, size, 2)
        angle, length = rng.uniform(0, np.pi), rng.uniform(10, 60)
        t = np.linspace(0, length, int(4 * length))
        rows = np.clip((y0 + t * np.sin(angle)).astype(int), 0, size - 1)
        cols = np.clip((x0 + t * np.cos(angle)).astype(int), 0, size - 1)
        ridges[rows, cols] += rng.uniform(0.5, 1.0)
    yy, xx = np.mgrid[:size, :size]
    return 100 * (gaussian_filter(ridges, 1.5) + 0.2 * np.sin(xx / 40) * np.cos(yy / 50))


def _correlated(rng: np.random.Generator, shape: tuple[int, int], width: float) -> np.ndarray:
    """Unit-std Gaussian noise blurred by a Gaussian of std ``width`` pixels (spatially correlated)."""
    noise = gaussian_filter(rng.normal(0.0, 1.0, shape), width)
    return noise / noise.std()


@pytest.mark.parametrize("image", [_smooth, _piecewise], ids=["smooth", "piecewise"])
@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_white_noise_level_is_recovered(image, sigma, rng) -> None:
    clean = image()
    assert estimate_noise_std(clean + rng.normal(0, sigma, clean.shape)) == pytest.approx(sigma, rel=0.06)


def test_clean_images_read_near_zero() -> None:
    assert estimate_noise_std(_smooth()) < 0.5  # 0-255 scale
    assert estimate_noise_std(_piecewise()) == 0.0  # mostly exactly constant
    assert estimate_noise_std(np.full((64, 64), 7.0)) == 0.0


def test_smooth_structure_without_a_flat_spot_reads_near_zero(rng) -> None:
    # Every 16x16 window holds ridge flanks, whose detrended residual passes for strongly correlated
    # noise (the estimator read 2-5 % of the range before its finest-scale check); the finest diagonal
    # differences of such windows are sparse, not Gaussian.
    clean = _ridges(rng)
    assert estimate_noise_std(clean) < 0.002 * np.ptp(clean)


def test_white_noise_on_a_masked_image_reads_its_std(rng) -> None:
    # A skull-stripped image: structure in a disc, exactly 0 outside, white noise added to all of it.
    # The background carries the same noise as the disc, so it is not ignored as a quiet one, and the
    # disc's finest differences hold more noise than the correlated reading of its windows allows (the
    # old estimator ignored the background and read the ridges: 2.4-3.5x the true std).
    yy, xx = np.mgrid[:256, :256] - 127.5
    masked = np.where(xx**2 + yy**2 < 100**2, _ridges(rng) + 20, 0.0)
    sigma = 0.02 * np.ptp(masked)
    assert estimate_noise_std(masked + rng.normal(0, sigma, masked.shape)) == pytest.approx(sigma, rel=0.05)


@pytest.fixture(scope="module")
def mni152_axial() -> np.ndarray:
    """The MNI152 T1 template (nilearn) as axial slices ``(z, y, x)``, in its own units."""
    path = mni152_path()
    if path is None:
        pytest.skip("nilearn's MNI152 template is absent: pip install 'meddenoise[mri]'")
    from meddenoise.io import read_image

    return read_image(path, slice_axis=2).pixels.astype(np.float64)


#: Axial slices of the mri model's held-apart slab z=70..89 (scripts/train_pretrained.py).
MNI152_HELD_APART = [70, 80, 89]


@pytest.mark.parametrize("z", MNI152_HELD_APART)
def test_clean_mni152_slices_read_near_zero(mni152_axial, z) -> None:
    # A noise-free template: the old estimator read its smooth anatomy as 3-5 % of the range of noise.
    clean = mni152_axial[z]
    assert estimate_noise_std(clean) < 0.01 * np.ptp(clean)


@pytest.mark.parametrize("z", MNI152_HELD_APART)
def test_white_noise_on_mni152_slices_reads_its_std(mni152_axial, z) -> None:
    clean = mni152_axial[z]
    span = float(np.ptp(clean))
    rng = np.random.default_rng(z)
    # the whole slice: read in the background, which carries the same noise (old: 2-6x the true std)
    for fraction, tolerance in [(0.01, 0.05), (0.02, 0.10)]:
        sigma = fraction * span
        noisy = clean + rng.normal(0, sigma, clean.shape)
        assert estimate_noise_std(noisy) == pytest.approx(sigma, rel=tolerance)
    # the brain alone, no background: read at the finest scale (old: 1.7-2.3x the true std)
    brain = clean[50:150, 60:175]
    assert brain.min() > 0
    sigma = 0.02 * span
    assert estimate_noise_std(brain + rng.normal(0, sigma, brain.shape)) == pytest.approx(sigma, rel=0.15)


@pytest.mark.parametrize("width", [0.7, 1.0, 1.5])
def test_correlated_noise_reads_its_full_std(width, rng) -> None:
    noise = 20 * _correlated(rng, (512, 512), width)
    clean = np.kron(_smooth(), np.ones((2, 2)))
    estimate = estimate_noise_std(clean + noise)
    assert estimate == pytest.approx(20, rel=0.12)
    # the finest wavelet band sees only part of correlated noise: this is why the estimator exists
    assert estimate_sigma(clean + noise) < 0.75 * 20


def test_lowdose_ct_noise_in_a_water_phantom(rng) -> None:
    yy, xx = np.mgrid[:256, :256] - 127.5
    phantom = np.where(xx**2 + yy**2 < 110**2, 40.0, -1000.0)  # water-like disc in air, HU
    phantom[(xx - 30) ** 2 + (yy + 20) ** 2 < 25**2] = 200.0
    noisy = parse_noise("lowdose-ct(dose=0.25)")(phantom, rng=1)
    inside = xx**2 + yy**2 < 100**2
    true_std = float((noisy - phantom)[inside].std())  # ~12 HU; correlated and non-stationary
    assert estimate_noise_std(noisy) == pytest.approx(true_std, rel=0.15)


def test_padding_clipping_and_quiet_background_are_ignored(rng) -> None:
    """CT-like: padding at -3024 in the corners, air (clipped at -1024, less noisy) around tissue."""
    yy, xx = np.mgrid[:256, :256] - 127.5
    radius2 = xx**2 + yy**2
    image = np.where(radius2 < 90**2, 40.0, -1000.0)
    noise = np.where(radius2 < 90**2, 15.0, 3.0) * _correlated(rng, image.shape, 0.8)
    image = np.maximum(image + noise, -1024.0)
    image[radius2 > 127**2] = -3024.0
    assert estimate_noise_std(image) == pytest.approx(15.0, rel=0.12)


def test_units_scale_and_offset(rng) -> None:
    noisy = _smooth() + rng.normal(0, 10, (256, 256))
    base = estimate_noise_std(noisy)
    assert estimate_noise_std(noisy / 255.0) == pytest.approx(base / 255.0, rel=1e-6)
    assert estimate_noise_std(noisy + 1000.0) == pytest.approx(base, rel=1e-6)


def test_stacks_are_estimated_per_slice(rng) -> None:
    clean = np.stack([_smooth(128)] * 3)
    sigmas = np.array([2.0, 10.0, 30.0])
    noisy = clean + rng.normal(0, 1, clean.shape) * sigmas[:, None, None]
    per_slice = estimate_noise_std_per_slice(noisy)
    np.testing.assert_allclose(per_slice, sigmas, rtol=0.1)
    assert estimate_noise_std(noisy) == pytest.approx(per_slice.mean())
    assert estimate_noise_std_per_slice(noisy[0]).shape == (1,)


def test_small_images_and_odd_sizes(rng) -> None:
    assert estimate_noise_std(100 + rng.normal(0, 5, (40, 37))) == pytest.approx(5, rel=0.15)
    assert estimate_noise_std(100 + rng.normal(0, 5, (9, 9))) > 0
    tiny = 100 + rng.normal(0, 5, (3, 5))
    assert 0 < estimate_noise_std(tiny) < 15  # a detrended std of the few pixels there are


@pytest.mark.parametrize(
    "bad", [np.zeros(5), np.zeros((2, 2, 2, 2)), np.zeros((1, 8)), np.full((16, 16), np.nan)]
)
def test_bad_input_is_rejected(bad) -> None:
    with pytest.raises(ValueError, match="estimate_noise_std"):
        estimate_noise_std(bad)


# Hand-placed 30x30 ROIs in flat soft tissue of real chest CT (TCGA-LUAD), (top row, left column) and
# the ROI's std in HU (ddof=1), as documented in docs/noise.md. The reference of a slice is the median
# of its ROIs' stds.
CT_ROIS: dict[str, list[tuple[int, int, float]]] = {
    "ID_0047": [(156, 81, 13.8), (374, 178, 12.1), (374, 280, 13.0)],  # liver, paraspinal muscles
    "ID_0064": [(242, 202, 10.0), (236, 244, 12.0)],  # ascending aorta, pulmonary trunk
    "ID_0008": [(276, 20, 8.2), (348, 318, 12.5), (277, 476, 10.0)],  # shoulder, paraspinal, deltoid
    "ID_0004": [(142, 256, 27.9), (292, 267, 35.5)],  # heart (contrast), descending aorta
    "ID_0014": [(188, 110, 50.2), (242, 102, 50.1)],  # pleural effusion
    "ID_0000": [(408, 190, 26.1), (236, 226, 21.3)],  # paraspinal muscle, pulmonary artery
    "ID_0091": [(254, 260, 54.7)],  # mediastinum
}


@pytest.mark.data
def test_real_ct_noise_matches_flat_tissue_rois(shared_data: Path) -> None:
    from meddenoise.io import read_image

    folder = shared_data / "chest-ct-dicom"
    ratios, wavelet_ratios = [], []
    for key, rois in CT_ROIS.items():
        (path,) = folder.glob(f"{key}_*.dcm")
        pixels = read_image(path).pixels.astype(np.float64)
        stds = [float(pixels[r : r + 30, c : c + 30].std(ddof=1)) for r, c, _ in rois]
        np.testing.assert_allclose(stds, [s for _, _, s in rois], atol=0.06)  # the documented ROIs
        reference = float(np.median(stds))
        ratios.append(estimate_noise_std(pixels) / reference)
        wavelet_ratios.append(estimate_sigma(pixels) / reference)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.15)
    assert min(ratios) > 0.4 and max(ratios) < 1.4  # noise varies inside a slice: see docs/noise.md
    assert np.median(wavelet_ratios) < 0.5  # the white-noise estimator reads real CT far too low


@pytest.mark.parametrize("size", [4, 7, 8, 16])
def test_window_detrending_is_the_least_squares_plane_residual(size, rng) -> None:
    # The closed form (mean + one slope per axis) must equal the projection onto the orthogonal
    # complement of {1, row, column} that the correlation tables are built with.
    from meddenoise.noise.estimate import _detrended, _plane_projector

    windows = 40 * rng.standard_normal((30, size * size)) + 7
    expected = windows @ _plane_projector(size)
    np.testing.assert_allclose(_detrended(windows, size).reshape(30, -1), expected, atol=1e-9)
    # a pure plane leaves nothing
    r, c = np.mgrid[:size, :size]
    plane = (3.0 + 0.5 * r - 2.0 * c).ravel()[None]
    np.testing.assert_allclose(_detrended(plane, size), 0.0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    cell=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_cell_sums_are_the_sums_of_the_whole_tiles(rows: int, cols: int, cell: int, seed: int) -> None:
    """The estimator's tile sums (slices added in turn, for speed) equal a direct sum over each whole tile;
    a partial last row or column of tiles is left out."""
    image = np.random.default_rng(seed).normal(size=(rows, cols))
    tiles_down, tiles_across = rows // cell, cols // cell
    expected = np.array(
        [
            [image[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell].sum() for c in range(tiles_across)]
            for r in range(tiles_down)
        ]
    ).reshape(tiles_down, tiles_across)
    got = _cell_sums(image, cell)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
