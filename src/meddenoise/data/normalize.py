"""Invertible intensity normalisation between original units (HU, counts, ...) and [0, 1].

A :class:`Normalizer` is a linear map ``y = (x - low) / (high - low)`` followed by clipping to [0, 1].
Its parameters are two numbers, so it travels with an image as a small dict (:meth:`Normalizer.to_dict`).

Exact invertibility
-------------------
* Inside ``[low, high]`` :meth:`Normalizer.inverse` undoes :meth:`Normalizer.forward` up to float32
  rounding of the [0, 1] value: the error is at most ``(high - low) * 2**-24`` (plus float32 rounding of
  the result), far below one unit of any integer-stored image up to 2**16 levels wide, so
  ``rint(inverse(forward(x))) == x`` for every integer ``x`` in the range (DICOM stored values, 8/16-bit
  PNG). The writers round to the stored grid, so files round-trip bit for bit.
* Outside ``[low, high]`` (a CT window, percentile clipping) the clipped part is not in ``y``.
  :meth:`Normalizer.forward` with ``return_residual=True`` also returns ``x - clip(x)``, zero inside the
  range; ``inverse(y, residual=residual)`` adds it back, so a round trip restores out-of-range values
  too, and a *denoised* ``y`` mapped back keeps the original out-of-window values (offset by the
  denoiser's change at the clip level). Without the residual, inverse maps into ``[low, high]`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from meddenoise.io.image import MedicalImage

__all__ = ["CT_DEFAULT_RANGE", "CT_WINDOWS", "NormalizationMethod", "Normalizer"]

NormalizationMethod = Literal["range", "dtype", "minmax", "percentile", "window"]

#: Default HU range for CT when no window is asked for: what 12-bit CT stores after the usual
#: intercept of -1024 (air -1000 to dense bone/metal ~3000).
CT_DEFAULT_RANGE = (-1024.0, 3071.0)
#: Common CT windows as (level, width) in HU.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "soft-tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (60.0, 400.0),
}


@dataclass(frozen=True)
class Normalizer:
    """Linear map of ``[low, high]`` (original units) onto [0, 1], clipped; exactly invertible inside.

    Build one with :meth:`from_range`, :meth:`for_dtype`, :meth:`from_percentiles`,
    :meth:`from_window`, :meth:`from_minmax` or :meth:`for_image`.
    """

    low: float
    high: float
    method: str = "range"
    params: Mapping[str, Any] = field(default_factory=dict)
    units: str = ""

    def __post_init__(self) -> None:
        low, high = float(self.low), float(self.high)
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"normalisation range must be finite, got [{low}, {high}]")
        if not high > low:
            raise ValueError(f"normalisation range must have high > low, got [{low}, {high}]")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "params", dict(self.params))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_range(cls, low: float, high: float, *, units: str = "") -> Normalizer:
        """Map ``[low, high]`` onto [0, 1]."""
        return cls(low, high, method="range", units=units)

    @classmethod
    def for_dtype(cls, dtype: np.dtype | str | type, *, bits: int | None = None) -> Normalizer:
        """Full range of an integer dtype (or of ``bits`` unsigned bits): uint8 → [0, 255], uint16 → [0, 65535]."""
        dt = np.dtype(dtype)
        if not np.issubdtype(dt, np.integer):
            raise ValueError(f"dtype range normalisation needs an integer dtype, got {dt}")
        if bits is not None:
            info_min, info_max = (
                (0, 2**bits - 1) if dt.kind == "u" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            )
        else:
            info = np.iinfo(dt)
            info_min, info_max = info.min, info.max
        return cls(info_min, info_max, method="dtype", params={"dtype": dt.name, "bits": bits})

    @classmethod
    def from_minmax(cls, x: np.ndarray, *, units: str = "") -> Normalizer:
        """The data's own min/max (a constant image maps onto [min, min + 1])."""
        arr = np.asarray(x, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        return cls(lo, hi if hi > lo else lo + 1.0, method="minmax", units=units)

    @classmethod
    def from_percentiles(
        cls, x: np.ndarray, *, lower: float = 0.5, upper: float = 99.5, units: str = ""
    ) -> Normalizer:
        """Map the ``lower``/``upper`` percentiles of ``x`` onto 0 and 1 (robust to outliers)."""
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"need 0 <= lower < upper <= 100, got {lower}, {upper}")
        arr = np.asarray(x, dtype=np.float64)
        lo, hi = (float(v) for v in np.percentile(arr, [lower, upper]))
        if not hi > lo:
            lo, hi = float(arr.min()), float(arr.max())
            hi = hi if hi > lo else lo + 1.0
        return cls(lo, hi, method="percentile", params={"lower": lower, "upper": upper}, units=units)

    @classmethod
    def from_window(cls, level: float | str, width: float | None = None, *, units: str = "HU") -> Normalizer:
        """A CT window: ``[level - width/2, level + width/2]``; ``level`` may name one of :data:`CT_WINDOWS`."""
        if isinstance(level, str):
            if level not in CT_WINDOWS:
                raise ValueError(f"unknown CT window {level!r}; known: {', '.join(CT_WINDOWS)}")
            level, width = CT_WINDOWS[level]
        if width is None or not width > 0:
            raise ValueError(f"window width must be > 0, got {width}")
        level, width = float(level), float(width)
        return cls(
            level - width / 2,
            level + width / 2,
            method="window",
            params={"level": level, "width": width},
            units=units,
        )

    @classmethod
    def for_image(
        cls, image: MedicalImage, *, method: NormalizationMethod = "range", **kwargs: Any
    ) -> Normalizer:
        """A normaliser for a read image by one explicit low-level method.

        ``"range"`` → ``meta.value_range``; ``"dtype"``, ``"minmax"``, ``"percentile"`` (``lower``,
        ``upper``), ``"window"`` (``level``, ``width``). The project's intensity *policy* (which mapping
        a modality gets, and the ``auto`` rule) is :func:`meddenoise.data.intensity_for_image`, the one
        place that decides it; this method only builds the mapping it is asked for.
        """
        meta = image.meta
        units = meta.units
        if method == "range":
            return cls(*meta.value_range, method="range", units=units)
        if method == "dtype":
            return cls.for_dtype(meta.dtype, **kwargs)
        if method == "minmax":
            return cls.from_minmax(image.pixels, units=units)
        if method == "percentile":
            return cls.from_percentiles(image.pixels, units=units, **kwargs)
        if method == "window":
            return cls.from_window(kwargs.pop("level", "soft-tissue"), kwargs.pop("width", None), units=units)
        raise ValueError(
            f"unknown normalisation method {method!r}"
            + ("; the 'auto' policy is meddenoise.data.intensity_for_image" if method == "auto" else "")
        )

    # ------------------------------------------------------------------ mapping
    @property
    def width(self) -> float:
        return self.high - self.low

    @overload
    def forward(self, x: np.ndarray, *, return_residual: Literal[False] = False) -> np.ndarray: ...
    @overload
    def forward(self, x: np.ndarray, *, return_residual: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...
    @overload
    def forward(
        self, x: np.ndarray, *, return_residual: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...

    def forward(
        self, x: np.ndarray, *, return_residual: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Original units → float32 [0, 1] (clipped); with ``return_residual`` also ``x - clip(x)``.

        The return type follows the flag: an array, or ``(y, residual)`` with ``return_residual=True``
        (see also :meth:`forward_with_residual`).
        """
        arr = np.asarray(x, dtype=np.float64)
        clipped = np.clip(arr, self.low, self.high)
        y = ((clipped - self.low) / self.width).astype(np.float32)
        if not return_residual:
            return y
        return y, (arr - clipped).astype(np.float32)

    __call__ = forward

    def forward_with_residual(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``forward(x, return_residual=True)``: the [0, 1] image and ``x - clip(x)`` (zero inside the range)."""
        return self.forward(x, return_residual=True)

    def inverse(self, y: np.ndarray, *, residual: np.ndarray | None = None) -> np.ndarray:
        """[0, 1] → original units (float32); ``residual`` from :meth:`forward` restores clipped values."""
        arr = np.asarray(y, dtype=np.float64) * self.width + self.low
        if residual is not None:
            arr = arr + np.asarray(residual, dtype=np.float64)
        return arr.astype(np.float32)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; :meth:`from_dict` rebuilds the same normaliser."""
        return {
            "method": self.method,
            "low": self.low,
            "high": self.high,
            "params": dict(self.params),
            "units": self.units,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalizer:
        return cls(
            float(data["low"]),
            float(data["high"]),
            method=str(data.get("method", "range")),
            params=dict(data.get("params", {})),
            units=str(data.get("units", "")),
        )
