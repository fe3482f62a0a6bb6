"""Image-quality metrics: SSIM, MS-SSIM, PSNR, MSE, MAE, (optionally) LPIPS, and CT measures.

Every metric takes two images and an explicit keyword ``data_range`` (the distance between the
largest and smallest possible pixel values, 1.0 for [0, 1] images) and returns a float.
:data:`METRICS` maps names to these functions; :func:`metric_batch` scores whole batches.
LPIPS is imported lazily from :mod:`meddenoise.metrics.lpips` so that the other metrics never
import torch. The CT measures (:mod:`meddenoise.metrics.ct`: NPS, edge MTF, gradient ratio, HU bias,
residual structure, routine-dose faithfulness) take images in HU; five of them are metrics here
(``hu_bias_soft``, ``hu_bias_soft_core``, ``hu_bias_fat``, ``gradient_ratio``, ``residual_structure``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from meddenoise.metrics.ct import CT_METRICS, NOISY_INPUT_METRICS
from meddenoise.metrics.pixel import mae, mse, psnr
from meddenoise.metrics.structural import MS_SSIM_WEIGHTS, ms_ssim, ssim

__all__ = [
    "CT_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "MS_SSIM_WEIGHTS",
    "NOISY_INPUT_METRICS",
    "Metric",
    "get_metric",
    "lpips_available",
    "lpips_distance",
    "mae",
    "metric_batch",
    "ms_ssim",
    "mse",
    "psnr",
    "ssim",
]


class Metric(Protocol):
    """A full-reference metric: ``fn(x, y, *, data_range) -> float``."""

    def __call__(self, x: np.ndarray, y: np.ndarray, *, data_range: float) -> float: ...


# Not named `lpips`: importing the submodule meddenoise.metrics.lpips rebinds that package attribute.
def lpips_distance(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """LPIPS distance (AlexNet, v0.1); imports :mod:`meddenoise.metrics.lpips` (and torch) on first use."""
    from meddenoise.metrics.lpips import lpips as _lpips

    return float(_lpips(x, y, data_range=data_range))


def lpips_available() -> bool:
    """Whether the LPIPS module and its weights are present (no download is attempted)."""
    try:
        from meddenoise.metrics.lpips import lpips_available as _available
    except ImportError:
        return False
    return bool(_available())


#: Metric name → function(x, y, *, data_range) -> float.
METRICS: Mapping[str, Metric] = {
    "ssim": ssim,
    "psnr": psnr,
    "mse": mse,
    "mae": mae,
    "ms_ssim": ms_ssim,
    "lpips": lpips_distance,
    **{name: fn for name, (fn, _) in CT_METRICS.items()},
}

#: Whether a larger value of the metric means a better match.
HIGHER_IS_BETTER: Mapping[str, bool] = {
    "ssim": True,
    "psnr": True,
    "mse": False,
    "mae": False,
    "ms_ssim": True,
    "lpips": False,
    **{name: higher for name, (_, higher) in CT_METRICS.items()},
}


def get_metric(name: str) -> Metric:
    """Return the metric called ``name`` (``"ms-ssim"`` is accepted for ``"ms_ssim"``)."""
    key = name.strip().lower().replace("-", "_")
    if key not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return METRICS[key]


def metric_batch(
    metric: str | Callable[..., float],
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float,
    **options: Any,
) -> np.ndarray:
    """Score every image pair of two batches ``(N, H, W)``; returns a float64 array of N values.

    A 2D pair counts as a batch of one. ``options`` go to the metric (e.g. ``gaussian_weights=True``).
    """
    fn = get_metric(metric) if isinstance(metric, str) else metric
    a = np.asarray(x)
    b = np.asarray(y)
    if a.shape != b.shape:
        raise ValueError(f"batches must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.ndim != 3:
        raise ValueError(f"expected a batch (N, H, W) or an image (H, W), got shape {a.shape}")
    return np.array([fn(xi, yi, data_range=data_range, **options) for xi, yi in zip(a, b, strict=True)])
