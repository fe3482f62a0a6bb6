"""Training losses: per-pixel (MSE, L1, binary cross-entropy), differentiable SSIM and MS-SSIM + L1.

* ``bce`` is the binary cross-entropy of the papers (Keras ``binary_crossentropy`` on [0, 1] targets),
  used by Gondara 2016 and Venkataraman.
* :func:`ssim` follows Wang et al. 2004 with either the Gaussian 11x11 window (sigma 1.5) of the paper
  or scikit-image's default uniform 7x7 window; with ``padding="valid"`` it equals
  ``skimage.metrics.structural_similarity(..., data_range=1)`` with the matching window settings.
* ``msssim_l1`` is the mix of Zhao, Gallo, Frosio & Kautz, "Loss Functions for Image Restoration with
  Neural Networks", IEEE TCI 2017: ``alpha * (1 - MS-SSIM) + (1 - alpha) * G * |x - y|`` with
  ``alpha = 0.84``. As in their implementation, the scales are Gaussian windows of growing sigma
  (0.5, 1, 2, 4, 8) at full resolution rather than a downsampling pyramid, so it works on small patches;
  the L1 term is weighted by the largest Gaussian.

Every loss takes predictions and targets of shape ``(N, 1, H, W)`` in [0, 1] and an optional
``mask`` of the same shape (1 where the loss counts, as in blind-spot training; or per-pixel weights, as the
conditioned objective's level weights: the per-pixel losses take the weighted mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["LOSS_FUNCTIONS", "get_loss", "msssim_l1_loss", "ssim", "ssim_loss"]

_C1 = 0.01**2
_C2 = 0.03**2
_BCE_EPS = 1e-7
_MSSSIM_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)

LossFn = Callable[..., torch.Tensor]


def _gaussian_kernel1d(sigma: float, size: int, *, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).to(dtype)


def _window(kind: str, *, dtype: torch.dtype) -> tuple[torch.Tensor, int]:
    if kind == "gaussian11":
        return _gaussian_kernel1d(1.5, 11, dtype=dtype), 11
    if kind == "uniform7":
        return torch.full((7,), 1.0 / 7, dtype=dtype), 7
    raise ValueError(f"unknown SSIM window {kind!r}; valid: gaussian11, uniform7")


def _separable_filter(x: torch.Tensor, kernel1d: torch.Tensor, *, pad: int) -> torch.Tensor:
    """Filter every channel of ``x`` with the separable kernel; ``pad`` > 0 replicates borders first."""
    channels = x.shape[1]
    size = kernel1d.numel()
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    kh = kernel1d.view(1, 1, size, 1).expand(channels, 1, size, 1)
    kw = kernel1d.view(1, 1, 1, size).expand(channels, 1, 1, size)
    x = F.conv2d(x, kh, groups=channels)
    return F.conv2d(x, kw, groups=channels)


def _ssim_maps(
    x: torch.Tensor, y: torch.Tensor, kernel1d: torch.Tensor, *, pad: int, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps of SSIM (population covariances, as Wang 2004)."""
    c1 = _C1 * data_range**2
    c2 = _C2 * data_range**2
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    mu_x, mu_y, xx, yy, xy = _separable_filter(stacked, kernel1d, pad=pad).chunk(5, dim=1)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    window: str = "gaussian11",
    data_range: float = 1.0,
    padding: str = "auto",
) -> torch.Tensor:
    """Differentiable mean SSIM per image, shape ``(N,)``, for batches ``(N, C, H, W)``.

    Parameters
    ----------
    window
        ``"gaussian11"`` (11x11, sigma 1.5; Wang 2004) or ``"uniform7"`` (scikit-image's default).
    padding
        ``"valid"`` averages only where the window fits (as scikit-image does); ``"same"`` replicates
        borders; ``"auto"`` uses valid when the image is at least the window size, else same.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim expects two (N, C, H, W) tensors of one shape, got {x.shape} and {y.shape}")
    kernel1d, size = _window(window, dtype=x.dtype)
    kernel1d = kernel1d.to(x.device)
    fits = min(x.shape[-2:]) >= size
    if padding == "auto":
        padding = "valid" if fits else "same"
    if padding == "valid" and not fits:
        raise ValueError(f"images {tuple(x.shape[-2:])} are smaller than the {size}x{size} SSIM window")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid', 'same' or 'auto', got {padding!r}")
    luminance, contrast_structure = _ssim_maps(
        x, y, kernel1d, pad=0 if padding == "valid" else size // 2, data_range=data_range
    )
    return (luminance * contrast_structure).flatten(1).mean(dim=1)


def ssim_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    window: str = "gaussian11",
    data_range: float = 1.0,
) -> torch.Tensor:
    """``1 - SSIM`` (at ``data_range``) averaged over the batch."""
    if mask is not None:
        raise ValueError("the SSIM loss is not defined on masked pixels; use mse, l1 or bce")
    return 1.0 - ssim(pred, target, window=window, data_range=data_range).mean()


def msssim_l1_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, *, alpha: float = 0.84
) -> torch.Tensor:
    """Zhao et al. 2017 mix: ``alpha * (1 - MS-SSIM) + (1 - alpha) * G_sigma_max * L1``."""
    if mask is not None:
        raise ValueError("the MS-SSIM + L1 loss is not defined on masked pixels; use mse, l1 or bce")
    size = int(2 * math.ceil(2 * _MSSSIM_SIGMAS[-1]) + 1)  # 33 taps cover ±4 sigma of the largest scale
    pad = size // 2
    cs_product = torch.ones_like(pred)
    luminance = cs_product
    largest = None
    for sigma in _MSSSIM_SIGMAS:
        kernel1d = _gaussian_kernel1d(sigma, size, dtype=pred.dtype).to(pred.device)
        luminance, contrast_structure = _ssim_maps(pred, target, kernel1d, pad=pad, data_range=1.0)
        cs_product = cs_product * contrast_structure
        largest = kernel1d
    assert largest is not None
    ms_ssim_map = luminance * cs_product  # luminance of the largest scale, cs of every scale
    l1_map = _separable_filter((pred - target).abs(), largest, pad=pad)
    return (alpha * (1.0 - ms_ssim_map) + (1.0 - alpha) * l1_map).mean()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error (over masked pixels only when ``mask`` is given)."""
    return _masked_mean((pred - target) ** 2, mask)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error (over masked pixels only when ``mask`` is given)."""
    return _masked_mean((pred - target).abs(), mask)


def bce_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy with [0, 1] targets, predictions clamped away from 0 and 1 as Keras does."""
    p = pred.clamp(_BCE_EPS, 1.0 - _BCE_EPS)
    values = -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p))
    return _masked_mean(values, mask)


LOSS_FUNCTIONS: dict[str, LossFn] = {
    "mse": mse_loss,
    "l1": l1_loss,
    "bce": bce_loss,
    "ssim": ssim_loss,
    "msssim_l1": msssim_l1_loss,
}


def get_loss(
    name: str, *, ssim_window: str = "gaussian11", ssim_data_range: float = 1.0, msssim_alpha: float = 0.84
) -> LossFn:
    """The loss ``fn(pred, target, mask=None) -> scalar tensor`` called ``name``."""
    if name == "ssim":
        return lambda pred, target, mask=None: ssim_loss(
            pred, target, mask, window=ssim_window, data_range=ssim_data_range
        )
    if name == "msssim_l1":
        return lambda pred, target, mask=None: msssim_l1_loss(pred, target, mask, alpha=msssim_alpha)
    try:
        return LOSS_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(LOSS_FUNCTIONS)}") from None
