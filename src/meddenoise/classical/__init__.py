"""Classical denoising baselines: median, Gaussian, bilateral, NL-means, TV, wavelet, BM3D.

Build one by name::

    >>> import numpy as np
    >>> from meddenoise.classical import get_classical
    >>> median = get_classical("median", size=5)
    >>> median(np.zeros((8, 8), np.float32)).shape
    (8, 8)

``get_classical("calibrated-nlmeans")`` (or ``get_classical("nlmeans", calibrate=True)``) chooses
the filter's strength on every image by J-invariant self-calibration; :func:`tune_classical` picks
parameters on training pairs.
"""

from __future__ import annotations

from typing import Any

from meddenoise._optional import is_available
from meddenoise.classical.calibration import DEFAULT_GRIDS, CalibratedDenoiser, tune_classical
from meddenoise.classical.filters import (
    BM3D_MISSING_MESSAGE,
    BilateralDenoiser,
    BM3DDenoiser,
    ClassicalDenoiser,
    GaussianDenoiser,
    MedianDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    WaveletDenoiser,
)
from meddenoise.denoiser import Denoiser

__all__ = [
    "BM3D_MISSING_MESSAGE",
    "CALIBRATED_PREFIX",
    "CLASSICAL_METHODS",
    "DEFAULT_GRIDS",
    "BM3DDenoiser",
    "BilateralDenoiser",
    "CalibratedDenoiser",
    "ClassicalDenoiser",
    "GaussianDenoiser",
    "MedianDenoiser",
    "NLMeansDenoiser",
    "TVDenoiser",
    "WaveletDenoiser",
    "bm3d_available",
    "get_classical",
    "tune_classical",
]

_FILTERS: dict[str, type[ClassicalDenoiser]] = {
    cls.name: cls
    for cls in (
        MedianDenoiser,
        GaussianDenoiser,
        BilateralDenoiser,
        NLMeansDenoiser,
        TVDenoiser,
        WaveletDenoiser,
        BM3DDenoiser,
    )
}

#: Names accepted by :func:`get_classical` (each also as ``"calibrated-<name>"``).
CLASSICAL_METHODS: tuple[str, ...] = tuple(_FILTERS)
CALIBRATED_PREFIX = "calibrated-"


def bm3d_available() -> bool:
    """Whether the optional ``bm3d`` package is installed (:func:`meddenoise._optional.is_available`)."""
    return is_available("bm3d")


def get_classical(name: str, *, calibrate: bool = False, **params: Any) -> Denoiser:
    """Build the classical denoiser ``name`` with keyword ``params``.

    Parameters
    ----------
    name
        One of :data:`CLASSICAL_METHODS`, optionally prefixed ``"calibrated-"``.
    calibrate
        Choose the main parameter per image by J-invariant self-calibration (same as the prefix).
        ``grid=`` and ``stride=`` then go to :class:`CalibratedDenoiser`.
    **params
        Filter parameters: the keyword-only arguments of the filter's class (its ``defaults``).

    Raises
    ------
    ValueError
        For an unknown name. ``ImportError`` for ``bm3d`` when the package is missing.
    """
    key = name.strip().lower()
    if key.startswith(CALIBRATED_PREFIX):
        key = key[len(CALIBRATED_PREFIX) :]
        calibrate = True
    if key not in _FILTERS:
        choices = ", ".join(CLASSICAL_METHODS)
        raise ValueError(f"unknown classical method {name!r}; choose from {choices} (or calibrated-<name>)")
    if calibrate:
        return CalibratedDenoiser(_FILTERS[key], **params)
    return _FILTERS[key].from_params(**params)
