"""Choosing a filter's parameters without the clean image (J-invariance) or on training pairs.

* :class:`CalibratedDenoiser` re-tunes one parameter on every image it denoises by minimising the
  self-supervised J-invariant loss (Batson & Royer 2019) with
  :func:`skimage.restoration.calibrate_denoiser`: no clean image is needed.
* :func:`tune_classical` picks the parameters that score best on training images whose clean
  versions are known, then those parameters are used unchanged on the test images. The papers'
  baselines look untuned; tuned ones are far stronger at heavy noise (``FINDINGS.md``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
from skimage.restoration import calibrate_denoiser
from tqdm.auto import tqdm

from meddenoise.classical.filters import ClassicalDenoiser
from meddenoise.denoiser import Denoiser, as_float_image

__all__ = ["DEFAULT_GRIDS", "CalibratedDenoiser", "tune_classical"]

#: The parameter each filter is calibrated or tuned over by default (the knob that matters most).
DEFAULT_GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "median": {"size": (3, 5, 7)},
    "gaussian": {"width": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)},
    "bilateral": {"color_factor": (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)},
    "nlmeans": {"h_factor": (0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0)},
    "tv": {"weight_factor": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)},
    "wavelet": {"sigma_factor": (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)},
    "bm3d": {"sigma_factor": (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)},
}


def _grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not grid:
        raise ValueError("the parameter grid is empty")
    keys = list(grid)
    for key in keys:
        if len(grid[key]) == 0:
            raise ValueError(f"the grid of parameter {key!r} has no values")
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


class CalibratedDenoiser(Denoiser):
    """A classical filter whose parameter is chosen per image by J-invariant self-calibration.

    The candidate minimising the J-invariant loss on the noisy image is then applied as the plain
    (not masked) filter, which scores better than scikit-image's J-invariant version.

    Parameters
    ----------
    base
        The filter class (e.g. :class:`~meddenoise.classical.filters.NLMeansDenoiser`).
    grid
        Parameter name → candidate values; default :data:`DEFAULT_GRIDS` for the filter.
    stride
        Stride of the J-invariant masking grid (scikit-image's ``calibrate_denoiser``); the filter
        runs ``stride**2`` times per candidate.
    **fixed
        Other parameters of the filter, kept fixed.
    """

    def __init__(
        self,
        base: type[ClassicalDenoiser],
        *,
        grid: Mapping[str, Sequence[Any]] | None = None,
        stride: int = 4,
        **fixed: Any,
    ) -> None:
        self.base = base
        self.grid = dict(grid if grid is not None else DEFAULT_GRIDS[base.name])
        self.points = _grid_points(self.grid)
        self.fixed = fixed
        self.stride = int(stride)
        base.from_params(
            **fixed
        )  # validates the fixed parameters (and, for BM3D, that the package is present)
        self.name = f"calibrated-{base.name}"
        self.uses_sigma = base.uses_sigma
        #: The parameters chosen for the most recent image (for logging).
        self.last_params: dict[str, Any] | None = None

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        image = as_float_image(image)
        probe = self.base.from_params(**self.fixed)
        noise = probe.noise_level(image, sigma) if self.base.uses_sigma else None

        def run(img: np.ndarray, **params: Any) -> np.ndarray:
            return self.base.from_params(**{**self.fixed, **params}).denoise_image(
                img.astype(np.float32), sigma=noise
            )

        best = calibrate_denoiser(
            image,
            run,
            {key: list(values) for key, values in self.grid.items()},
            stride=self.stride,
        )
        # `best` is the J-invariant (masked) version of the filter, which is worse than the plain
        # filter with the same parameters: only its parameters are kept.
        self.last_params = dict(best.keywords["denoiser_kwargs"])
        return run(image, **self.last_params)

    def __repr__(self) -> str:
        return f"CalibratedDenoiser({self.base.__name__}, grid={self.grid!r}, fixed={self.fixed!r})"


@overload
def tune_classical(
    name: str,
    clean: np.ndarray,
    noisy: np.ndarray,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    metric: str = "ssim",
    data_range: float = 1.0,
    sigma: float | None = None,
    fixed: Mapping[str, Any] | None = None,
    return_scores: Literal[False] = False,
    progress: bool = False,
) -> dict[str, Any]: ...


@overload
def tune_classical(
    name: str,
    clean: np.ndarray,
    noisy: np.ndarray,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    metric: str = "ssim",
    data_range: float = 1.0,
    sigma: float | None = None,
    fixed: Mapping[str, Any] | None = None,
    return_scores: Literal[True],
    progress: bool = False,
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], float]]]: ...


def tune_classical(
    name: str,
    clean: np.ndarray,
    noisy: np.ndarray,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    metric: str = "ssim",
    data_range: float = 1.0,
    sigma: float | None = None,
    fixed: Mapping[str, Any] | None = None,
    return_scores: bool = False,
    progress: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], list[tuple[dict[str, Any], float]]]:
    """Grid-search a classical filter's parameters on training pairs (clean, noisy).

    Parameters
    ----------
    name
        Filter name, one of :data:`~meddenoise.classical.CLASSICAL_METHODS`.
    clean, noisy
        Training images ``(N, H, W)`` (or one ``(H, W)`` pair) in [0, 1].
    grid
        Parameter name → candidate values (every combination is tried); default
        :data:`DEFAULT_GRIDS` for the filter. Any constructor keyword may be searched, e.g.
        ``{"h": [0.05, 0.1, 0.2]}`` for an absolute NL-means strength.
    metric
        Name in :data:`meddenoise.metrics.METRICS` whose mean over the images is optimised
        (maximised, or minimised for errors such as ``"mse"``).
    data_range
        Data range handed to the metric.
    sigma
        Noise std given to noise-aware filters; ``None`` lets them estimate it per image.
    fixed
        Parameters held fixed during the search.
    return_scores
        Also return every grid point with its mean score.
    progress
        Show a progress bar over the grid.

    Returns
    -------
    dict or (dict, list)
        The best parameters (``fixed`` merged in), and with ``return_scores`` the list of
        ``(params, mean score)`` for every grid point.
    """
    from meddenoise.classical import get_classical
    from meddenoise.metrics import HIGHER_IS_BETTER, get_metric, metric_batch

    clean_arr = as_float_image(clean)
    noisy_arr = as_float_image(noisy)
    if clean_arr.shape != noisy_arr.shape:
        raise ValueError(f"clean and noisy images differ in shape: {clean_arr.shape} vs {noisy_arr.shape}")
    metric_fn = get_metric(metric)
    higher_is_better = HIGHER_IS_BETTER[metric.strip().lower().replace("-", "_")]
    search = grid if grid is not None else DEFAULT_GRIDS[name]
    scores: list[tuple[dict[str, Any], float]] = []
    for point in tqdm(_grid_points(search), desc=f"tuning {name}", disable=not progress):
        params = {**(fixed or {}), **point}
        denoised = get_classical(name, **params)(noisy_arr, sigma=sigma)
        score = float(np.mean(metric_batch(metric_fn, denoised, clean_arr, data_range=data_range)))
        scores.append((params, score))
    pick = max if higher_is_better else min
    best_params, _ = pick(scores, key=lambda item: item[1])
    return (dict(best_params), scores) if return_scores else dict(best_params)
