"""Moved to :mod:`meddenoise.evaluation`; kept as a re-export for existing imports."""

from __future__ import annotations

from meddenoise.evaluation import NOISY, EvaluationResult, evaluate, software_versions

__all__ = ["NOISY", "EvaluationResult", "evaluate", "software_versions"]
