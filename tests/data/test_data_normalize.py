"""Normalizer: exact inverse inside the range, residual restores clipped values, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from meddenoise.data import (
    CT_DEFAULT_RANGE,
    DEFAULT_INTENSITY,
    IntensitySpec,
    Normalizer,
    intensity_for_image,
)
from meddenoise.io import read_image
from meddenoise.io.testdata import pydicom_sample

_ranges = st.tuples(st.integers(-(2**15), 2**15), st.integers(1, 2**16)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), bounds=_ranges)
def test_integer_values_in_range_invert_exactly(data: st.DataObject, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    x = data.draw(hnp.arrays(np.int64, st.integers(1, 50), elements=st.integers(lo, hi))).astype(np.float32)
    norm = Normalizer.from_range(lo, hi)
    y = norm.forward(x)
    assert y.dtype == np.float32 and y.min() >= 0.0 and y.max() <= 1.0
    np.testing.assert_array_equal(np.rint(norm.inverse(y)), x)


@settings(max_examples=100, deadline=None)
@given(
    x=hnp.arrays(np.float32, st.integers(1, 40), elements=st.floats(-5000, 5000, width=32)),
    bounds=st.tuples(st.floats(-3000, 3000), st.floats(1e-3, 6000)),
)
def test_float_values_invert_within_float32_precision(x: np.ndarray, bounds: tuple[float, float]) -> None:
    lo, width = bounds
    norm = Normalizer.from_range(lo, lo + width)
    inside = np.clip(x, norm.low, norm.high)
    back = norm.inverse(norm.forward(inside))
    tol = norm.width * 2.0**-23 + np.abs(inside) * 2.0**-23
    assert np.all(np.abs(back.astype(np.float64) - inside) <= tol)


@settings(max_examples=100, deadline=None)
@given(
    x=hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(-3000, 4000)),
    level=st.integers(-800, 400),
    width=st.integers(1, 2000),
)
def test_window_with_residual_restores_everything(x: np.ndarray, level: int, width: int) -> None:
    x = x.astype(np.float32)
    norm = Normalizer.from_window(level, width)
    y, residual = norm.forward(x, return_residual=True)
    assert y.min() >= 0 and y.max() <= 1
    inside = (x >= norm.low) & (x <= norm.high)
    assert np.all(residual[inside] == 0)
    np.testing.assert_array_equal(np.rint(norm.inverse(y, residual=residual)), x)
    # without the residual, clipped values land on the window edges
    clipped = norm.inverse(y)
    assert np.all((clipped >= norm.low - 1e-3) & (clipped <= norm.high + 1e-3))


@settings(max_examples=50, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(2, 80), elements=st.floats(-1e4, 1e4)))
def test_percentile_and_minmax_normalisers_are_valid(x: np.ndarray) -> None:
    for norm in (Normalizer.from_percentiles(x, lower=1, upper=99), Normalizer.from_minmax(x)):
        y, residual = norm.forward(x, return_residual=True)
        assert y.min() >= 0 and y.max() <= 1
        back = norm.inverse(y, residual=residual).astype(np.float64)
        assert np.all(np.abs(back - x) <= 1e-6 * (norm.width + np.abs(x)) + 1e-3)


def test_forward_returns_the_array_alone_unless_the_residual_is_asked_for() -> None:
    norm = Normalizer.from_range(0.0, 10.0)
    x = np.array([-5.0, 0.0, 2.5, 10.0, 14.0])
    y = norm.forward(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.25, 1.0, 1.0])
    np.testing.assert_array_equal(norm(x), y)
    for pair in (norm.forward(x, return_residual=True), norm.forward_with_residual(x)):
        assert isinstance(pair, tuple) and len(pair) == 2
        np.testing.assert_array_equal(pair[0], y)
        np.testing.assert_array_equal(pair[1], [-5.0, 0.0, 0.0, 0.0, 4.0])


def test_to_dict_round_trip_through_json() -> None:
    norm = Normalizer.from_window("lung")
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again == norm
    assert (again.low, again.high) == (-1350.0, 150.0)


def test_dtype_and_bad_input() -> None:
    assert (Normalizer.for_dtype(np.uint8).low, Normalizer.for_dtype(np.uint8).high) == (0, 255)
    assert Normalizer.for_dtype(np.uint16, bits=12).high == 4095
    with pytest.raises(ValueError):
        Normalizer.from_range(1, 1)
    with pytest.raises(ValueError):
        Normalizer.from_window("nope")
    with pytest.raises(ValueError):
        Normalizer.for_dtype(np.float32)


def test_for_image_choices_follow_the_intensity_policy() -> None:
    ct = read_image(pydicom_sample("CT_small.dcm"))
    default = intensity_for_image(ct, DEFAULT_INTENSITY)
    assert (default.low, default.high) == CT_DEFAULT_RANGE
    mr = read_image(pydicom_sample("MR_small.dcm"))
    nominal = intensity_for_image(mr, DEFAULT_INTENSITY)
    assert nominal.method == "minmax" and nominal.low == mr.pixels.min() and nominal.high == mr.pixels.max()
    # Normalizer.for_image's "auto" is the policy's "auto", not a second definition
    auto = intensity_for_image(ct, IntensitySpec("auto"))
    assert (auto.low, auto.high) == (-1024.0, 1024.0)
    with pytest.raises(ValueError, match="intensity_for_image"):
        Normalizer.for_image(ct, method="auto")  # type: ignore[arg-type]
    win = Normalizer.for_image(ct, method="window", level=40, width=400)
    assert (win.low, win.high) == (-160, 240)
