"""Helpers shared by the training tests."""

from __future__ import annotations

import numpy as np


def make_images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth blobs on a dark background (mammogram-like), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        radius = rng.uniform(0.15, 0.35)
        images[i] = np.clip(1.2 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2) - 0.1, 0, 1)
    return images
