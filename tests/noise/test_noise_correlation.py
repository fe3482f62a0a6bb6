"""The noise-kind readings: `estimate_noise_correlation` (flattest windows) and its CT counterpart in HU."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import ndimage

from meddenoise.noise import (
    estimate_noise_correlation,
    estimate_noise_correlation_in_units,
    estimate_noise_correlation_per_slice,
    estimate_noise_std,
)
from meddenoise.noise.estimate import blurred_noise_lag1


def _noise(rng: np.random.Generator, shape: tuple[int, int], blur: float, std: float) -> np.ndarray:
    noise = rng.standard_normal(shape)
    if blur:
        noise = ndimage.gaussian_filter(noise, blur)
    return std * noise / noise.std()


def _body_hu() -> np.ndarray:
    yy, xx = np.mgrid[:256, :256] - 127.5
    return np.where(xx**2 + yy**2 < 120**2, np.where(xx < 0, 40.0, -100.0), -1000.0)


def test_white_noise_reads_0_and_blurred_noise_its_blur() -> None:
    rng = np.random.default_rng(0)
    assert estimate_noise_correlation(0.5 + _noise(rng, (256, 256), 0.0, 0.05)) < 0.05
    readings = [estimate_noise_correlation(0.5 + _noise(rng, (256, 256), b, 0.05)) for b in (0.5, 1.0, 2.0)]
    # the true lag-1 correlations are 0.26, 0.78, 0.94; the reading may be a little low, never high
    assert readings == sorted(readings)
    for reading, true in zip(readings, (0.26, 0.78, 0.94), strict=True):
        assert true - 0.1 < reading <= true + 0.02
    assert blurred_noise_lag1(0.0) == 0.0 and blurred_noise_lag1(1.0) == pytest.approx(np.exp(-0.25))


def test_a_mixture_reads_between_its_parts_and_a_constant_image_0() -> None:
    rng = np.random.default_rng(1)
    white, blurred = _noise(rng, (256, 256), 0.0, 1.0), _noise(rng, (256, 256), 1.0, 1.0)
    pure = estimate_noise_correlation(blurred)
    mixed = estimate_noise_correlation((blurred + white) / np.sqrt(2))
    assert 0.1 < mixed < pure - 0.2
    assert estimate_noise_correlation(np.full((64, 64), 0.3)) == 0.0


def test_a_stack_reads_the_mean_and_per_slice_each() -> None:
    rng = np.random.default_rng(2)
    stack = np.stack([0.5 + _noise(rng, (128, 128), b, 0.05) for b in (0.0, 1.0)])
    per_slice = estimate_noise_correlation_per_slice(stack)
    assert per_slice.shape == (2,) and per_slice[0] < 0.1 < 0.5 < per_slice[1]
    assert estimate_noise_correlation(stack) == pytest.approx(per_slice.mean())


def test_in_hu_the_kind_is_read_in_flat_tissue_not_in_the_air() -> None:
    rng = np.random.default_rng(3)
    body = _body_hu()
    inside = body > -500
    scanner = body + np.where(inside, _noise(rng, body.shape, 1.0, 15.0), _noise(rng, body.shape, 0.0, 15.0))
    # the tissue's noise is correlated, the air's white: the CT reading follows the tissue
    assert estimate_noise_correlation_in_units(scanner, "HU") > 0.6
    white = body + _noise(rng, body.shape, 0.0, 15.0)
    assert estimate_noise_correlation_in_units(white, "HU") < 0.1
    # other units: the generic reading (the flattest windows)
    assert estimate_noise_correlation_in_units(white, None) < 0.1
    assert estimate_noise_std(white) == pytest.approx(15.0, rel=0.1)


def test_the_one_pass_reading_is_the_two_estimates() -> None:
    from meddenoise.noise import estimate_noise_in_units, estimate_noise_reading_in_units

    rng = np.random.default_rng(4)
    scan = _body_hu() + _noise(rng, (256, 256), 1.0, 12.0)
    for units in ("HU", None):
        std, correlation = estimate_noise_reading_in_units(scan, units)
        assert std == estimate_noise_in_units(scan, units)
        assert correlation == estimate_noise_correlation_in_units(scan, units)
    with pytest.raises(ValueError, match="2D slice"):
        estimate_noise_reading_in_units(np.stack([scan, scan]), "HU")


def test_the_level_and_the_kind_of_one_image_come_from_one_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    import meddenoise.noise.estimate as estimate

    calls: list[tuple[int, ...]] = []
    real = estimate._noise_reading_one

    def counted(image: np.ndarray) -> estimate.NoiseReading:
        calls.append(image.shape)
        return real(image)

    monkeypatch.setattr(estimate, "_noise_reading_one", counted)
    monkeypatch.setattr(estimate, "_READINGS", type(estimate._READINGS)())
    rng = np.random.default_rng(3)
    image = 0.5 + _noise(rng, (128, 96), 1.0, 0.02)
    std, corr = estimate_noise_std(image), estimate_noise_correlation(image.copy())  # same pixels, new array
    assert len(calls) == 1 and std == pytest.approx(0.02, rel=0.15) and corr > 0.3
    # an array changed in place is read afresh: the memory is keyed by the pixels, not the object
    image += _noise(rng, image.shape, 0.0, 0.05)
    assert estimate_noise_std(image) > 2 * std and len(calls) == 2
    # and a stack reads each slice once
    estimate_noise_correlation_per_slice(np.stack([image, image * 0.5]))
    assert len(calls) == 3


def test_a_ct_slice_is_read_once_for_its_level_its_kind_and_both(monkeypatch: pytest.MonkeyPatch) -> None:
    import meddenoise.noise.estimate as estimate
    from meddenoise.noise import estimate_ct_noise, estimate_noise_in_units, estimate_noise_reading_in_units

    calls: dict[str, int] = {"ct": 0, "generic": 0}

    def counted(kind: str, real: Callable[[np.ndarray], estimate.NoiseReading]) -> Callable[..., object]:
        def reader(image: np.ndarray) -> estimate.NoiseReading:
            calls[kind] += 1
            return real(image)

        return reader

    monkeypatch.setattr(estimate, "_ct_noise_reading_one", counted("ct", estimate._ct_noise_reading_one))
    monkeypatch.setattr(estimate, "_noise_reading_one", counted("generic", estimate._noise_reading_one))
    monkeypatch.setattr(estimate, "_READINGS", type(estimate._READINGS)())
    rng = np.random.default_rng(5)
    scan = _body_hu() + _noise(rng, (256, 256), 1.0, 12.0)
    reading = estimate_noise_reading_in_units(scan, "HU")
    assert estimate_noise_in_units(scan.copy(), "HU") == estimate_ct_noise(scan) == reading.std
    assert estimate_noise_correlation_in_units(scan, "HU") == reading.correlation
    assert calls == {"ct": 1, "generic": 0} and reading.std == pytest.approx(12.0, rel=0.15)
    # the generic reading of the same pixels is its own reading, not the CT one remembered
    generic = estimate_noise_reading_in_units(scan, None)
    assert generic == (estimate_noise_std(scan), estimate_noise_correlation(scan))
    assert calls == {"ct": 1, "generic": 1}
