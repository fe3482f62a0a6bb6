"""Edge restoration: put back, at strong edges only, the smooth part of what a network removed.

A denoiser trained for the mean squared error blurs edges a little: its removed component ``x - y``
(input minus output) holds, next to the noise, a thin band of edge signal. At the pixels where the
output has a strong edge (its gradient well above the noise level) a fraction ``amount`` of the
removed component, low-passed, is added back:

``out = y + amount * w * G(x - y)``, ``w = G1(max3(clip(|grad y| / (k * sigma) - 1, 0, 1)))``

* ``grad y`` is the derivative-of-Gaussian gradient (std 1 px) of the output, ``sigma`` the noise level
  the network was given (or the one estimated), ``k`` :data:`EDGE_THRESHOLD`: the weight starts at a
  gradient of ``k sigma`` per pixel and is 1 from ``2 k sigma``; it is widened by a 3x3 maximum and a
  Gaussian of 1 px so that both sides of an edge get it.
* ``G`` is a Gaussian of :data:`RESIDUAL_SMOOTHING` px: the edge signal in ``x - y`` is smooth, the
  noise is not, so the low-pass keeps most of the first and a sixth of white noise's power (1 / (4 pi 0.7^2)).
* Flat regions (``w = 0``) are left exactly as the network made them, so the noise removed there and
  the mean there do not change; ``sigma = 0`` or an output equal to its input changes nothing.

Measured on the held-apart CT of issue 13 (``docs/low-dose-ct.md``), blind: the shipped ``ct`` model with
``amount = 0.8`` keeps more of the edge gradient than BM3D told the true std at 25 % and 10 %
simulated dose (0.9976 / 0.9957 against 0.9969 / 0.9935; 0.9955 / 0.9928 without it) for 0.16 / 0.30 dB
of PSNR; on its white-noise card it gains 0.25 dB at 10 HU. The other shipped models do not gain
(``mri`` loses up to 0.3 dB), so only ``ct`` uses it by default (its card's ``edge_restore``). Those
were the weights of 2026-11-30. The ``ct`` weights told the noise's kind (2026-12-01) blur less: 0.8 cost
them 0.2 dB at 25 % / 10 % dose and 0.17 dB at 50 HU white for edge gradient ratios of 0.9986 / 0.9977
where 0.4 keeps 0.9981 / 0.9970 (BM3D 0.9967 / 0.9933), so their card says 0.4.

``correlated_only`` (the ``ct`` card's ``edge_restore_correlated_only``, since 2026-12-04) restores edges
only where what the network removed is a scanner's noise, by
:func:`~meddenoise.models.removed.correlation_gate` of its lag-1 correlation: all of the amount from 0.15
(a CT kernel's noise: 0.26-0.90 on the ``ct`` model's training slices at low dose), none at or under 0.05
(white noise: -0.07 to 0.00 there), so white noise is left as the network made it. Why: on white noise the
network hardly blurs edges (white noise is easy to tell from an edge; a kernel's coarse noise is not), and
putting back a low-passed share of what it removed puts back noise. Chosen on images no card is measured on
(2026-12-04, AMD EPYC, seed 1, told the std of added white noise, ``meddenoise benchmark --edge-restore
0,0.2,0.4``): on the ``ct`` model's 35 training slices 0.4 cost 0.02 / 0.05 / 0.10 dB at 10 / 20 / 50 HU
against none (0.2: 0.00 / 0.01 / 0.03); on two real CT slices of pydicom-data that no model trained on, a head
(``J2K_pixelrep_mismatch.dcm``) 0.18 / 0.22 / 0.23 dB and an abdomen (``explicit_VR-UN.dcm``) 0.00 / 0.00 /
0.04. (On ``eCT_Supplemental.dcm``, a synthetic piecewise-constant head of 147 grey values, it gained 0.11-0.12 /
0.07 / 0.05 dB, and BM3D beat every setting by 5.4-5.7 dB there: not a clinical image.) The low-dose
protocol's noise is a kernel's, so its edges keep the whole amount.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from meddenoise.models.denoiser import BatchDenoiser, noise_levels_for
from meddenoise.models.removed import correlation_gate, removed_correlation

__all__ = [
    "EDGE_THRESHOLD",
    "RESIDUAL_SMOOTHING",
    "EdgeRestoring",
    "check_edge_restore",
    "edge_weight",
    "restore_edges",
]

#: The weight rises from a gradient of ``EDGE_THRESHOLD * sigma`` per pixel to 1 at twice that.
EDGE_THRESHOLD = 1.0
#: Std (px) of the Gaussian low-pass applied to the removed component before it is put back.
RESIDUAL_SMOOTHING = 0.7


def check_edge_restore(amount: float, *, owner: str = "edge restore") -> float:
    """``amount`` as a float in [0, 1], else a one-line ``ValueError`` naming ``owner``."""
    value = float(amount)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner} must be a number in [0, 1] (0 = off), got {amount!r}")
    return value


def edge_weight(denoised: np.ndarray, sigma: float, *, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """Per-pixel weight in [0, 1] of the strong edges of ``denoised`` (2D) at noise level ``sigma``.

    0 where the gradient is below ``threshold * sigma`` per pixel, 1 from twice that, widened by a 3x3
    maximum and a Gaussian of 1 px (module docstring). All zeros for ``sigma <= 0``.

    Examples
    --------
    >>> step = np.repeat([[0.0] * 8 + [1.0] * 8], 16, axis=0)
    >>> w = edge_weight(step, 0.05)
    >>> float(w[8, 0]), round(float(w[8, 7]), 2)
    (0.0, 1.0)
    """
    image = np.asarray(denoised, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"edge_weight: expected a 2D image, got shape {image.shape}")
    if not sigma > 0:
        return np.zeros_like(image)
    gradient = ndimage.gaussian_gradient_magnitude(image, 1.0)  # as metrics.ct's edge measures use it
    weight = np.clip(gradient * np.float32(1.0 / (threshold * sigma)) - 1.0, 0.0, 1.0)
    return np.asarray(ndimage.gaussian_filter(_maximum3x3(weight), 1.0))


def _maximum3x3(image: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.maximum_filter(image, size=3)`` (its border mode included) in numpy, ~3x faster."""
    padded = np.pad(image, 1, mode="edge")  # one pixel of 'edge' = scipy's 'reflect' for a 3-wide window
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    return np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def restore_edges(noisy: np.ndarray, denoised: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """``denoised + amount * edge_weight(denoised, sigma) * G(noisy - denoised)``, clipped to [0, 1], float32.

    ``noisy`` and ``denoised`` are one 2D image on the [0, 1] scale; ``sigma`` its noise level on that
    scale; ``amount`` in [0, 1] (0 returns ``denoised``).

    Examples
    --------
    >>> step = np.repeat([[0.2] * 8 + [0.8] * 8], 16, axis=0).astype(np.float32)
    >>> blurred = np.asarray(ndimage.uniform_filter1d(step, 3, axis=1))
    >>> restored = restore_edges(step, blurred, 0.02, 1.0)
    >>> bool(abs(restored - step).sum() < abs(blurred - step).sum())
    True
    """
    amount = check_edge_restore(amount)
    x = np.asarray(noisy, dtype=np.float32)
    y = np.asarray(denoised, dtype=np.float32)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"restore_edges: expected two 2D images of one shape, got {x.shape} and {y.shape}")
    if amount == 0 or not sigma > 0:
        return np.asarray(denoised, dtype=np.float32)
    removed = ndimage.gaussian_filter(x - y, RESIDUAL_SMOOTHING)
    out = y + np.float32(amount) * edge_weight(y, sigma) * removed
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class EdgeRestoring(BatchDenoiser):
    """``base`` followed by :func:`restore_edges` of ``amount`` at each image's noise level.

    The noise level is the one ``base`` is told (a conditioned network) or, when it is not told one,
    each image's estimate (:func:`~meddenoise.models.denoiser.noise_levels_for`). With ``correlated_only``
    each image gets ``amount`` times :func:`~meddenoise.models.removed.correlation_gate` of the lag-1
    correlation of what the network removed from it: all of it where that is a scanner's (a CT kernel's)
    noise, none where it is white noise, whose output is left as the network made it (the module docstring
    says why). ``name`` defaults to the base's with ``e<amount>`` appended (``ct e0.5``).

    Examples
    --------
    >>> import torch
    >>> from meddenoise.models.denoiser import ModelDenoiser
    >>> blur = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    >>> _ = torch.nn.init.constant_(blur.weight, 1 / 9)
    >>> sharper = EdgeRestoring(ModelDenoiser(blur, name="blur"), 0.5)
    >>> step = np.repeat([[0.2] * 8 + [0.8] * 8], 16, axis=0)[None].astype(np.float32)
    >>> sharper.name, bool(np.abs(sharper(step, sigma=0.02) - step).sum() < np.abs(sharper.base(step) - step).sum())
    ('blur e0.5', True)
    """

    def __init__(
        self, base: BatchDenoiser, amount: float, *, correlated_only: bool = False, name: str | None = None
    ) -> None:
        self.base = base
        self.amount = check_edge_restore(amount, owner=f"{base.name}: edge restore")
        self.correlated_only = bool(correlated_only)
        self.name = f"{base.name} e{self.amount:g}" if name is None else name
        self.uses_sigma = base.uses_sigma

    @property
    def edge_restore(self) -> float:
        """The amount, under the name the pipeline's report reads (``; edge restoration 0.4``)."""
        return self.amount

    @property
    def edge_restore_correlated_only(self) -> bool:
        """``correlated_only``, under the name the pipeline's report reads (``; edge restoration 0.4 on
        correlated noise``)."""
        return self.correlated_only

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """``base``'s output with its edges restored, float32 ``(N, H, W)``."""
        batch, levels = self.base.batch_and_levels(images, sigma)
        out = self.base.denoise_batch(batch, sigma=sigma if levels is None else levels)
        if self.amount == 0:
            return out
        if levels is None:  # a blind network: the weight still needs a noise level
            levels = noise_levels_for(batch, sigma, owner=self.name)
        return np.stack(
            [
                restore_edges(x, y, float(s), self.amount_for(x, y))
                for x, y, s in zip(batch, out, levels, strict=True)
            ]
        )

    def amount_for(self, noisy: np.ndarray, denoised: np.ndarray) -> float:
        """The amount put back on one image: :attr:`amount`, or with ``correlated_only`` that times
        :func:`~meddenoise.models.removed.correlation_gate` of what the network removed (0 for white noise)."""
        if not self.correlated_only:
            return self.amount
        return self.amount * correlation_gate(removed_correlation(noisy, denoised))
