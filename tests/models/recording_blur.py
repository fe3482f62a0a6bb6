"""A stand-in network for the post-processing wrappers' tests: a Gaussian blur that records its noise levels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from meddenoise.models.denoiser import BatchDenoiser


class RecordingBlur(BatchDenoiser):
    """Blurs each image by a Gaussian of ``blur`` px; conditioned or blind; ``told`` lists the levels it got."""

    def __init__(self, *, conditioned: bool, blur: float, name: str) -> None:
        self.uses_sigma = conditioned
        self.blur = blur
        self.name = name
        self.told: list[np.ndarray | None] = []

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        self.told.append(levels)
        return np.stack([ndimage.gaussian_filter(x, self.blur) for x in batch]).astype(np.float32)
