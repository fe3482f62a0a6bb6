"""The numbers the viewer shows beside the pixels: noise level, default windows, PSNR/SSIM, slice encoding."""

from __future__ import annotations

import numpy as np

from meddenoise.metrics import psnr, ssim
from meddenoise.noise import estimate_noise_in_units

__all__ = [
    "CT_PRESETS",
    "auto_window",
    "default_window",
    "encode_slice",
    "noise_level",
    "reference_scores",
]

#: Window presets for CT in HU: name -> (level, width).
CT_PRESETS: dict[str, tuple[float, float]] = {
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}


def noise_level(pixels: np.ndarray, units: str | None = None) -> float:
    """Blind estimate of the noise standard deviation of one slice, in the slice's own units.

    The estimate ``meddenoise denoise --noise-level auto`` and ``info`` use
    (:func:`meddenoise.noise.estimate_noise_in_units`: the CT estimator for HU), so the viewer shows the
    number the denoiser is told.
    """
    return estimate_noise_in_units(np.asarray(pixels, dtype=np.float32), units)


def auto_window(pixels: np.ndarray, *, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """``(level, width)`` spanning the ``low``..``high`` percentiles of the slice (width at least 1e-6)."""
    lo, hi = np.percentile(np.asarray(pixels, dtype=np.float64), [low, high])
    return float((lo + hi) / 2), float(max(hi - lo, 1e-6))


def default_window(pixels: np.ndarray, *, modality: str, units: str) -> tuple[str, float, float]:
    """``(preset name, level, width)`` to open a series with: CT soft tissue in HU, else ``auto``."""
    if modality == "CT" and units == "HU":
        level, width = CT_PRESETS["soft tissue"]
        return "soft tissue", level, width
    level, width = auto_window(pixels)
    return "auto", level, width


def encode_slice(pixels: np.ndarray) -> tuple[bytes, str]:
    """Little-endian bytes of a slice and their type: ``int16``/``uint16`` when every value is an integer
    that fits (exact, half the size), else ``float32``. Row-major, ``H * W`` samples."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.size and np.isfinite(arr).all() and np.array_equal(arr, np.rint(arr)):
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= -32768 and hi <= 32767:
            return arr.astype("<i2").tobytes(), "int16"
        if lo >= 0 and hi <= 65535:
            return arr.astype("<u2").tobytes(), "uint16"
    return arr.astype("<f4").tobytes(), "float32"


def reference_scores(
    pixels: np.ndarray, clean: np.ndarray, *, data_range: float
) -> dict[str, float | str | None]:
    """PSNR (dB) and SSIM of ``pixels`` against the clean slice (JSON-ready: identical slices give PSNR
    ``"inf"``); ``None`` where they cannot be computed (different shapes, smaller than SSIM's 7x7 window)."""
    a, b = np.asarray(pixels, np.float64), np.asarray(clean, np.float64)
    if a.shape != b.shape or data_range <= 0:
        return {"psnr": None, "ssim": None}
    value = psnr(a, b, data_range=data_range)
    out: dict[str, float | str | None] = {"psnr": float(value) if np.isfinite(value) else "inf"}
    try:
        out["ssim"] = float(ssim(a, b, data_range=data_range))
    except ValueError:
        out["ssim"] = None
    return out
