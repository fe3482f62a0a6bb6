"""Pixel-wise error metrics: MSE, MAE and PSNR, each with an explicit data range where it matters.

With ``mask=`` (a boolean array of the images' shape, e.g. from :mod:`meddenoise.metrics.masks`) each
is computed over the pixels inside the mask only; an empty mask gives NaN.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["as_image_pair", "check_data_range", "mae", "masked_values", "mse", "psnr"]


def as_image_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x`` and ``y`` as float64 arrays after checking that their shapes match.

    Raises
    ------
    ValueError
        If the shapes differ, an array is empty, or either holds NaN/Inf.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("images are empty")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("images hold NaN or Inf values")
    return a, b


def check_data_range(data_range: float) -> float:
    """Return ``data_range`` as a float after checking it is finite and positive."""
    value = float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return value


def masked_values(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``values`` inside ``mask`` (flattened), or all of them when ``mask`` is ``None``.

    Raises
    ------
    ValueError
        When the mask's shape differs from the values'.
    """
    if mask is None:
        return values
    inside = np.asarray(mask)
    if inside.shape != values.shape:
        raise ValueError(f"mask of shape {inside.shape} does not match the images' {values.shape}")
    return values[inside != 0]


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def mse(
    x: np.ndarray, y: np.ndarray, *, data_range: float | None = None, mask: np.ndarray | None = None
) -> float:
    """Mean squared error between two images of the same shape (inside ``mask`` when given).

    ``data_range`` is accepted (and ignored) so that every metric in
    :data:`meddenoise.metrics.METRICS` has the same signature; MSE is in the images' own units.
    """
    a, b = as_image_pair(x, y)
    return _mean(masked_values(np.square(a - b), mask))


def mae(
    x: np.ndarray, y: np.ndarray, *, data_range: float | None = None, mask: np.ndarray | None = None
) -> float:
    """Mean absolute error between two images of the same shape (inside ``mask`` when given; ``data_range``
    is ignored, as for MSE)."""
    a, b = as_image_pair(x, y)
    return _mean(masked_values(np.abs(a - b), mask))


def psnr(x: np.ndarray, y: np.ndarray, *, data_range: float, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``.

    Parameters
    ----------
    x, y
        Images of the same shape (the order does not matter).
    data_range
        Distance between the largest and smallest possible pixel values (1.0 for [0, 1] images,
        255 for 8-bit). Required: guessing it from the data is the commonest PSNR mistake.

    mask
        Score the pixels inside this boolean mask only (the MSE over them).

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical images; NaN for an empty mask.
    """
    peak = check_data_range(data_range)
    err = mse(x, y, mask=mask)
    if math.isnan(err):
        return math.nan
    if err == 0.0:
        return math.inf
    return float(10.0 * np.log10(peak * peak / err))
