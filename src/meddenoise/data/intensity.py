"""THE intensity policy: how an image's original units map to the [0, 1] scale a denoiser sees, and back.

Every entry point (training data, ``train``, ``denoise``, ``denoise-with``, ``noise``, ``convert``,
``evaluate``, the Python API, the demo) maps intensities through :func:`fit_intensity` with an
:class:`IntensitySpec`; there is no other definition of any of the methods below.

Methods
-------
``range`` (:data:`DEFAULT_INTENSITY`: training data, ``noise``, ``convert``, checkpoints)
    The nominal range of the stored values: CT in HU → -1024..3071 HU
    (:data:`~meddenoise.data.CT_DEFAULT_RANGE`, what 12-bit CT stores); integer raster files (PNG, TIFF,
    PGM: 8-bit /255, 16-bit /65535) and integer arrays → their stored range; anything else (other
    DICOM, NIfTI, float data) → the image's min/max.
``auto`` (classical filters; the ``general`` shipped model)
    CT in HU → the ``window`` below (default L0/W2048 HU); everything else → the ``percentile`` below.
``window``
    A CT window ``[level - width/2, level + width/2]`` in HU (the ``ct`` shipped model: L0/W2048).
``percentile``
    Robust percentiles ``low``/``high`` (percent) of the image itself (``xray`` shipped model), or, with
    ``smooth`` (px), of a copy of it smoothed within each slice by a Gaussian of that std (``mri``: 1.5):
    the percentiles of a noisy image are wider than those of the clean image a network was trained on by
    about 2.4 noise stds at 0.5 %, so its darkest content (an MR image's zero background) does not reach 0
    on the network's scale; the smoothed copy's percentiles are close to the clean image's.
``minmax``
    The image's own min/max.

Which spec a denoiser gets
--------------------------
A shipped model uses the spec on its model card; a checkpoint the ``intensity`` of its
:class:`~meddenoise.training.TrainConfig` (recorded by ``meddenoise train``; a checkpoint from before
it was recorded is assumed to use :data:`DEFAULT_INTENSITY`, which is what training used then, and
says so once); a classical filter :data:`CLASSICAL_INTENSITY`. Data preparation (training data,
``noise``, ``convert``, ``evaluate``) uses :data:`DEFAULT_INTENSITY` unless told otherwise.

The mapping is a :class:`~meddenoise.data.Normalizer` (affine, exactly invertible inside its range).
Pixels outside the range are clipped on the way in; :func:`from_unit` gives them their original value
back, so an identity denoiser is an exact round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, TypedDict

import numpy as np
from pydantic.dataclasses import dataclass

from meddenoise.data.normalize import CT_DEFAULT_RANGE, Normalizer
from meddenoise.io.image import ImageMeta, MedicalImage

__all__ = [
    "AIR_HU",
    "CLASSICAL_INTENSITY",
    "DEFAULT_INTENSITY",
    "FLOOR_NOISE_MARGIN",
    "INTENSITY_METHODS",
    "NOISE_TAIL_STDS",
    "IntensityMethod",
    "IntensitySpec",
    "fit_intensity",
    "floor_noise_margin",
    "from_unit",
    "intensity_for_image",
    "meta_intensity_args",
    "noise_margins",
    "percentile_sample_step",
    "to_unit",
]

IntensityMethod = Literal["range", "auto", "window", "percentile", "minmax"]
INTENSITY_METHODS: tuple[str, ...] = ("range", "auto", "window", "percentile", "minmax")

#: Formats whose integer stored range says little about the signal (their stored type is wide).
_WIDE_FORMATS = frozenset({"dicom", "nifti"})
#: A strided sample keeps the percentiles of very large images cheap.
_PERCENTILE_SAMPLE = 4_000_000
#: The largest ``IntensitySpec.smooth`` (px): beyond it the smoothed copy no longer holds the image's range.
_MAX_SMOOTH = 8.0


#: CT air in HU: the physical floor of CT values (a HU mapping starting at or below it, see
#: :func:`floor_noise_margin`, has only noise and padding under its low edge).
AIR_HU = -1000.0
#: The share of such a mapping's width under its low edge that the denoiser still sees unclipped.
FLOOR_NOISE_MARGIN = 0.1
#: How many noise stds past the edges of a mapping fitted to the noisy image (percentiles, min..max) the
#: denoiser still sees unclipped (:func:`noise_margins`).
NOISE_TAIL_STDS = 4.0


def percentile_sample_step(size: int) -> int:
    """Every how many pixels of ``size`` (flattened) a percentile mapping is fitted on: 1 up to
    ``_PERCENTILE_SAMPLE`` pixels, then a regular sample of about that many."""
    return 1 if size <= _PERCENTILE_SAMPLE else size // _PERCENTILE_SAMPLE


@dataclass(frozen=True)
class IntensitySpec:
    """How to map an image's original units to [0, 1] for a denoiser (see the module docstring).

    Parameters
    ----------
    method
        ``"range"``, ``"auto"``, ``"window"``, ``"percentile"`` or ``"minmax"``.
    level, width
        CT window centre and width in HU (``window``, and CT under ``auto``).
    low, high
        Percentiles in percent (``percentile``, and non-CT under ``auto``).
    smooth
        ``percentile``: the std (px) of the Gaussian the image is smoothed by, within each slice, before its
        percentiles are taken; 0 (default): the image itself. Left out of :meth:`to_dict` when 0.

    Examples
    --------
    >>> IntensitySpec("window", level=40, width=400).describe()
    'CT window L40/W400 HU'
    >>> IntensitySpec.from_dict({"method": "percentile", "unknown": 1}).method
    'percentile'
    """

    method: IntensityMethod = "range"
    level: float = 0.0
    width: float = 2048.0
    low: float = 0.5
    high: float = 99.5
    smooth: float = 0.0

    def __post_init__(self) -> None:
        if self.width <= 0:
            raise ValueError(f"window width must be positive, got {self.width}")
        if not 0.0 <= self.low < self.high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.low}, {self.high}")
        if not 0.0 <= self.smooth <= _MAX_SMOOTH:
            raise ValueError(f"percentile smoothing must be 0-{_MAX_SMOOTH:g} px, got {self.smooth}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (model cards, checkpoint configs); ``smooth`` only when set."""
        data = asdict(self)
        if not self.smooth:
            del data["smooth"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntensitySpec:
        """Inverse of :meth:`to_dict`; unknown keys are ignored.

        Raises
        ------
        ValueError
            For an unknown method or invalid numbers.
        """
        known = {k: data[k] for k in ("method", "level", "width", "low", "high", "smooth") if k in data}
        if known.get("method", "range") not in INTENSITY_METHODS:
            raise ValueError(
                f"unknown intensity method {known['method']!r}; choose from {', '.join(INTENSITY_METHODS)}"
            )
        return cls(**known)

    def describe(self) -> str:
        """One-line human description, e.g. ``CT window L0/W2048 HU; other modalities percentiles 0.5-99.5``."""
        window = f"CT window L{self.level:g}/W{self.width:g} HU"
        pct = f"percentiles {self.low:g}-{self.high:g}"
        if self.smooth:
            pct += f" (of the image smoothed by {self.smooth:g} px)"
        if self.method == "auto":
            return f"{window}; other modalities {pct}"
        if self.method == "window":
            return window
        if self.method == "percentile":
            return pct
        if self.method == "minmax":
            return "the image's min..max"
        low, high = CT_DEFAULT_RANGE
        return f"nominal range (CT {low:g}..{high:g} HU; integer raster files their stored range; others min..max)"


#: The one default: training data, ``noise``, ``convert``, ``evaluate``, and checkpoints that record none.
DEFAULT_INTENSITY = IntensitySpec("range")
#: Classical filters: CT through a wide window, others by robust percentiles.
CLASSICAL_INTENSITY = IntensitySpec("auto")


def _percentile_sample(arr: np.ndarray, smooth: float) -> np.ndarray:
    """The values a percentile mapping is fitted on: a regular sample of ``arr`` (flattened), or with
    ``smooth`` of evenly spaced slices of it, each smoothed by a Gaussian of ``smooth`` px (about
    :data:`_PERCENTILE_SAMPLE` values, at least one slice)."""
    if smooth <= 0 or arr.ndim < 2:
        return arr.reshape(-1)[:: percentile_sample_step(arr.size)]
    from scipy import ndimage  # not at import time: the CLI starts without it

    planes = arr.reshape(-1, *arr.shape[-2:])
    keep = max(1, min(len(planes), _PERCENTILE_SAMPLE // max(planes[0].size, 1)))
    chosen = np.unique(np.linspace(0, len(planes) - 1, keep).round().astype(int))
    smoothed = np.stack([ndimage.gaussian_filter(planes[i], smooth, mode="nearest") for i in chosen])
    return smoothed.reshape(-1)[:: percentile_sample_step(smoothed.size)]


def _is_hu(modality: str | None, units: str | None) -> bool:
    return (units or "").upper() == "HU" or ((modality or "").upper() == "CT" and not units)


def fit_intensity(
    pixels: np.ndarray,
    spec: IntensitySpec,
    *,
    modality: str | None = None,
    units: str | None = None,
    original_dtype: np.dtype | str | None = None,
    file_format: str | None = None,
    value_range: tuple[float, float] | None = None,
) -> Normalizer:
    """The mapping of ``pixels`` (original units) to [0, 1] that ``spec`` chooses for this image.

    Parameters
    ----------
    pixels
        The image or stack in original units (percentiles and min/max are taken over all of it).
    spec
        The policy.
    modality, units
        DICOM modality code and pixel units (``"HU"``); CT with unknown units counts as HU.
    original_dtype
        The stored sample type (``range`` uses an integer type's range).
    file_format
        :attr:`meddenoise.io.ImageMeta.format`; under ``range`` integer DICOM and NIfTI use their min/max.
    value_range
        The file's nominal range (:attr:`meddenoise.io.ImageMeta.value_range`); under ``range`` an
        integer raster file uses it rather than its dtype's.
    """
    arr = np.asarray(pixels, dtype=np.float32)
    unit_name = units or ""
    hu = _is_hu(modality, units)
    method = spec.method
    if method == "auto":
        method = "window" if hu else "percentile"
    if method == "window":
        return Normalizer.from_window(spec.level, spec.width, units=units or "HU")
    if method == "percentile":
        sample = _percentile_sample(arr, spec.smooth)
        return Normalizer.from_percentiles(sample, lower=spec.low, upper=spec.high, units=unit_name)
    if method == "range":
        if hu:
            return Normalizer(*CT_DEFAULT_RANGE, method="range", params={"auto": "ct"}, units=units or "HU")
        stored = np.dtype(original_dtype) if original_dtype is not None else None
        if (
            stored is not None
            and np.issubdtype(stored, np.integer)
            and (file_format or "") not in _WIDE_FORMATS
        ):
            if value_range is not None and value_range[1] > value_range[0]:
                return Normalizer(
                    *value_range, method="dtype", params={"dtype": stored.name}, units=unit_name
                )
            return Normalizer.for_dtype(stored)
    return Normalizer.from_minmax(arr, units=unit_name)


class MetaIntensityArgs(TypedDict):
    """What :func:`fit_intensity` (and the pipeline's functions that call it) take from a file's metadata."""

    modality: str | None
    units: str | None
    original_dtype: str | None
    file_format: str | None
    value_range: tuple[float, float] | None


def meta_intensity_args(meta: ImageMeta) -> MetaIntensityArgs:
    """The keyword arguments of :func:`fit_intensity` that describe the file ``meta`` came from."""
    return MetaIntensityArgs(
        modality=meta.modality,
        units=meta.units,
        original_dtype=meta.dtype,
        file_format=meta.format,
        value_range=(float(meta.value_range[0]), float(meta.value_range[1])),
    )


def intensity_for_image(
    image: MedicalImage, spec: IntensitySpec = DEFAULT_INTENSITY, *, pixels: np.ndarray | None = None
) -> Normalizer:
    """:func:`fit_intensity` for an image read by :func:`meddenoise.io.read_image`, with its metadata.

    Fitted on all of its slices, or on ``pixels`` (e.g. one slice of it) when given.
    """
    return fit_intensity(image.pixels if pixels is None else pixels, spec, **meta_intensity_args(image.meta))


def floor_noise_margin(normalizer: Normalizer) -> float:
    """How far under ``normalizer.low`` (in its units) values are noise around a physical floor, not content.

    A HU mapping that starts at or below air (:data:`AIR_HU`, e.g. the -1024..1024 window of the shipped
    ``ct`` model) has nothing under its low edge but noise around air and the scanner's padding (-2048,
    -3024): noisy air a few HU under -1024 is air, and the denoiser should see and denoise it. Such a
    mapping gets :data:`FLOOR_NOISE_MARGIN` of its width (205 HU for the -1024..1024 window), which holds
    4 sigma of 50 HU noise and stays far above the padding. Every other mapping gets 0: a percentile or
    window edge elsewhere (bone above a window, the tails of an X-ray) cuts through real content.
    """
    if _is_hu(None, normalizer.units) and normalizer.low <= AIR_HU:
        return FLOOR_NOISE_MARGIN * normalizer.width
    return 0.0


def noise_margins(
    normalizer: Normalizer, noise_std: float | Callable[[], float] | None
) -> tuple[float, float]:
    """How far under ``normalizer.low`` and over ``normalizer.high`` (its units) values are noise, not content.

    The denoiser sees such values unclipped and they get its output; values further out are content the
    mapping cuts off and keep their own value (:func:`to_unit`, :func:`from_unit`).

    * A HU mapping: :func:`floor_noise_margin` under its low edge, nothing over its high edge. A CT window's
      edges cut real content (bone above it; fat and lung under a soft-tissue window); only air's floor has
      nothing under it but noise.
    * Any other mapping (percentiles, min..max, an integer range): :data:`NOISE_TAIL_STDS` times
      ``noise_std`` on each side. Its edges are fitted to the noisy image, so what lies just past them is
      mostly the noise's own tails: with percentiles 0.5-99.5 and 5 % noise, 1 % of the pixels, the noisiest,
      came back untouched before (measured on MNI152 slices: 1.7 dB of PSNR for the ``mri`` model, 2.1 for
      BM3D). ``noise_std`` ``None`` or 0: no margin; a function giving it (a blind run's estimate) is
      called only here, so a HU mapping never pays for an estimate. The denoiser's output stays within the mapping's
      range, so content (not noise) just past an edge is brought to the edge: at most the margin away.

    Examples
    --------
    >>> noise_margins(Normalizer(0.0, 100.0), 2.0)
    (8.0, 8.0)
    >>> noise_margins(Normalizer.from_window(0, 2048, units="HU"), 20.0)
    (204.8, 0.0)
    """
    if _is_hu(None, normalizer.units):
        return floor_noise_margin(normalizer), 0.0
    if callable(noise_std):
        noise_std = noise_std()
    tail = NOISE_TAIL_STDS * float(noise_std) if noise_std is not None and noise_std > 0 else 0.0
    return tail, tail


def _margins(margin: float | tuple[float, float]) -> tuple[float, float]:
    """``(under low, over high)``; a single number is the margin under ``low`` only."""
    below, above = (margin, 0.0) if isinstance(margin, (int, float)) else margin
    return max(float(below), 0.0), max(float(above), 0.0)


def to_unit(
    normalizer: Normalizer, pixels: np.ndarray, *, margin: float | tuple[float, float] = 0.0
) -> np.ndarray:
    """Original units → float32 [0, 1] (clipped) with ``normalizer``.

    ``margin`` (units; one number: under ``low``; a pair: under ``low`` and over ``high``, e.g.
    :func:`noise_margins`): values that far past an edge map linearly past 0 or 1 instead of onto it (the
    training noise was not clipped either, so a network has seen such values); values further out are
    clipped as before.
    """
    below, above = _margins(margin)
    unit = np.asarray(normalizer.forward(pixels), dtype=np.float32)
    if below <= 0 and above <= 0:
        return unit
    values = np.asarray(pixels, dtype=np.float64)
    near = ((values < normalizer.low) & (values >= normalizer.low - below)) | (
        (values > normalizer.high) & (values <= normalizer.high + above)
    )
    unit[near] = (values[near] - normalizer.low) / normalizer.width  # only the few pixels past the edges
    return unit


def from_unit(
    normalizer: Normalizer,
    unit: np.ndarray,
    *,
    original: np.ndarray,
    margin: float | tuple[float, float] = 0.0,
) -> np.ndarray:
    """[0, 1] → original units (float32); pixels of ``original`` outside the normaliser's range keep their value.

    Those pixels were clipped on the way in, so the denoiser never saw them: returning them untouched
    is the only faithful answer (and makes an identity denoiser an exact round trip). ``margin`` (as in
    :func:`to_unit`): the pixels :func:`to_unit` passed unclipped past an edge (within the margin of it)
    were seen, so they get the denoiser's value like every pixel inside, and the output may go as far past
    the edge (an identity denoiser stays an exact round trip).
    """
    below, above = _margins(margin)
    width = normalizer.width
    back = normalizer.inverse(np.clip(unit, -below / width, 1.0 + above / width))
    orig = np.asarray(original, dtype=np.float32)
    outside = (orig < normalizer.low - below) | (orig > normalizer.high + above)
    return np.where(outside, orig, back).astype(np.float32)
