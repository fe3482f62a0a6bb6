"""Noise texture: put back a share of the fine-grained part of what a network removed.

A denoiser trained for the mean squared error removes fine-grained noise almost completely and leaves
some coarse mottle: the noise left in its output has its power at low frequencies, the blotchy,
"plastic" look radiologists object to (its noise power spectrum peaks lower than the scan's own). CT
vendors answer it by blending some of the original noise back in. Here only the fine part is put back:

``out = y + amount * (r - G(r))``, ``r = x - y``

with ``x`` the network's input, ``y`` its output and ``G`` a Gaussian of :data:`TEXTURE_HIGHPASS` px:
``r - G(r)`` is the removed component without its coarse part, so the coarse mottle is not made worse
and what comes back is grain at the frequencies of the scan's own noise (and the finest detail of
edges, which the network had smoothed). The price is noise: the output keeps about ``amount`` of the
fine noise's std. ``amount = 0`` changes nothing; unlike edge restoration it needs no noise level.

Measured on the held-apart CT of issue 13 (``docs/low-dose-ct.md``, matched kernel, blind): the ``ct``
model's error NPS peaks at 0.16 / 0.06 cycles/mm at 25 % / 10 % simulated dose (BM3D told the true
std: 0.15 / 0.17); ``amount = 0.7`` moves it to the scan's own noise texture at both doses (0.16 /
0.18) for 0.8 / 1.7 dB of PSNR (still +2.0 / +1.9 dB over BM3D told), but removes only ~20 % instead of
~50 % of the noise on routine-dose scans. So it is off by default: a setting for readers who want the
scan's texture back (``meddenoise denoise --texture 0.7``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from meddenoise.models.denoiser import BatchDenoiser
from meddenoise.models.edge_restore import check_edge_restore

__all__ = ["TEXTURE_HIGHPASS", "TextureKeeping", "check_texture", "keep_texture"]

#: Std (px) of the Gaussian whose output (the coarse part) is taken out of the removed component.
TEXTURE_HIGHPASS = 1.5


def check_texture(amount: float, *, owner: str = "texture") -> float:
    """``amount`` as a float in [0, 1], else a one-line ``ValueError`` naming ``owner``."""
    return check_edge_restore(amount, owner=owner)  # the same rule for both shares


def keep_texture(noisy: np.ndarray, denoised: np.ndarray, amount: float) -> np.ndarray:
    """``denoised + amount * (r - G(r))`` with ``r = noisy - denoised``, clipped to [0, 1], float32.

    ``noisy`` and ``denoised`` are one 2D image on the [0, 1] scale; ``amount`` in [0, 1] (0 returns
    ``denoised``). See the module docstring.

    Examples
    --------
    >>> noisy = np.random.default_rng(0).normal(0.5, 0.05, (64, 64)).astype(np.float32)
    >>> flat = np.full_like(noisy, 0.5)
    >>> kept = keep_texture(noisy, flat, 0.5)
    >>> round(float((kept - flat).std() / (noisy - flat).std()), 2)  # half the fine part (95 % of white noise's std)
    0.47
    """
    amount = check_texture(amount)
    x = np.asarray(noisy, dtype=np.float32)
    y = np.asarray(denoised, dtype=np.float32)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"keep_texture: expected two 2D images of one shape, got {x.shape} and {y.shape}")
    if amount == 0:
        return y.copy()
    removed = x - y
    fine = removed - ndimage.gaussian_filter(removed, TEXTURE_HIGHPASS)
    return np.clip(y + np.float32(amount) * fine, 0.0, 1.0).astype(np.float32)


class TextureKeeping(BatchDenoiser):
    """``base`` followed by :func:`keep_texture` of ``amount``.

    ``name`` defaults to the base's with ``t<amount>`` appended (``ct t0.5``).

    Examples
    --------
    >>> import torch
    >>> from meddenoise.models.denoiser import ModelDenoiser
    >>> zero = torch.nn.Conv2d(1, 1, 1, bias=False)
    >>> _ = torch.nn.init.constant_(zero.weight, 0.0)
    >>> textured = TextureKeeping(ModelDenoiser(zero, name="zero"), 0.5)
    >>> textured.name, textured.texture
    ('zero t0.5', 0.5)
    """

    def __init__(self, base: BatchDenoiser, amount: float, *, name: str | None = None) -> None:
        self.base = base
        self.amount = check_texture(amount, owner=f"{base.name}: texture")
        self.name = f"{base.name} t{self.amount:g}" if name is None else name
        self.uses_sigma = base.uses_sigma

    @property
    def texture(self) -> float:
        """The amount, under the name the pipeline's report reads (``; noise texture 0.5``)."""
        return self.amount

    @property
    def edge_restore(self) -> float:
        """The base's edge restoration (0 without one), for the pipeline's report."""
        return float(getattr(self.base, "edge_restore", 0.0))

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """``base``'s output with a share of its removed fine-grained noise put back, float32 ``(N, H, W)``."""
        batch, levels = self.base.batch_and_levels(images, sigma)  # levels estimated once, not per wrapper
        out = self.base.denoise_batch(batch, sigma=sigma if levels is None else levels)
        if self.amount == 0:
            return out
        return np.stack([keep_texture(x, y, self.amount) for x, y in zip(batch, out, strict=True)])
