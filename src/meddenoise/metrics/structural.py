"""Structural similarity: SSIM (Wang et al. 2004) and multi-scale SSIM (Wang et al. 2003).

Written with NumPy/SciPy so the settings are explicit and the torch-free path is fast.

SSIM settings
-------------
* ``win_size=7, gaussian_weights=False`` (the default): a 7x7 uniform window. This is
  :func:`skimage.metrics.structural_similarity`'s default and what Gondara 2016 used.
* ``gaussian_weights=True`` (``win_size`` then defaults to 11): an 11x11 Gaussian window with
  sigma 1.5, as in Wang et al. 2004 and their reference MATLAB ``ssim.m``.
* Constants ``C1 = (k1 L)^2`` and ``C2 = (k2 L)^2`` with ``k1 = 0.01``, ``k2 = 0.03`` and
  ``L = data_range``.
* Local statistics are computed with the window over the whole image (``mode="reflect"`` at the
  borders) and the mean SSIM is taken over the pixels whose window lies fully inside the image,
  i.e. ``(win_size - 1) // 2`` pixels are cropped on every side. This equals MATLAB's
  ``filter2(..., 'valid')``.
* ``use_sample_covariance=True`` (default, scikit-image's choice) scales variances and covariance by
  ``NP / (NP - 1)`` with ``NP = win_size**2``; ``False`` uses population statistics (Wang's code).
* ``downsample=True`` applies the automatic down-sampling of Wang's ``ssim.m`` first: a box filter
  of size ``f = max(1, round(min(H, W) / 256))`` then every ``f``-th pixel.

Masked SSIM (``ssim(..., mask=M)``): the SSIM map is computed over the whole image exactly as above and
averaged over the pixels that are inside ``M`` *and* whose window lies inside the image (the same
border crop), so an all-true mask gives the unmasked value; an empty intersection gives NaN. Windows
near the mask's edge still see pixels outside it: the score is "how well is the tissue restored",
with its local statistics, not a score of a cut-out image.

With the same settings, :func:`ssim` agrees with ``skimage.metrics.structural_similarity`` to
better than 1e-6 (float64 inputs; scikit-image computes float32 inputs in float32, this module
always in float64).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from meddenoise.metrics.pixel import as_image_pair, check_data_range

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "ssim", "ssim_components", "wang_downsample"]

#: Scale weights of Wang, Simoncelli & Bovik 2003 (five scales, finest first).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _window_size(win_size: int | None, gaussian_weights: bool) -> int:
    size = (11 if gaussian_weights else 7) if win_size is None else int(win_size)
    if size < 3 or size % 2 == 0:
        raise ValueError(f"win_size must be an odd integer >= 3, got {win_size!r}")
    return size


def ssim_components(
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float,
    win_size: int | None = None,
    gaussian_weights: bool = False,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    use_sample_covariance: bool = True,
    mask: np.ndarray | None = None,
) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term ``cs`` of two 2D images (no down-sampling).

    ``cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)`` is what MS-SSIM uses at its finer
    scales. Parameters are those of :func:`ssim`; the means are over the cropped map, inside ``mask``
    when given (NaN when nothing is left).
    """
    a, b = as_image_pair(x, y)
    if a.ndim != 2:
        raise ValueError(f"SSIM expects 2D greyscale images, got shape {a.shape}")
    peak = check_data_range(data_range)
    size = _window_size(win_size, gaussian_weights)
    if min(a.shape) < size:
        raise ValueError(
            f"images of shape {a.shape} are smaller than the {size}x{size} SSIM window; "
            "pass a smaller odd win_size"
        )
    radius = (size - 1) // 2
    # One filter call over the five stacked planes (axes 1, 2) instead of five separate calls.
    planes = np.stack([a, b, a * a, b * b, a * b])
    if gaussian_weights:
        filtered = ndimage.gaussian_filter(planes, sigma=sigma, radius=radius, mode="reflect", axes=(1, 2))
    else:
        filtered = ndimage.uniform_filter(planes, size=size, mode="reflect", axes=(1, 2))
    ux, uy, uxx, uyy, uxy = filtered
    cov_norm = size * size / (size * size - 1.0) if use_sample_covariance else 1.0
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * peak) ** 2
    c2 = (k2 * peak) ** 2
    cs_map = (2.0 * vxy + c2) / (vx + vy + c2)
    lum_map = (2.0 * ux * uy + c1) / (ux * ux + uy * uy + c1)
    inner = (slice(radius, a.shape[0] - radius), slice(radius, a.shape[1] - radius))
    cs_inner = cs_map[inner]
    ssim_inner = lum_map[inner] * cs_inner
    if mask is not None:
        inside = np.asarray(mask)
        if inside.shape != a.shape:
            raise ValueError(f"mask of shape {inside.shape} does not match the images' {a.shape}")
        keep = inside[inner] != 0
        if not keep.any():
            return math.nan, math.nan
        return float(np.mean(ssim_inner[keep], dtype=np.float64)), float(np.mean(cs_inner[keep]))
    return float(np.mean(ssim_inner, dtype=np.float64)), float(np.mean(cs_inner))


