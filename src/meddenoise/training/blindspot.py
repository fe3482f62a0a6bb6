"""Blind-spot masking for self-supervised denoising (Noise2Void / Noise2Self).

Krull, Buchholz & Jug, "Noise2Void — Learning Denoising from Single Noisy Images", CVPR 2019;
Batson & Royer, "Noise2Self: Blind Denoising by Self-Supervision", ICML 2019.

A few random pixels of each noisy image are hidden: their value is replaced by a random neighbour
(N2V's "uniform without centre pixel") or by the mean of their neighbourhood excluding themselves
(a Noise2Self-style interpolation). The network sees the masked image and is trained to predict the
*original noisy* value only at the hidden pixels. Because pixel noise is independent, the best such
prediction is the clean value — and the network can never learn the identity, since the hidden
pixel's own value never reaches its input.

Neighbour coordinates that fall outside the image are mirrored back inside (``-1 → 1``); any
neighbour that mirrors onto the hidden pixel itself is excluded, so the replacement value never
comes from the pixel it replaces, including at the borders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from meddenoise._utils import RNGLike, as_rng

__all__ = ["BlindSpotBatch", "blind_spot_mask"]


@dataclass(frozen=True)
class BlindSpotBatch:
    """A masked batch: network ``inputs``, the ``mask`` of hidden pixels and where each value came from.

    ``source_rows``/``source_cols`` give, per hidden pixel, the coordinates whose values were used
    (one for ``neighbour``; every valid neighbour for ``local_mean``, ``-1`` where unused), in the
    order of ``np.nonzero(mask)``. They exist so the masking can be checked.
    """

    inputs: np.ndarray
    mask: np.ndarray
    source_rows: np.ndarray
    source_cols: np.ndarray


def _mirror(coords: np.ndarray, size: int) -> np.ndarray:
    """Mirror out-of-range coordinates back into ``[0, size)`` without repeating the edge (-1 → 1)."""
    if size == 1:
        return np.zeros_like(coords)
    period = 2 * (size - 1)
    coords = np.abs(coords) % period
    return np.where(coords >= size, period - coords, coords)


def _neighbour_offsets(radius: int) -> np.ndarray:
    d = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(d, d, indexing="ij")
    keep = (dy != 0) | (dx != 0)
    return np.stack([dy[keep], dx[keep]], axis=1)  # (K, 2), centre excluded


def blind_spot_mask(
    images: np.ndarray,
    *,
    fraction: float = 0.02,
    radius: int = 2,
    replacement: Literal["neighbour", "local_mean"] = "neighbour",
    rng: RNGLike = None,
) -> BlindSpotBatch:
    """Hide a random ``fraction`` of the pixels of every image of a batch ``(N, H, W)``.

    Parameters
    ----------
    images
        Noisy float images ``(N, H, W)`` (or one ``(H, W)`` image); not modified.
    fraction
        Fraction of pixels hidden per image (at least one pixel each).
    radius
        Neighbourhood radius: replacements come from the ``(2r+1) x (2r+1)`` window minus its centre.
    replacement
        ``"neighbour"``: a uniformly drawn neighbour's value; ``"local_mean"``: the mean of all
        neighbours (excluding the pixel itself).
    rng
        Generator or seed.

    Returns
    -------
    BlindSpotBatch
        ``inputs`` float32 like ``images`` with hidden pixels replaced; ``mask`` float32, 1 at hidden pixels.
    """
    arr = np.asarray(images, dtype=np.float32)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"expected images (N, H, W) or (H, W), got shape {np.shape(images)}")
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    if replacement not in ("neighbour", "local_mean"):
        raise ValueError(f"replacement must be 'neighbour' or 'local_mean', got {replacement!r}")
    n, h, w = arr.shape
    if h * w < 2:
        raise ValueError(f"images of shape {(h, w)} have no neighbours to mask with")
    gen = as_rng(rng)
    per_image = max(1, round(fraction * h * w))

    # Distinct random pixels per image.
    flat = np.stack([gen.choice(h * w, size=per_image, replace=False) for _ in range(n)])
    img_idx = np.repeat(np.arange(n), per_image)
    rows, cols = np.divmod(flat.ravel(), w)

    offsets = _neighbour_offsets(radius)  # (K, 2)
    cand_r = _mirror(rows[:, None] + offsets[None, :, 0], h)  # (M, K)
    cand_c = _mirror(cols[:, None] + offsets[None, :, 1], w)
    valid = (cand_r != rows[:, None]) | (cand_c != cols[:, None])  # mirroring may land on itself

    if replacement == "neighbour":
        # Uniform choice among the valid neighbours of each hidden pixel.
        scores = np.where(valid, gen.random(valid.shape), -1.0)
        pick = scores.argmax(axis=1)
        src_r = cand_r[np.arange(len(pick)), pick]
        src_c = cand_c[np.arange(len(pick)), pick]
        values = arr[img_idx, src_r, src_c]
        source_rows, source_cols = src_r[:, None], src_c[:, None]
    else:
        neighbour_values = arr[img_idx[:, None], cand_r, cand_c]
        values = (neighbour_values * valid).sum(axis=1) / valid.sum(axis=1)
        source_rows = np.where(valid, cand_r, -1)
        source_cols = np.where(valid, cand_c, -1)

    inputs = arr.copy()
    inputs[img_idx, rows, cols] = values
    mask = np.zeros_like(arr)
    mask[img_idx, rows, cols] = 1.0
    # Order the per-pixel sources like np.nonzero(mask) (image, row, column) for callers that check them.
    order = np.lexsort((cols, rows, img_idx))
    batch = BlindSpotBatch(
        inputs=inputs[0] if single else inputs,
        mask=mask[0] if single else mask,
        source_rows=source_rows[order],
        source_cols=source_cols[order],
    )
    return batch
