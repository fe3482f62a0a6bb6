"""Synthetic clean training images: the dead-leaves model.

Real clean images are scarce (the shipped ``ct`` model has 35 training slices, ``xray`` two radiographs),
and every real reference carries some noise of its own. Dead-leaves images (Matheron; Lee, Mumford and
Huang 2001) are occluding discs with power-law radii: edges at every scale and orientation, flat regions
that are truly flat, and the scale-invariant statistics of natural images. Denoisers trained on them learn
a regularity prior that transfers to real images (Achddou, Gousseau and Ladjal 2021), and they are free of
any licence because they are generated.

:func:`dead_leaves` draws one image; ``values`` lets the grey levels follow a real modality's histogram
(e.g. pixels of its training images on the [0, 1] scale), so the synthetic images share its intensities.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from meddenoise._utils import RNGLike, as_rng

__all__ = ["dead_leaves"]


def dead_leaves(
    shape: tuple[int, int],
    *,
    rng: RNGLike = None,
    values: np.ndarray | None = None,
    radius_range: tuple[float, float] = (1.0, 100.0),
    alpha: float = 3.0,
    coverage: float = 4.0,
    supersample: int = 2,
    blur: tuple[float, float] = (0.0, 1.0),
    ramp: float = 0.0,
) -> np.ndarray:
    """One dead-leaves image of ``shape``, float32 in [0, 1] (or in the range of ``values``).

    Parameters
    ----------
    shape
        ``(height, width)`` in pixels.
    rng
        Seed or generator; the same seed gives the same image.
    values
        Grey levels to draw each disc's value from (uniformly among them); ``None``: uniform in [0, 1].
    radius_range
        Smallest and largest disc radius in pixels.
    alpha
        Exponent of the radius density ``p(r) ~ r**-alpha`` (3 gives scale invariance).
    coverage
        How many discs lie over a pixel on average: a pixel is left uncovered (keeping the first disc's value)
        with probability ``exp(-coverage)``, 1.8 % at 4.
    supersample
        Discs are drawn at this many times the resolution and area-averaged down: smooth, not jagged, edges.
    blur
        Range of the std (pixels) of a Gaussian blur drawn per image, standing for the imaging system's
        point-spread function.
    ramp
        Largest grey-level change along each axis across a disc, of a linear ramp drawn per disc (0: flat
        discs); real tissue varies smoothly inside its boundaries.

    Returns
    -------
    numpy.ndarray
        ``shape`` float32.

    Examples
    --------
    >>> image = dead_leaves((32, 32), rng=0)
    >>> image.shape, image.dtype, bool(0.0 <= image.min() and image.max() <= 1.0)
    ((32, 32), dtype('float32'), True)
    >>> bool(np.array_equal(image, dead_leaves((32, 32), rng=0)))
    True
    """
    height, width = shape
    r_min, r_max = radius_range
    if height < 1 or width < 1:
        raise ValueError(f"dead_leaves: shape must be positive, got {shape}")
    if not 0 < r_min <= r_max:
        raise ValueError(f"dead_leaves: radius_range must satisfy 0 < min <= max, got {radius_range}")
    if alpha <= 1 or coverage <= 0 or supersample < 1 or ramp < 0:
        raise ValueError(
            f"dead_leaves: need alpha > 1, coverage > 0, supersample >= 1, ramp >= 0; got {alpha}, "
            f"{coverage}, {supersample}, {ramp}"
        )
    if not 0 <= blur[0] <= blur[1]:
        raise ValueError(f"dead_leaves: blur must satisfy 0 <= min <= max, got {blur}")
    generator = as_rng(rng)
    pool = np.asarray(values, dtype=np.float32).ravel() if values is not None else None
    if pool is not None and pool.size == 0:
        raise ValueError("dead_leaves: values is empty")
    s = supersample
    big_h, big_w = height * s, width * s
    # centres fall anywhere a disc can reach the image from, so the count is for that larger area: each pixel
    # then lies under ``coverage`` discs on average
    reach = (height + 2 * r_max) * (width + 2 * r_max)
    radii = _power_law(generator, _disc_count(reach, r_min, r_max, alpha, coverage), r_min, r_max, alpha)
    grey = generator.choice(pool, size=radii.size) if pool is not None else generator.random(radii.size)
    centres_y = generator.uniform(-r_max, height + r_max, radii.size) * s
    centres_x = generator.uniform(-r_max, width + r_max, radii.size) * s
    slopes = generator.uniform(-1.0, 1.0, (radii.size, 2)) * ramp if ramp > 0 else None
    canvas = np.full((big_h, big_w), grey[0], dtype=np.float32)
    # painted back to front: each disc hides what lies under it
    for k in range(radii.size):
        r = radii[k] * s
        cy, cx = centres_y[k], centres_x[k]
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, big_h)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, big_w)
        if y0 >= y1 or x0 >= x1:
            continue
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
        inside = dy * dy + dx * dx <= r * r
        if slopes is None:
            canvas[y0:y1, x0:x1][inside] = grey[k]
        else:  # the ramp changes by at most ``ramp`` across the disc's diameter
            value = grey[k] + (slopes[k, 0] * dy + slopes[k, 1] * dx) / (2 * r)
            canvas[y0:y1, x0:x1][inside] = value[inside]
    image = canvas.reshape(height, s, width, s).mean(axis=(1, 3)) if s > 1 else canvas
    sigma = generator.uniform(*blur)
    if sigma > 0:
        image = ndimage.gaussian_filter(image, sigma, mode="reflect")
    low, high = (float(pool.min()), float(pool.max())) if pool is not None else (0.0, 1.0)
    return np.clip(image, low, high).astype(np.float32)


def _disc_count(area: float, r_min: float, r_max: float, alpha: float, coverage: float) -> int:
    """Discs whose expected total area is ``coverage`` times ``area`` (mean disc area by quadrature)."""
    if r_min == r_max:
        mean_area = np.pi * r_min**2
    else:
        grid = np.geomspace(r_min, r_max, 512)
        density = grid ** (-alpha)
        mean_area = float(np.pi * np.trapezoid(grid**2 * density, grid) / np.trapezoid(density, grid))
    return max(1, int(np.ceil(coverage * area / mean_area)))


def _power_law(
    generator: np.random.Generator, n: int, r_min: float, r_max: float, alpha: float
) -> np.ndarray:
    """``n`` radii of density ``r**-alpha`` on ``[r_min, r_max]`` by inverting the distribution function."""
    u = generator.random(n)
    a = 1.0 - alpha
    return (r_min**a + u * (r_max**a - r_min**a)) ** (1.0 / a)
