"""Experiments (applications): the papers' reproductions (:mod:`.registry`, :mod:`.reproductions`) and the
model-card measurements; :func:`evaluate` is re-exported from :mod:`meddenoise.evaluation`."""

from __future__ import annotations

from meddenoise.evaluation import NOISY, EvaluationResult, evaluate

__all__ = ["NOISY", "EvaluationResult", "evaluate"]
