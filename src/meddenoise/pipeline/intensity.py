"""Per-modality intensity handling: original units → the [0, 1] scale a denoiser expects → back, exactly.

* CT in Hounsfield units goes through a fixed window (``level``/``width``), the one the model was
  trained with (its model card says which). Pixels outside the window are not denoised: they get
  their original values back, so bone, metal and air beyond the window are left exactly as they were.
* MR, X-ray and anything else go through robust percentiles of the image itself (``low``/``high``
  percent), which ignore a few extreme pixels; pixels beyond them are likewise kept.
* ``range`` maps the original dtype's full range (e.g. 0..255 for 8-bit PNG) to [0, 1].

The mapping is a :class:`meddenoise.data.Normalizer` (affine, exactly invertible), so mapping back is
exact up to float rounding: an identity denoiser returns the input unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from meddenoise.data import Normalizer

__all__ = ["IntensitySpec", "fit_intensity", "from_unit", "to_unit"]

CT_MODALITIES = frozenset({"CT"})


@dataclass(frozen=True)
class IntensitySpec:
    """How to map an image's original units to [0, 1] for a denoiser.

    Parameters
    ----------
    method
        ``"auto"`` (CT in HU → ``window``; everything else → ``percentile``), ``"window"``,
        ``"percentile"`` or ``"range"``.
    level, width
        CT window centre and width in HU (``window``, and CT under ``auto``).
    low, high
        Percentiles in percent (``percentile``, and non-CT under ``auto``).
    """

    method: Literal["auto", "window", "percentile", "range"] = "auto"
    level: float = 0.0
    width: float = 2048.0
    low: float = 0.5
    high: float = 99.5

    def __post_init__(self) -> None:
        if self.method not in ("auto", "window", "percentile", "range"):
            raise ValueError(f"unknown intensity method {self.method!r}")
        if self.width <= 0:
            raise ValueError(f"window width must be positive, got {self.width}")
        if not 0.0 <= self.low < self.high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.low}, {self.high}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for model cards)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntensitySpec:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {k: data[k] for k in ("method", "level", "width", "low", "high") if k in data}
        return cls(**known)

    def describe(self) -> str:
        """One-line human description, e.g. ``CT window L0/W2048 HU; others percentiles 0.5-99.5``."""
        window = f"CT window L{self.level:g}/W{self.width:g} HU"
        pct = f"percentiles {self.low:g}-{self.high:g}"
        if self.method == "auto":
            return f"{window}; other modalities {pct}"
        if self.method == "window":
            return window
        if self.method == "percentile":
            return pct
        return "full range of the stored data type"


def to_unit(normalizer: Normalizer, pixels: np.ndarray) -> np.ndarray:
    """Original units → float32 [0, 1] (clipped) with ``normalizer``."""
    return normalizer.forward(pixels)  # type: ignore[return-value]


def from_unit(normalizer: Normalizer, unit: np.ndarray, *, original: np.ndarray) -> np.ndarray:
    """[0, 1] → original units (float32); pixels of ``original`` outside the normaliser's range keep their value.

    Those pixels were clipped on the way in, so the denoiser never saw them: returning them untouched
    is the only faithful answer (and makes an identity denoiser an exact round trip).
    """
    back = normalizer.inverse(np.clip(unit, 0.0, 1.0))
    orig = np.asarray(original, dtype=np.float32)
    outside = (orig < normalizer.low) | (orig > normalizer.high)
    return np.where(outside, orig, back).astype(np.float32)


def fit_intensity(
    pixels: np.ndarray,
    spec: IntensitySpec,
    *,
    modality: str | None = None,
    units: str | None = None,
    original_dtype: np.dtype | str | None = None,
) -> Normalizer:
    """Choose the mapping of ``pixels`` (original units) to [0, 1] following ``spec`` and the modality.

    Under ``auto``, CT goes through the window when its pixels are in HU (``units`` ``"HU"``, or
    unknown units with a modality of CT); every other image goes through its percentiles.
    """
    arr = np.asarray(pixels, dtype=np.float32)
    method = spec.method
    if method == "auto":
        is_hu = (units or "").upper() == "HU" or ((modality or "").upper() in CT_MODALITIES and not units)
        method = "window" if is_hu else "percentile"
    if method == "window":
        return Normalizer.from_window(spec.level, spec.width, units=units or "HU")
    if method == "percentile":
        # a strided sample keeps the percentiles of very large images cheap
        sample = arr if arr.size <= 4_000_000 else arr.reshape(-1)[:: max(1, arr.size // 4_000_000)]
        return Normalizer.from_percentiles(sample, lower=spec.low, upper=spec.high, units=units or "")
    if original_dtype is not None and np.issubdtype(np.dtype(original_dtype), np.integer):
        return Normalizer.for_dtype(original_dtype)
    return Normalizer.from_minmax(arr, units=units or "")
