"""What ``meddenoise info FILE`` reports: format, modality, size, depth, units, range, spacing, noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from meddenoise.data.intensity import CLASSICAL_INTENSITY, intensity_for_image
from meddenoise.noise import estimate_noise_correlation_in_units, estimate_noise_in_units
from meddenoise.pipeline.core import noise_estimator_name

__all__ = ["describe_image"]


def describe_image(path: str | Path) -> dict[str, Any]:
    """Facts about one image file, in display order.

    The noise std is estimated blindly on the middle slice in the image's own units (HU for CT, stored
    grey levels for PNG/TIFF) by :func:`meddenoise.noise.estimate_noise_in_units` (CT in HU:
    :func:`meddenoise.noise.estimate_ct_noise`), the estimator ``denoise --noise-level auto`` uses; a number in those units is what ``--noise-level`` takes.
    The mapping line is the one the pipeline uses for classical methods (CT: window -1024..1024 HU;
    others: percentiles 0.5-99.5).

    Raises
    ------
    meddenoise.io.ImageReadError
        If the file cannot be read as an image.
    """
    from meddenoise.io import read_image

    image = read_image(Path(path))
    meta = image.meta
    pixels = image.pixels
    stack = pixels if pixels.ndim == 3 else pixels[None]
    middle = stack[len(stack) // 2]
    mapping = intensity_for_image(image, CLASSICAL_INTENSITY, pixels=middle)
    # the estimators need 2x2 pixels; a smaller image is still described, its noise is not
    noise = estimate_noise_in_units(middle, meta.units) if min(middle.shape) >= 2 else None
    correlation = estimate_noise_correlation_in_units(middle, meta.units) if noise is not None else None
    where = "middle slice" if pixels.ndim == 3 else "image"
    height, width = stack.shape[1:]
    facts: dict[str, Any] = {
        "file": str(path),
        "format": meta.format,
        "modality": meta.modality,
        "size": f"{width} x {height}" + (f" x {len(stack)} slices" if pixels.ndim == 3 else ""),
        "stored type": meta.dtype,
        "bit depth": meta.bits,
        "units": meta.units,
        "intensity range": f"{float(np.min(pixels)):.6g} .. {float(np.max(pixels)):.6g} {meta.units}",
        "nominal range": f"{meta.value_range[0]:.6g} .. {meta.value_range[1]:.6g}",
        "pixel spacing": (
            f"{meta.pixel_spacing[0]:.4g} x {meta.pixel_spacing[1]:.4g} mm"
            if meta.pixel_spacing
            else "unknown"
        ),
        "photometric": meta.photometric,
        f"noise std ({meta.units})": (
            f"{noise:.4g} (estimated on the {where})" if noise is not None else "n/a (image under 2x2 pixels)"
        ),
        "noise estimator": noise_estimator_name(meta.units),
        # which kind of noise: what `denoise --noise-correlation auto` tells a model that takes it
        "noise correlation (lag 1)": (
            f"{correlation:.2f} (0 = white noise; a CT kernel's 0.3-0.9)"
            if correlation is not None
            else "n/a"
        ),
        "mapping for denoising": f"{mapping.low:.6g} .. {mapping.high:.6g} {meta.units} → 0..1",
    }
    return facts
