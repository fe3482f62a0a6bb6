"""Measuring the quality printed on the shipped models' cards (an application of :mod:`meddenoise.evaluation`).

``scripts/train_pretrained.py`` trains a model, calls :func:`measure_quality` on its held-apart images
and hands the resulting :class:`~meddenoise.pretrained.cards.QualityTable` to
:func:`~meddenoise.pretrained.cards.write_model_card`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from meddenoise.denoiser import Denoiser
from meddenoise.evaluation import NOISY, Score, evaluate
from meddenoise.pretrained.cards import Quality, QualityTable

__all__ = ["EVAL_CROP", "EVAL_SIGMAS", "centre_crop", "measure_quality"]

#: Gaussian noise std levels (on [0, 1]) of the card's quality table; its headline is their mean.
EVAL_SIGMAS = (0.05, 0.1)
#: Side of the centre crop every held-apart image is scored on.
EVAL_CROP = 192
#: PSNR and SSIM (7x7 uniform window), data_range 1.
CARD_SCORES = (Score("psnr"), Score("ssim"))


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size`` x ``size`` part of a 2D image (the whole side where it is smaller)."""
    h, w = image.shape
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top : top + size, left : left + size]


def measure_quality(
    model: Denoiser,
    test: Sequence[np.ndarray],
    rng: np.random.Generator,
    *,
    sigmas: Sequence[float] = EVAL_SIGMAS,
    crop: int = EVAL_CROP,
    held_apart: str = "",
) -> QualityTable:
    """PSNR/SSIM of ``model``, NL-means, BM3D (when installed) and the noisy input on held-apart images.

    For each level in ``sigmas`` every centre crop gets clipped Gaussian noise drawn from ``rng`` (in
    image order); BM3D/NL-means are told the blind wavelet estimate of each noisy image's sigma; outputs
    are clipped to [0, 1]. Means are rounded (PSNR 2, SSIM 4 decimals); the headline is the mean of the
    per-level means.
    """
    from meddenoise.classical import get_classical
    from meddenoise.noise import estimate_sigma

    methods: dict[str, Denoiser] = {"model": model, "nlmeans": get_classical("nlmeans")}
    with contextlib.suppress(ImportError):
        methods["bm3d"] = get_classical("bm3d")
    crops = [centre_crop(im, crop) for im in test]
    per_sigma: dict[str, dict[str, Quality]] = {}
    for sigma in sigmas:
        noisy = [
            np.clip(clean + sigma * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
            for clean in crops
        ]
        result = evaluate(
            methods,
            crops,
            None,
            CARD_SCORES,
            seed=0,
            noisy=noisy,
            sigma=[float(estimate_sigma(n)) for n in noisy],
            clip_outputs=True,
            batch_size=1,
            progress=False,
        )
        per_sigma[f"{sigma:g}"] = {
            name: Quality(
                psnr=round(float(np.mean(result.values(name, "psnr"))), 2),
                ssim=round(float(np.mean(result.values(name, "ssim"))), 4),
            )
            for name in (NOISY, *methods)
        }
    first = per_sigma[f"{sigmas[0]:g}"]
    rows = {
        name: Quality(
            psnr=round(float(np.mean([per_sigma[s][name].psnr for s in per_sigma])), 2),
            ssim=round(float(np.mean([per_sigma[s][name].ssim for s in per_sigma])), 4),
        )
        for name in first
    }
    return QualityTable(
        rows=rows,
        per_sigma=per_sigma,
        images=len(crops),
        crop=crop,
        noise=f"gaussian sigma {', '.join(f'{s:g}' for s in sigmas)} on [0, 1], clipped; "
        "headline = mean over the levels; BM3D/NL-means given the blind wavelet sigma estimate",
        held_apart=held_apart,
    )