def wang_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter ``image`` with a ``factor`` x ``factor`` mean and keep every ``factor``-th pixel.

    Matches MATLAB ``imfilter(img, ones(f)/f^2, 'symmetric', 'same')`` followed by
    ``img(1:f:end, 1:f:end)`` as in Wang's ``ssim.m`` and ``msssim.m``.
    """
    if factor <= 1:
        return np.asarray(image, dtype=np.float64)
    arr = np.asarray(image, dtype=np.float64)
    # MATLAB's 'same' correlation with an even kernel of size f looks f//2 - 1 pixels back and
    # f//2 ahead (its centre is floor((f + 1) / 2)); odd f is centred.
    before = (factor - 1) // 2
    after = factor - 1 - before
    padded = np.pad(arr, ((before, after), (before, after)), mode="symmetric")
    # After the padding, output pixel i is the mean of padded rows/columns i .. i + f - 1.
    box = _box_sum(padded, factor) / (factor * factor)
    return box[::factor, ::factor]


def _box_sum(padded: np.ndarray, factor: int) -> np.ndarray:
    # Sum of every factor x factor block starting at each pixel, via cumulative sums (exact, no edges).
    csum = np.cumsum(np.cumsum(np.pad(padded, ((1, 0), (1, 0))), axis=0), axis=1)
    return (
        csum[factor:, factor:] - csum[:-factor, factor:] - csum[factor:, :-factor] + csum[:-factor, :-factor]
    )


def ssim(
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float,
    win_size: int | None = None,
    gaussian_weights: bool = False,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    use_sample_covariance: bool = True,
    downsample: bool = False,
    mask: np.ndarray | None = None,
) -> float:
    """Mean structural similarity of two 2D greyscale images (Wang et al. 2004).

    Parameters
    ----------
    x, y
        Images of the same 2D shape (the metric is symmetric).
    data_range
        Distance between the largest and smallest possible pixel values (1.0 for [0, 1] images).
        Required: the constants C1, C2 scale with it, and guessing it changes the score.
    win_size
        Odd window size; default 7 for the uniform window, 11 for the Gaussian one.
    gaussian_weights
        Use a Gaussian window with standard deviation ``sigma`` instead of a uniform one.
    sigma
        Standard deviation of the Gaussian window.
    k1, k2
        Stabilising constants of the luminance and contrast-structure terms.
    use_sample_covariance
        Normalise local (co)variances by ``NP - 1`` (scikit-image) instead of ``NP`` (Wang's code).
    downsample
        Apply the automatic down-sampling of Wang's ``ssim.m`` first (see the module notes).
    mask
        Average the SSIM map inside this boolean mask only (see "Masked SSIM" in the module notes);
        not with ``downsample``.

    Returns
    -------
    float
        Mean SSIM in [-1, 1]; 1 for identical images; NaN when the mask leaves no pixel.
    """
    a, b = as_image_pair(x, y)
    if downsample and mask is not None:
        raise ValueError("SSIM: a mask applies to the image's own pixels, not with downsample=True")
    if downsample:
        if a.ndim != 2:
            raise ValueError(f"SSIM expects 2D greyscale images, got shape {a.shape}")
        factor = max(1, round(min(a.shape) / 256))
        a, b = wang_downsample(a, factor), wang_downsample(b, factor)
    mean_ssim, _ = ssim_components(
        a,
        b,
        data_range=data_range,
        win_size=win_size,
        gaussian_weights=gaussian_weights,
        sigma=sigma,
        k1=k1,
        k2=k2,
        use_sample_covariance=use_sample_covariance,
        mask=mask,
    )
    return mean_ssim


def ms_ssim(
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float,
    weights: tuple[float, ...] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    use_sample_covariance: bool = False,
) -> float:
    """Multi-scale SSIM of two 2D greyscale images (Wang, Simoncelli & Bovik 2003).

    Follows Wang's reference ``msssim.m``: an 11x11 Gaussian window (sigma 1.5), population
    statistics, and between scales a 2x2 mean filter (symmetric borders) followed by keeping every
    second pixel. The score is ``prod_j cs_j^w_j`` over the first ``M - 1`` scales times
    ``ssim_M^w_M`` at the coarsest; negative terms are clipped at 0 (as ``pytorch_msssim`` does) so
    that fractional powers stay real.

    Parameters
    ----------
    x, y
        Images of the same 2D shape. With the default five scales the shorter side must be at least
        ``win_size * 16`` (176 pixels): the coarsest scale must still hold one window.
    data_range
        Distance between the largest and smallest possible pixel values. Required.
    weights
        Scale weights, finest first; default :data:`MS_SSIM_WEIGHTS`. Pass fewer weights (for
        example the first three, renormalised) to score small images on fewer scales.
    win_size, sigma, k1, k2, use_sample_covariance
        As in :func:`ssim`, with Wang's MS-SSIM defaults.
    """
    a, b = as_image_pair(x, y)
    if a.ndim != 2:
        raise ValueError(f"MS-SSIM expects 2D greyscale images, got shape {a.shape}")
    scale_weights = np.asarray(MS_SSIM_WEIGHTS if weights is None else weights, dtype=np.float64)
    if scale_weights.ndim != 1 or scale_weights.size == 0:
        raise ValueError("weights must be a non-empty sequence of numbers")
    n_scales = scale_weights.size
    smallest = win_size * 2 ** (n_scales - 1)
    if min(a.shape) < smallest:
        raise ValueError(
            f"MS-SSIM with {n_scales} scales and a {win_size}x{win_size} window needs images of at least "
            f"{smallest}x{smallest}, got {a.shape}; pass fewer `weights` or use SSIM"
        )
    terms = np.empty(n_scales)
    for level in range(n_scales):
        mean_ssim, mean_cs = ssim_components(
            a,
            b,
            data_range=data_range,
            win_size=win_size,
            gaussian_weights=True,
            sigma=sigma,
            k1=k1,
            k2=k2,
            use_sample_covariance=use_sample_covariance,
        )
        terms[level] = mean_ssim if level == n_scales - 1 else mean_cs
        if level < n_scales - 1:
            a, b = wang_downsample(a, 2), wang_downsample(b, 2)
    return float(np.prod(np.maximum(terms, 0.0) ** scale_weights))
