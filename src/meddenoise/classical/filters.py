"""Classical denoising filters behind the one :class:`~meddenoise.denoiser.Denoiser` interface.

Every filter is a thin wrapper around SciPy, scikit-image or the ``bm3d`` package. Parameters that
depend on the noise are derived from the noise level ``sigma`` (on the [0, 1] scale): the one the
caller passes, or else the blind wavelet estimate :func:`meddenoise.noise.estimate_sigma` of each
image. None of them needs the clean image.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar

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

_FilterT = TypeVar("_FilterT", bound="ClassicalDenoiser")

#: ``bm3d``'s profiles by the names its ``bm3d()`` accepts, as the public classes that carry a thread count.
_BM3D_PROFILES = {
    "np": "BM3DProfile",
    "refilter": "BM3DProfileRefilter",
    "vn": "BM3DProfileVN",
    "high": "BM3DProfileHigh",
    "vn_old": "BM3DProfileVNOld",
    "deb": "BM3DProfileDeb",
}


class ClassicalDenoiser(Denoiser):
    """Base class of the classical filters: keyword-only parameters, noise-level plumbing, clipping.

    Subclasses set :attr:`name` and :attr:`uses_sigma`, take their parameters as keyword-only
    ``__init__`` arguments (checked there and stored as attributes of the same names) and implement
    :meth:`_filter`. :attr:`defaults` and :attr:`params` are read off that signature. Outputs are
    clipped to [0, 1] in place.
    """

    #: Parameter name → default value, from the keyword-only arguments of the subclass's ``__init__``.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.defaults = {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    @classmethod
    def from_params(cls: type[_FilterT], **params: Any) -> _FilterT:
        """Build the filter from keyword ``params`` read from a config or the command line.

        Raises
        ------
        TypeError
            For a parameter the filter does not take (the message lists the accepted ones).
        """
        unknown = sorted(set(params) - set(cls.defaults))
        if unknown:
            raise TypeError(
                f"{cls.name}: unknown parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(cls.defaults) or 'none'}"
            )
        return cls(**params)

    @property
    def params(self) -> dict[str, Any]:
        """The filter's parameters (every keyword of ``__init__``) with their values."""
        return {key: getattr(self, key) for key in self.defaults}

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


def _positive(owner: str, **values: float | None) -> None:
    """Raise a ValueError naming ``owner`` and the parameter unless each value is None or > 0."""
    for key, value in values.items():
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{owner}: {key} must be a positive number, got {value!r}")


class MedianDenoiser(ClassicalDenoiser):
    """Median filter over a ``size`` x ``size`` square (the papers' baseline; 3 by default).

    Borders are mirrored (``scipy.ndimage`` ``reflect``). A batch is filtered in one call.
    """

    name = "median"
    uses_sigma = False

    def __init__(self, *, size: int = 3) -> None:
        if int(size) != size or size < 1:
            raise ValueError(f"median: size must be a positive integer, got {size!r}")
        self.size = size

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        return ndimage.median_filter(image, size=int(self.size), mode="reflect")

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        size = int(self.size)
        out = ndimage.median_filter(images, size=(1, size, size), mode="reflect")
        return np.clip(out, 0.0, 1.0, out=out)


class GaussianDenoiser(ClassicalDenoiser):
    """Gaussian blur with standard deviation ``width`` pixels (truncated at 4 standard deviations)."""

    name = "gaussian"
    uses_sigma = False

    def __init__(self, *, width: float = 1.0) -> None:
        _positive(self.name, width=width)
        self.width = width

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        return ndimage.gaussian_filter(image, sigma=float(self.width), mode="reflect")

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        out = ndimage.gaussian_filter(images, sigma=float(self.width), mode="reflect", axes=(1, 2))
        return np.clip(out, 0.0, 1.0, out=out)


