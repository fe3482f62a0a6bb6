"""Denoise the pixels of one image (or stack) in original units: map to [0, 1], tile, map back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from meddenoise.data import Normalizer
from meddenoise.data.intensity import IntensitySpec, fit_intensity, from_unit, to_unit
from meddenoise.denoiser import Denoiser
from meddenoise.pipeline.tiling import count_tiles, denoise_tiled

__all__ = ["DenoiseOptions", "SliceReport", "denoise_pixels", "parse_noise_level"]


def parse_noise_level(value: str | float | None) -> float | str | None:
    """``"auto"`` → ``"auto"``; ``None``/``"none"`` → ``None``; a number (string or float) → float >= 0.

    Raises
    ------
    ValueError
        For anything else, or a negative level.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text in ("none", ""):
            return None
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"noise level must be 'auto', 'none' or a number, got {value!r}") from None
    else:
        number = float(value)
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"noise level must be a finite number >= 0, got {value!r}")
    return number


@dataclass(frozen=True)
class DenoiseOptions:
    """How to run a denoiser over an image.

    Parameters
    ----------
    noise_level
        ``"auto"`` (estimate per slice on the [0, 1] scale, :func:`meddenoise.noise.estimate_sigma`),
        a std on the [0, 1] scale, or ``None`` (the denoiser decides).
    tile, overlap
        Tile side and overlap in pixels (:func:`~meddenoise.pipeline.tiling.denoise_tiled`).
    batch_size
        Tiles per denoiser call.
    """

    noise_level: str | float | None = "auto"
    tile: int = 256
    overlap: int = 32
    batch_size: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_level", parse_noise_level(self.noise_level))
        if self.tile < 16:
            raise ValueError(f"tile must be >= 16 pixels, got {self.tile}")
        if not 0 <= self.overlap < self.tile // 2:
            raise ValueError(f"overlap must be in [0, tile/2), got {self.overlap} for tile {self.tile}")


@dataclass
class SliceReport:
    """What happened to the pixels: the intensity mapping used and the noise level per slice."""

    mapping: Normalizer
    sigmas: list[float | None] = field(default_factory=list)
    tiles: int = 0


def _estimate_sigma(unit_image: np.ndarray) -> float:
    from meddenoise.noise import estimate_sigma

    return float(estimate_sigma(unit_image))


def denoise_pixels(
    pixels: np.ndarray,
    denoiser: Denoiser,
    *,
    intensity: IntensitySpec,
    modality: str | None = None,
    units: str | None = None,
    original_dtype: str | None = None,
    file_format: str | None = None,
    value_range: tuple[float, float] | None = None,
    options: DenoiseOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, SliceReport]:
    """Denoise an image ``(H, W)`` or stack ``(N, H, W)`` given in original units.

    ``intensity`` with ``modality``, ``units``, ``original_dtype``, ``file_format`` and ``value_range``
    chooses the mapping (:func:`meddenoise.data.fit_intensity`). It is fitted once on the whole input (so every slice of a volume shares it),
    each slice is denoised in tiles, and the result is mapped back to the original units; pixels that
    lay outside the mapping's range keep their original value.

    Returns
    -------
    (denoised, report)
        float32 pixels of the input's shape in original units, and a :class:`SliceReport`.
    """
    options = options or DenoiseOptions()
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or a stack (N, H, W), got shape {arr.shape}")
    mapping = fit_intensity(
        arr,
        intensity,
        modality=modality,
        units=units,
        original_dtype=original_dtype,
        file_format=file_format,
        value_range=value_range,
    )
    stack = arr if arr.ndim == 3 else arr[None]
    out = np.empty_like(stack)
    report = SliceReport(mapping=mapping)
    for index, slice_pixels in enumerate(stack):
        unit = to_unit(mapping, slice_pixels)
        sigma: float | None
        if options.noise_level == "auto":
            sigma = _estimate_sigma(unit) if denoiser.uses_sigma else None
        else:
            sigma = options.noise_level  # type: ignore[assignment]
        report.sigmas.append(sigma)
        report.tiles += count_tiles(*unit.shape, tile=options.tile, overlap=options.overlap)
        denoised = denoise_tiled(
            unit,
            denoiser,
            tile=options.tile,
            overlap=options.overlap,
            sigma=sigma,
            batch_size=options.batch_size,
            progress=progress,
        )
        out[index] = from_unit(mapping, denoised, original=slice_pixels)
        del unit, denoised
    return (out if arr.ndim == 3 else out[0]), report
