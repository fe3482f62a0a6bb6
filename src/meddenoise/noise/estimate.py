"""Blind estimation of the Gaussian noise level of an image."""

from __future__ import annotations

import numpy as np
import pywt

__all__ = ["estimate_noise_std", "estimate_sigma", "estimate_sigma_batch"]

# The MAD of a zero-mean Gaussian is 0.6744897... times its standard deviation.
_MAD_TO_STD = 1.0 / 0.6744897501960817


def _estimate_one(image: np.ndarray) -> float:
    if min(image.shape) < 2:
        raise ValueError(f"estimate_sigma: image {image.shape} is too small (needs at least 2x2 pixels)")
    # Finest diagonal detail band of an orthonormal Daubechies-4 wavelet: image structure barely
    # reaches it, white noise keeps its std there (Donoho & Johnstone 1994).
    _, (_, _, diagonal) = pywt.dwt2(image.astype(np.float64, copy=False), "db4", mode="periodization")
    return float(np.median(np.abs(diagonal)) * _MAD_TO_STD)


def estimate_sigma(image: np.ndarray) -> float:
    """Estimate the standard deviation of additive white Gaussian noise in one image (wavelet MAD).

    Uses the median absolute finest-scale diagonal wavelet coefficient divided by 0.6745
    (Donoho & Johnstone's robust estimator). The result is in the image's own units (on [0, 1]
    images: the ``sigma`` that :class:`meddenoise.denoiser.Denoiser` takes). A 3D array is read as
    a batch and the mean of the per-image estimates is returned; use :func:`estimate_sigma_batch`
    for the individual values.

    Parameters
    ----------
    image
        A 2D image ``(H, W)`` or a batch ``(N, H, W)``.

    Returns
    -------
    float
        The estimated noise standard deviation (0 for a noiseless piecewise-smooth image).

    Raises
    ------
    ValueError
        For arrays that are not 2D or 3D, smaller than 2x2, or hold NaN/Inf.
    """
    arr = np.asarray(image)
    if arr.ndim == 3:
        return float(np.mean(estimate_sigma_batch(arr)))
    if arr.ndim != 2:
        raise ValueError(
            f"estimate_sigma: expected an image (H, W) or a batch (N, H, W), got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("estimate_sigma: image holds NaN or Inf values")
    return _estimate_one(arr)


def estimate_sigma_batch(images: np.ndarray) -> np.ndarray:
    """Per-image noise std of a batch ``(N, H, W)`` (or of one image ``(H, W)``, giving one value)."""
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"estimate_sigma_batch: expected (N, H, W) or (H, W), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("estimate_sigma_batch: images hold NaN or Inf values")
    return np.array([_estimate_one(img) for img in arr], dtype=np.float64)


def estimate_noise_std(image: np.ndarray) -> float:
    """TEMPORARY stand-in (helper G): the noise std of an image in its own units (HU, grey levels, ...).

    Wraps :func:`estimate_sigma` so the pipeline can call the estimator by its final name; helper E's
    real estimator (flat regions / robust local std) replaces this whole function on merge.

    Parameters
    ----------
    image
        One image ``(H, W)`` in original units (a batch ``(N, H, W)`` gives the mean).

    Returns
    -------
    float
        The estimated noise standard deviation in the image's units.
    """
    return estimate_sigma(np.asarray(image, dtype=np.float64))
