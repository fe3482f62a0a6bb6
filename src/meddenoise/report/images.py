"""Turning arrays into PNG bytes for reports."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["array_to_png"]


def array_to_png(
    image: np.ndarray,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    scale: int = 1,
) -> bytes:
    """Encode a 2D grey image as 8-bit PNG bytes.

    Parameters
    ----------
    image
        2D array of any real dtype.
    vmin, vmax
        Display range mapped to black and white; default the image's own min and max.
    scale
        Integer nearest-neighbour enlargement, so small images stay visible and noise stays honest.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {arr.shape}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    lo = float(np.nanmin(arr)) if vmin is None else float(vmin)
    hi = float(np.nanmax(arr)) if vmax is None else float(vmax)
    span = hi - lo if hi > lo else 1.0
    grey = np.clip(np.nan_to_num((arr - lo) / span), 0.0, 1.0)
    pixels = np.round(grey * 255.0).astype(np.uint8)
    if scale > 1:
        pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
