"""Classical denoising filters behind the one :class:`~meddenoise.denoiser.Denoiser` interface.

Every filter is a thin wrapper around SciPy, scikit-image or the ``bm3d`` package. Parameters that
depend on the noise are derived from the noise level ``sigma`` (on the [0, 1] scale): the one the
caller passes, or else the blind wavelet estimate :func:`meddenoise.noise.estimate_sigma` of each
image. None of them needs the clean image.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import ndimage
from skimage.restoration import denoise_bilateral, denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

from meddenoise._optional import missing_message
from meddenoise.denoiser import Denoiser
from meddenoise.noise import estimate_sigma

__all__ = [
    "BM3D_MISSING_MESSAGE",
    "BM3DDenoiser",
    "BilateralDenoiser",
    "ClassicalDenoiser",
    "GaussianDenoiser",
    "MedianDenoiser",
    "NLMeansDenoiser",
    "TVDenoiser",
    "WaveletDenoiser",
]

#: Declared with the other optional back ends in :mod:`meddenoise._optional`.
BM3D_MISSING_MESSAGE = missing_message("bm3d", what="BM3D")

# Below this the noise is treated as absent: filters whose strength scales with sigma become
# (near) identities instead of dividing by zero.
_SIGMA_FLOOR = 1e-4


class ClassicalDenoiser(Denoiser):
    """Base class of the classical filters: keyword-only parameters, noise-level plumbing, clipping.

    Subclasses set :attr:`name`, :attr:`uses_sigma`, :attr:`defaults` (every parameter with its
    default) and implement :meth:`_filter`. Outputs are clipped to [0, 1] in place.
    """

    #: Parameter name → default value; the constructor accepts exactly these keywords.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(self.defaults) or 'none'}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._validate()

    def _validate(self) -> None:
        """Check :attr:`params`; raise ValueError naming the filter and the parameter."""

    def noise_level(self, image: np.ndarray, sigma: float | None) -> float:
        """The noise std to use for ``image``: ``sigma`` when given, else the blind estimate."""
        if sigma is not None:
            if not np.isfinite(sigma) or sigma < 0:
                raise ValueError(f"{self.name}: sigma must be a finite number >= 0, got {sigma!r}")
            return float(sigma)
        return estimate_sigma(image)

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        raise NotImplementedError

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        out = np.asarray(self._filter(image, sigma), dtype=np.float32)
        return np.clip(out, 0.0, 1.0, out=out)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _positive(name: str, params: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = params[key]
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name}: {key} must be a positive number, got {value!r}")


class MedianDenoiser(ClassicalDenoiser):
    """Median filter over a ``size`` x ``size`` square (the papers' baseline; 3 by default).

    Borders are mirrored (``scipy.ndimage`` ``reflect``). A batch is filtered in one call.
    """

    name = "median"
    uses_sigma = False
    defaults: ClassVar[dict[str, Any]] = {"size": 3}

    def _validate(self) -> None:
        size = self.params["size"]
        if int(size) != size or size < 1:
            raise ValueError(f"median: size must be a positive integer, got {size!r}")

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        return ndimage.median_filter(image, size=int(self.params["size"]), mode="reflect")

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        size = int(self.params["size"])
        out = ndimage.median_filter(images, size=(1, size, size), mode="reflect")
        return np.clip(out, 0.0, 1.0, out=out)


class GaussianDenoiser(ClassicalDenoiser):
    """Gaussian blur with standard deviation ``width`` pixels (truncated at 4 standard deviations)."""

    name = "gaussian"
    uses_sigma = False
    defaults: ClassVar[dict[str, Any]] = {"width": 1.0}

    def _validate(self) -> None:
        _positive(self.name, self.params, "width")

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        return ndimage.gaussian_filter(image, sigma=float(self.params["width"]), mode="reflect")

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        out = ndimage.gaussian_filter(images, sigma=float(self.params["width"]), mode="reflect", axes=(1, 2))
        return np.clip(out, 0.0, 1.0, out=out)


class BilateralDenoiser(ClassicalDenoiser):
    """Bilateral filter (scikit-image): spatial std ``sigma_spatial`` pixels, range std from the noise.

    The range (intensity) std is ``sigma_color`` when given, else ``color_factor * sigma``:
    differences much larger than the noise are treated as edges and kept.
    """

    name = "bilateral"
    uses_sigma = True
    defaults: ClassVar[dict[str, Any]] = {
        "sigma_color": None,
        "color_factor": 2.0,
        "sigma_spatial": 1.5,
        "win_size": None,
    }

    def _validate(self) -> None:
        _positive(self.name, self.params, "sigma_color", "color_factor", "sigma_spatial")

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        p = self.params
        color = p["sigma_color"]
        if color is None:
            color = p["color_factor"] * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return denoise_bilateral(
            image,
            win_size=p["win_size"],
            sigma_color=float(color),
            sigma_spatial=float(p["sigma_spatial"]),
            mode="reflect",
        )


class NLMeansDenoiser(ClassicalDenoiser):
    """Non-local means (scikit-image, fast mode by default; Buades et al. 2005).

    The filtering strength is ``h`` when given, else ``h_factor * sigma`` (scikit-image recommends
    about 0.8 sigma in fast mode and 0.6 sigma otherwise); ``sigma`` is also passed to
    scikit-image, which subtracts the expected noise from the patch distances.
    """

    name = "nlmeans"
    uses_sigma = True
    defaults: ClassVar[dict[str, Any]] = {
        "h": None,
        "h_factor": 0.8,
        "patch_size": 5,
        "patch_distance": 6,
        "fast_mode": True,
    }

    def _validate(self) -> None:
        _positive(self.name, self.params, "h", "h_factor", "patch_size", "patch_distance")

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        p = self.params
        noise = self.noise_level(image, sigma)
        h = p["h"] if p["h"] is not None else p["h_factor"] * max(noise, _SIGMA_FLOOR)
        return denoise_nl_means(
            image,
            h=float(h),
            sigma=noise,
            patch_size=int(p["patch_size"]),
            patch_distance=int(p["patch_distance"]),
            fast_mode=bool(p["fast_mode"]),
        )


class TVDenoiser(ClassicalDenoiser):
    """Total-variation denoising, Chambolle's projection algorithm (scikit-image).

    The weight (larger = smoother) is ``weight`` when given, else ``weight_factor * sigma``.
    """

    name = "tv"
    uses_sigma = True
    defaults: ClassVar[dict[str, Any]] = {"weight": None, "weight_factor": 1.0, "max_num_iter": 200}

    def _validate(self) -> None:
        _positive(self.name, self.params, "weight", "weight_factor", "max_num_iter")

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        p = self.params
        weight = p["weight"]
        if weight is None:
            weight = p["weight_factor"] * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return denoise_tv_chambolle(image, weight=float(weight), max_num_iter=int(p["max_num_iter"]))


class WaveletDenoiser(ClassicalDenoiser):
    """Wavelet shrinkage with BayesShrink thresholds (Chang, Yu & Vetterli 2000; scikit-image).

    The noise std handed to the thresholding rule is ``sigma_factor * sigma``.
    """

    name = "wavelet"
    uses_sigma = True
    defaults: ClassVar[dict[str, Any]] = {
        "wavelet": "db2",
        "mode": "soft",
        "levels": None,
        "method": "BayesShrink",
        "sigma_factor": 1.0,
    }

    def _validate(self) -> None:
        _positive(self.name, self.params, "sigma_factor")
        if self.params["method"] not in ("BayesShrink", "VisuShrink"):
            raise ValueError(
                f"wavelet: method must be BayesShrink or VisuShrink, got {self.params['method']!r}"
            )

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        p = self.params
        noise = p["sigma_factor"] * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return denoise_wavelet(
            image,
            sigma=noise,
            wavelet=p["wavelet"],
            mode=p["mode"],
            wavelet_levels=p["levels"],
            method=p["method"],
            rescale_sigma=True,
        )


class BM3DDenoiser(ClassicalDenoiser):
    """BM3D (Dabov et al. 2007) through the optional ``bm3d`` package (non-commercial licence).

    The noise std passed to BM3D is ``sigma_factor * sigma``; ``profile`` is the package's profile
    (``"np"`` normal, ``"refilter"``, ``"vn"``, ``"high"``, ``"deb"``).

    Raises
    ------
    ImportError
        At construction when ``bm3d`` is not installed, with the install hint.
    """

    name = "bm3d"
    uses_sigma = True
    defaults: ClassVar[dict[str, Any]] = {"sigma_factor": 1.0, "profile": "np"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        try:
            import bm3d
        except ImportError as exc:
            raise ImportError(BM3D_MISSING_MESSAGE) from exc
        self._bm3d = bm3d.bm3d

    def _validate(self) -> None:
        _positive(self.name, self.params, "sigma_factor")

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        p = self.params
        noise = p["sigma_factor"] * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return self._bm3d(image, sigma_psd=noise, profile=p["profile"])
