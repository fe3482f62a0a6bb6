"""Measuring the quality printed on the shipped models' cards: the benchmark at clinical noise levels.

``scripts/train_pretrained.py`` (after training, and with ``--cards-only`` for the shipped weights)
calls :func:`measure_quality` on the held-apart images **in their own units** and hands the resulting
:class:`~meddenoise.pretrained.cards.QualityTable` to
:func:`~meddenoise.pretrained.cards.write_model_card`. The numbers come from
:func:`meddenoise.evaluation.benchmark.benchmark`, exactly what ``meddenoise benchmark`` prints for
the same images, levels and seed: the model through its own intensity mapping (blind, and told the
true std when it can use it), BM3D and NL-means told the true std, the noisy input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from meddenoise.denoiser import takes_noise_correlation
from meddenoise.evaluation import NOISY
from meddenoise.evaluation.benchmark import BenchImage, benchmark, parse_levels
from meddenoise.methods import DenoiserChoice, build_denoiser, with_ensemble
from meddenoise.pretrained.cards import Quality, QualityTable

__all__ = [
    "CARD_ENSEMBLE",
    "CT_LEVELS",
    "OTHER_LEVELS",
    "PSNR_CAP",
    "card_levels",
    "measure_quality",
]

#: CT cards: Gaussian noise std in HU (real routine-dose chest CT shows ~16-18 HU in soft tissue).
CT_LEVELS = "0,10,20,50"
#: Other cards: std as a percentage of each image's nominal range (comparable clinical noise).
OTHER_LEVELS = "0,1%,2%,5%"
#: Per-image PSNR above this (dB) counts as this: an output identical to the clean image has infinite PSNR.
PSNR_CAP = 100.0
#: The self-ensemble size scored beside the model on its card (:func:`meddenoise.methods.with_ensemble`).
CARD_ENSEMBLE = 8
#: Benchmark method label → card row key.
_ROWS = {
    NOISY: "noisy",
    "model (blind)": "model",
    "model (true σ)": "model_told",
    f"model x{CARD_ENSEMBLE} (blind)": f"model_x{CARD_ENSEMBLE}",
    f"model x{CARD_ENSEMBLE} (true σ)": f"model_told_x{CARD_ENSEMBLE}",
    "bm3d (true σ)": "bm3d",
    "nlmeans (true σ)": "nlmeans",
}


def card_levels(modality: str) -> str:
    """The card's noise levels for a model of this modality (CT in HU; others in % of the range)."""
    return CT_LEVELS if modality.upper() == "CT" else OTHER_LEVELS


def measure_quality(
    model: DenoiserChoice,
    images: Sequence[BenchImage],
    *,
    levels: str = CT_LEVELS,
    seed: int = 0,
    held_apart: str = "",
    crop: int = 0,
    progress: bool = False,
    ensemble: int = CARD_ENSEMBLE,
) -> QualityTable:
    """PSNR/SSIM of ``model`` (as is and as its x8 self-ensemble), BM3D (when installed) and NL-means told
    the true std, and the noisy input.

    ``images`` are the held-apart images in their own units, scored whole as users denoise them
    (``crop``: the side of a centre crop they were already cut to, only recorded; 0, the cards since
    2026-11-30: whole images). Per level: means over the images (PSNR 2, SSIM 4 decimals); the noisy input is
    left out at level 0 (it is the clean image). The headline rows are the means over the levels
    with noise. Per-image PSNR is capped at :data:`PSNR_CAP` (an exact output is infinitely good).
    ``ensemble``: :data:`CARD_ENSEMBLE` also scores the model's x8 self-ensemble (a network); 1 does not.
    """
    if ensemble not in (1, CARD_ENSEMBLE):
        raise ValueError(f"measure_quality: ensemble must be 1 or {CARD_ENSEMBLE}, got {ensemble}")
    choices: dict[str, DenoiserChoice] = {"model": model}
    if ensemble > 1:
        choices[f"model x{ensemble}"] = with_ensemble(model, ensemble)
    with contextlib.suppress(ImportError):
        choices["bm3d"] = build_denoiser("bm3d")
    choices["nlmeans"] = build_denoiser("nlmeans")
    lvls = parse_levels(levels)
    result = benchmark(
        choices,
        images,
        lvls,
        seed=seed,
        modes=("blind", "told"),
        classical_modes=("told",),
        progress=progress,
    )
    units = result.config["units"]

    def quality(method: str, level: str | None) -> Quality:
        psnr = np.minimum(result.values(method, "psnr", level), PSNR_CAP)  # identical images: inf
        return Quality(
            psnr=round(float(np.mean(psnr)), 2),
            ssim=round(result.mean(method, "ssim", level), 4),
        )

    per_level: dict[str, dict[str, Quality]] = {}
    for level in lvls:
        key = level.label if level.relative or level.value == 0 else f"{level.label} {units}"
        per_level[key] = {
            _ROWS[m]: quality(m, level.label)
            for m in result.methods
            if m in _ROWS and not (m == NOISY and level.value == 0)
        }
    rows = {_ROWS[m]: quality(m, None) for m in result.methods if m in _ROWS}
    relative = any(lv.relative for lv in lvls)
    return QualityTable(
        rows=rows,
        per_sigma=per_level,
        images=len(images),
        crop=crop,
        noise=f"additive white Gaussian, std {', '.join(per_level)}"
        + (" of each image's nominal range" if relative else "")
        + f", in the image's units ({units}), not clipped, seed {seed}; scored in those units over the "
        "nominal range (CT -1024..3071 HU: data range 4095; other data their min..max); the model sees "
        "its own intensity mapping, blind or told the true std"
        + (
            " (and, told, that the noise is white: it takes the noise's kind; blind, it reads both)"
            if takes_noise_correlation(model.denoiser)
            else ""
        )
        + ", as is and as its x8 self-ensemble (8 flipped / rotated copies averaged, 8x the time); BM3D and "
        "NL-means are told the true std; headline = mean over the levels with noise; per-image PSNR capped "
        "at 100 dB (identical images)",
        held_apart=held_apart,
    )
