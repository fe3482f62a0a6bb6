"""What a network removed from its input: how correlated it is, and whether that reads as a scanner's noise.

A CT reconstruction kernel makes a scan's noise spatially correlated; white noise (added in a test, a
synthetic benchmark) is not. The removed component ``noisy - denoised`` of a good denoiser is mostly noise,
so its lag-1 correlation (:func:`removed_correlation`) tells the two apart after the fact, whatever the
network was told: on the ``ct`` model's 35 training slices it is 0.26-0.90 with the low-dose protocol's
matched-kernel noise (the sharpest kernel the lowest) and -0.07 to 0.00 with 50 or 80 HU of white noise.
:func:`correlation_gate` turns it into a weight, 0 for white noise and 1 for a scanner's, linear between
the two values of :data:`CORRELATED_REMOVED_NOISE`. The noise texture (:mod:`meddenoise.models.texture`,
``--texture auto``) and a gated edge restoration (:mod:`meddenoise.models.edge_restore`) act by it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CORRELATED_REMOVED_NOISE", "correlation_gate", "linear_ramp", "removed_correlation"]

#: Lag-1 correlations of the removed component: at or under the first it is white noise, from the second a
#: scanner's (a CT kernel's), linear between (the module docstring says where they come from).
CORRELATED_REMOVED_NOISE = (0.05, 0.15)


def linear_ramp(value: float, low: float, high: float) -> float:
    """0 at or under ``low``, 1 from ``high``, linear between.

    Examples
    --------
    >>> linear_ramp(0.5, 0.0, 2.0), linear_ramp(-1.0, 0.0, 2.0), linear_ramp(3.0, 0.0, 2.0)
    (0.25, 0.0, 1.0)
    """
    return min(max((float(value) - low) / (high - low), 0.0), 1.0)


def correlation_gate(correlation: float, bounds: tuple[float, float] = CORRELATED_REMOVED_NOISE) -> float:
    """0 at or under ``bounds[0]``, 1 from ``bounds[1]``, linear between: how much a removed component of lag-1
    ``correlation`` is treated as a scanner's noise.

    Examples
    --------
    >>> correlation_gate(-0.05), correlation_gate(0.12), correlation_gate(0.8)
    (0.0, 0.7, 1.0)
    """
    return linear_ramp(correlation, *bounds)


def removed_correlation(noisy: np.ndarray, denoised: np.ndarray) -> float:
    """Lag-1 spatial correlation of the removed component ``noisy - denoised`` (2D), rows and columns averaged.

    About 0 for white noise, 0.3-0.9 for the noise of CT reconstruction kernels; 0 when nothing was removed.

    Examples
    --------
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> white = rng.normal(0, 1, (256, 256)).astype(np.float32)
    >>> blurred = ndimage.gaussian_filter(white, 1.0)
    >>> zero = np.zeros_like(white)
    >>> abs(removed_correlation(white, zero)) < 0.01, round(removed_correlation(blurred, zero), 1)
    (True, 0.8)
    """
    removed = np.asarray(noisy, dtype=np.float32) - np.asarray(denoised, dtype=np.float32)
    if removed.ndim != 2:
        raise ValueError(f"removed_correlation: expected 2D images, got shape {removed.shape}")
    removed -= removed.mean(dtype=np.float64)
    power = float(np.sum(removed * removed, dtype=np.float64))
    if not power > 0:
        return 0.0
    across = float(np.sum(removed[:, 1:] * removed[:, :-1], dtype=np.float64))
    down = float(np.sum(removed[1:] * removed[:-1], dtype=np.float64))
    return (across + down) / (2.0 * power)
