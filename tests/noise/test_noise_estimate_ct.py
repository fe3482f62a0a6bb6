"""The CT noise estimator (`estimate_ct_noise`): the mode of the local std in flat fat and soft tissue, in HU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from test_noise_estimate_std import CT_ROIS as DOCUMENTED_CT_ROIS

from meddenoise.noise import estimate_ct_noise, estimate_ct_noise_per_slice, estimate_noise_std, parse_noise


def _body(size: int = 256) -> np.ndarray:
    """A chest-like slice in HU: air, a body of fat and muscle with many edges, lungs and a bone."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = size / 2 - 8
    hu = np.where(xx**2 + (yy / 0.8) ** 2 < r**2, -100.0, -1000.0)  # fat body in air
    hu[(np.abs(xx) < r * 0.6) & (np.abs(yy) < r * 0.55)] = 50.0  # muscle and organs
    for cx in (-0.3, 0.3):  # lungs
        hu[((xx - cx * r) ** 2 + yy**2) < (0.2 * r) ** 2] = -850.0
    hu[(xx**2 + (yy - 0.6 * r) ** 2) < (0.07 * r) ** 2] = 900.0  # vertebra
    # stripes of fat in the muscle: edges everywhere, which the flat-window mode must ignore
    stripes = (np.abs(xx) < r * 0.55) & (np.abs(yy) < r * 0.5) & (((xx + size) // 10) % 3 == 0)
    hu[stripes] = -100.0
    return hu


def test_white_noise_in_a_body_phantom_is_read_within_5_percent() -> None:
    body = _body()
    for sigma in (8.0, 20.0, 50.0):
        noisy = body + np.random.default_rng(1).normal(0.0, sigma, body.shape)
        assert estimate_ct_noise(noisy) == pytest.approx(sigma, rel=0.05)


def test_correlated_noise_is_read_at_its_pixel_std() -> None:
    """Correlated noise: the estimate corrects for the variance a window's fitted plane absorbs."""
    body = _body(512)
    noise = ndimage.gaussian_filter(np.random.default_rng(2).normal(size=body.shape), 1.5)
    noise *= 20.0 / noise.std()
    assert estimate_ct_noise(body + noise) == pytest.approx(20.0, rel=0.07)  # uncorrected: 16.9


def test_edges_between_tissues_do_not_raise_the_estimate() -> None:
    """The 5th-percentile estimator and the mode agree on a flat phantom; edges leave the mode alone."""
    rng = np.random.default_rng(3)
    flat = np.where(_body() > -500, 40.0, -1000.0)
    noise = rng.normal(0.0, 15.0, flat.shape)
    with_edges = estimate_ct_noise(_body() + noise)
    assert with_edges == pytest.approx(estimate_ct_noise(flat + noise), rel=0.05)
    assert with_edges == pytest.approx(15.0, rel=0.05)


def test_without_tissue_it_falls_back_to_the_flat_region_estimator() -> None:
    lung = -850.0 + np.random.default_rng(4).normal(0.0, 20.0, (128, 128))  # no fat, no soft tissue
    assert estimate_ct_noise(lung) == estimate_noise_std(lung)


def test_a_stack_gives_the_mean_and_per_slice_values() -> None:
    rng = np.random.default_rng(5)
    stack = np.stack([_body() + rng.normal(0.0, s, (256, 256)) for s in (10.0, 30.0)])
    per_slice = estimate_ct_noise_per_slice(stack)
    assert per_slice == pytest.approx([10.0, 30.0], rel=0.05)
    assert estimate_ct_noise(stack) == pytest.approx(per_slice.mean())
    with pytest.raises(ValueError, match="NaN"):
        estimate_ct_noise(np.full((64, 64), np.nan))


# (top row, left column) of the hand-placed 30x30 flat-tissue ROIs of test_noise_estimate_std (docs/noise.md).
CT_ROIS: dict[str, list[tuple[int, int]]] = {
    key: [(r, c) for r, c, _ in rois] for key, rois in DOCUMENTED_CT_ROIS.items()
}


def _roi_std(pixels: np.ndarray, rois: list[tuple[int, int]]) -> float:
    return float(np.median([pixels[r : r + 30, c : c + 30].std(ddof=1) for r, c in rois]))


@pytest.mark.data
def test_real_ct_matches_hand_placed_rois_and_tracks_added_noise(shared_data: Path) -> None:
    from meddenoise.io import read_image

    folder = shared_data / "chest-ct-dicom"
    ratios, white, lowdose = [], [], []
    for key, rois in CT_ROIS.items():
        (path,) = folder.glob(f"{key}_*.dcm")
        hu = read_image(path).pixels.astype(np.float64)
        own = _roi_std(hu, rois)
        ratios.append(estimate_ct_noise(hu) / own)
        added = np.random.default_rng(0).normal(0.0, 30.0, hu.shape)
        white.append(estimate_ct_noise(hu + added) / np.hypot(own, 30.0))
        if key in ("ID_0064", "ID_0014"):  # two slices keep the sinogram simulation's time small
            inserted = parse_noise("lowdose-ct(dose=0.25)")(hu, rng=1) - hu
            lowdose.append(estimate_ct_noise(hu + inserted) / np.hypot(own, _roi_std(inserted, rois)))
    assert np.median(ratios) == pytest.approx(1.0, abs=0.06)
    assert sorted(ratios)[1] > 0.8 and max(ratios) < 1.15  # one slice has louder noise in its heart
    assert np.median(white) == pytest.approx(1.0, abs=0.06)
    assert lowdose == pytest.approx([1.0, 1.0], abs=0.1)
