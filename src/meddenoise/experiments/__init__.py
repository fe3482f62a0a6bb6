"""Experiments: the evaluation bench (:func:`evaluate`) and the papers' reproduction runs."""

from __future__ import annotations

from meddenoise.evaluation import NOISY, EvaluationResult, evaluate

__all__ = ["NOISY", "EvaluationResult", "evaluate"]
