"""A network at a denoising strength, as ``meddenoise denoise --strength`` runs it, for the benchmark.

The pipeline's strength (``docs/denoise.md``): a noise-level-conditioned network is told ``strength x``
the noise level (given, or estimated on the images as given), so 0.5 removes about half the noise
power it would and keeps more edge and texture; any other network's output is blended,
``input + strength * (output - input)``; strength 0 returns the input. Above 1 a network whose
``strength_above_one`` is ``"repeat"`` (the shipped ``ct``) runs again on its own output
(:func:`~meddenoise.denoiser.strength_passes`). Wrapping a network in
:class:`AtStrength` lets ``meddenoise benchmark --strength 1,0.5`` score the same trade-off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from meddenoise.denoiser import check_strength, repeated_passes
from meddenoise.models.denoiser import BatchDenoiser

__all__ = ["AtStrength"]


class AtStrength(BatchDenoiser):
    """``base`` at ``strength``: told ``strength`` times its noise level, or blended (module docstring).

    ``name`` is the base's with ``s<strength>`` appended (``ct s0.5``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from meddenoise.models.denoiser import ModelDenoiser
    >>> gentle = AtStrength(ModelDenoiser(torch.nn.Conv2d(1, 1, 3, padding=1), name="conv"), 0.5)
    >>> gentle.name, float(AtStrength(gentle.base, 0).denoise_batch(np.full((1, 8, 8), 0.25))[0, 0, 0])
    ('conv s0.5', 0.25)
    """

    def __init__(self, base: BatchDenoiser, strength: float) -> None:
        self.base = base
        self.strength = check_strength(strength, owner=f"{base.name}: strength")
        self.name = f"{base.name} s{self.strength:g}"
        self.uses_sigma = base.uses_sigma

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """``base`` told ``strength * sigma`` (conditioned) or its output blended, float32 ``(N, H, W)``."""
        batch, levels = self.base.batch_and_levels(images, sigma)
        if self.strength == 0:  # the input itself, not a network told "no noise"
            return batch.copy()
        with repeated_passes(self.base, self.strength) as passes:
            if passes > 1:  # past 1 a repeating network runs again on its output, told the level itself
                return self.base.denoise_batch(batch, sigma=levels)
        if levels is not None:
            return self.base.denoise_batch(batch, sigma=levels * self.strength)
        out = self.base.denoise_batch(batch, sigma=sigma)
        blended = batch + np.float32(self.strength) * (out - batch)
        return np.clip(blended, 0.0, 1.0).astype(np.float32)  # a network's outputs stay in [0, 1]
