"""Applying a noise model to an image read from a file, in the file's own units."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from meddenoise._utils import RNGLike
from meddenoise.io import MedicalImage
from meddenoise.noise.base import NoiseModel, NoiseSpecError, parse_noise
from meddenoise.noise.ct import with_pixel_spacing

__all__ = ["UnitMapping", "noise_image"]


class UnitMapping(Protocol):
    """Original units <-> [0, 1], e.g. :class:`meddenoise.data.Normalizer`."""

    def forward(
        self, x: np.ndarray, *, return_residual: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...

    def inverse(self, y: np.ndarray, *, residual: np.ndarray | None = None) -> np.ndarray: ...


def _works_in_hu(model: NoiseModel) -> bool:
    return any(getattr(stage, "units", None) == "hu" for stage in model.components)


def noise_image(
    image: MedicalImage, spec: str | NoiseModel, *, rng: RNGLike = None, mapping: UnitMapping | None = None
) -> np.ndarray:
    """Corrupt an image read by :func:`meddenoise.io.read_image`; the result is in the image's units.

    Noise models act on [0, 1] images: the pixels are mapped to [0, 1] by ``mapping`` (e.g.
    ``meddenoise.data.intensity_for_image(image)``, the intensity policy; default: the file's nominal
    value range ``image.meta.value_range``), corrupted and mapped back; values the mapping clipped are
    restored. ``lowdose-ct`` with ``units=hu`` (its default) instead gets the pixels in Hounsfield
    units directly, with ``pixel_mm`` taken from the file's pixel spacing when the spec leaves it at
    its default (:func:`meddenoise.noise.ct.with_pixel_spacing`); it then needs a CT image in HU and cannot share a spec with [0, 1] models (give
    it ``units=unit`` with ``hu_lo``/``hu_hi`` equal to the value range to compose it).

    Raises
    ------
    NoiseSpecError
        When an HU model meets an image that is not in HU, or is composed with [0, 1] models.
    """
    # lowdose-ct simulates a scan of the file's own pixel size unless the spec says otherwise
    model = with_pixel_spacing(parse_noise(spec), image.meta.pixel_spacing)
    pixels = image.pixels.astype(np.float64)
    source = image.meta.source or "image"
    if _works_in_hu(model):
        if len(model.components) > 1:
            raise NoiseSpecError(
                f"{model}: lowdose-ct with units=hu cannot be composed with [0, 1] models; use units=unit"
            )
        if image.meta.units != "HU":
            raise NoiseSpecError(
                f"{source}: {model} needs a CT image in HU, this one is in {image.meta.units}"
            )
        return model(pixels, rng=rng).astype(np.float32)
    if mapping is not None:
        unit, residual = mapping.forward(pixels, return_residual=True)
        return mapping.inverse(model(np.asarray(unit, np.float64), rng=rng), residual=residual).astype(
            np.float32
        )
    low, high = image.meta.value_range
    if not high > low:
        raise NoiseSpecError(f"{source}: cannot scale to [0, 1], value range {low}..{high} is empty")
    unit = np.clip((pixels - low) / (high - low), 0.0, 1.0)
    return (model(unit, rng=rng) * (high - low) + low).astype(np.float32)
