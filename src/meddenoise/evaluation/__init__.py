"""The one scoring path: per-image scores under stated conventions, and the paired evaluation bench.

* :class:`Score` / :func:`score_images`: a metric under a convention (data range, SSIM window), per image.
* :func:`evaluate`: corrupt clean images once, run every denoiser on the same noisy images, score them
  (:class:`EvaluationResult`: per-image rows, summaries with 95% CIs, paired differences, CSV/JSON).

Used by ``meddenoise evaluate``, the reproductions (:mod:`meddenoise.experiments`) and the model-card
measurements (:mod:`meddenoise.experiments.model_cards`). The bench is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meddenoise.evaluation.scores import (
    MASKABLE_METRICS,
    SSIM_METRICS,
    Masks,
    Score,
    as_scores,
    resolve_masks,
    score_images,
    with_masked,
)

if TYPE_CHECKING:
    from meddenoise.evaluation.bench import NOISY, EvaluationResult, evaluate, software_versions

__all__ = [
    "MASKABLE_METRICS",
    "NOISY",
    "SSIM_METRICS",
    "EvaluationResult",
    "Masks",
    "Score",
    "as_scores",
    "evaluate",
    "resolve_masks",
    "score_images",
    "software_versions",
    "with_masked",
]

_BENCH = ("NOISY", "EvaluationResult", "evaluate", "software_versions")


def __getattr__(name: str) -> object:
    if name in _BENCH:
        from meddenoise.evaluation import bench

        return getattr(bench, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