class BilateralDenoiser(ClassicalDenoiser):
    """Bilateral filter (scikit-image): spatial std ``sigma_spatial`` pixels, range std from the noise.

    The range (intensity) std is ``sigma_color`` when given, else ``color_factor * sigma``:
    differences much larger than the noise are treated as edges and kept.
    """

    name = "bilateral"
    uses_sigma = True

    def __init__(
        self,
        *,
        sigma_color: float | None = None,
        color_factor: float = 2.0,
        sigma_spatial: float = 1.5,
        win_size: int | None = None,
    ) -> None:
        _positive(self.name, sigma_color=sigma_color, color_factor=color_factor, sigma_spatial=sigma_spatial)
        self.sigma_color = sigma_color
        self.color_factor = color_factor
        self.sigma_spatial = sigma_spatial
        self.win_size = win_size

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        color = self.sigma_color
        if color is None:
            color = self.color_factor * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return denoise_bilateral(
            image,
            win_size=self.win_size,
            sigma_color=float(color),
            sigma_spatial=float(self.sigma_spatial),
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

    def __init__(
        self,
        *,
        h: float | None = None,
        h_factor: float = 0.8,
        patch_size: int = 5,
        patch_distance: int = 6,
        fast_mode: bool = True,
    ) -> None:
        _positive(self.name, h=h, h_factor=h_factor, patch_size=patch_size, patch_distance=patch_distance)
        self.h = h
        self.h_factor = h_factor
        self.patch_size = patch_size
        self.patch_distance = patch_distance
        self.fast_mode = fast_mode

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        noise = self.noise_level(image, sigma)
        h = self.h if self.h is not None else self.h_factor * max(noise, _SIGMA_FLOOR)
        return denoise_nl_means(
            image,
            h=float(h),
            sigma=noise,
            patch_size=int(self.patch_size),
            patch_distance=int(self.patch_distance),
            fast_mode=bool(self.fast_mode),
        )


class TVDenoiser(ClassicalDenoiser):
    """Total-variation denoising, Chambolle's projection algorithm (scikit-image).

    The weight (larger = smoother) is ``weight`` when given, else ``weight_factor * sigma``.
    """

    name = "tv"
    uses_sigma = True

    def __init__(
        self, *, weight: float | None = None, weight_factor: float = 1.0, max_num_iter: int = 200
    ) -> None:
        _positive(self.name, weight=weight, weight_factor=weight_factor, max_num_iter=max_num_iter)
        self.weight = weight
        self.weight_factor = weight_factor
        self.max_num_iter = max_num_iter

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        weight = self.weight
        if weight is None:
            weight = self.weight_factor * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return denoise_tv_chambolle(image, weight=float(weight), max_num_iter=int(self.max_num_iter))


class WaveletDenoiser(ClassicalDenoiser):
    """Wavelet shrinkage with BayesShrink thresholds (Chang, Yu & Vetterli 2000; scikit-image).

    The noise std handed to the thresholding rule is ``sigma_factor * sigma``.
    """

    name = "wavelet"
    uses_sigma = True

    def __init__(
        self,
        *,
        wavelet: str = "db2",
        mode: Literal["soft", "hard"] = "soft",
        levels: int | None = None,
        method: Literal["BayesShrink", "VisuShrink"] = "BayesShrink",
        sigma_factor: float = 1.0,
    ) -> None:
        _positive(self.name, sigma_factor=sigma_factor)
        if method not in ("BayesShrink", "VisuShrink"):
            raise ValueError(f"wavelet: method must be BayesShrink or VisuShrink, got {method!r}")
        self.wavelet = wavelet
        self.mode = mode
        self.levels = levels
        self.method = method
        self.sigma_factor = sigma_factor

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        noise = self.sigma_factor * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return denoise_wavelet(
            image,
            sigma=noise,
            wavelet=self.wavelet,
            mode=self.mode,
            wavelet_levels=self.levels,
            method=self.method,
            rescale_sigma=True,
        )


class BM3DDenoiser(ClassicalDenoiser):
    """BM3D (Dabov et al. 2007) through the optional ``bm3d`` package (non-commercial licence).

    The noise std passed to BM3D is ``sigma_factor * sigma``; ``profile`` is the package's profile
    (``"np"`` normal, ``"refilter"``, ``"vn"``, ``"high"``, ``"deb"``, ``"vn_old"``). ``threads``: the
    package's own threads, 0 for its automatic choice (one per core); 1 runs single-threaded and gives
    the same output on every run, which several threads do not quite (their order of additions varies).

    Raises
    ------
    ImportError
        At construction when ``bm3d`` is not installed, with the install hint.
    ValueError
        For an unknown profile or a negative thread count.
    """

    name = "bm3d"
    uses_sigma = True

    def __init__(self, *, sigma_factor: float = 1.0, profile: str = "np", threads: int = 0) -> None:
        _positive(self.name, sigma_factor=sigma_factor)
        if profile not in _BM3D_PROFILES:
            raise ValueError(
                f"{self.name}: unknown profile {profile!r}; choose from {', '.join(_BM3D_PROFILES)}"
            )
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"{self.name}: threads must be an integer >= 0 (0: automatic), got {threads!r}")
        self.sigma_factor = sigma_factor
        self.profile = profile
        self.threads = threads
        try:
            import bm3d
        except ImportError as exc:
            raise ImportError(BM3D_MISSING_MESSAGE) from exc
        self._bm3d: Callable[..., np.ndarray] = bm3d.bm3d
        self._profile = getattr(bm3d, _BM3D_PROFILES[profile])()
        self._profile.num_threads = threads

    def _filter(self, image: np.ndarray, sigma: float | None) -> np.ndarray:
        noise = self.sigma_factor * max(self.noise_level(image, sigma), _SIGMA_FLOOR)
        return self._bm3d(image, sigma_psd=noise, profile=self._profile)
