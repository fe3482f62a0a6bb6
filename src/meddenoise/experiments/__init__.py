"""Experiments (applications): the papers' reproductions (:mod:`.registry`, :mod:`.reproductions`) and the
model-card measurements; :func:`evaluate` is re-exported from :mod:`meddenoise.evaluation`.

Imports are lazy so that listing the reproductions (``meddenoise --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meddenoise.evaluation import NOISY, EvaluationResult, evaluate

__all__ = ["NOISY", "EvaluationResult", "evaluate"]


def __getattr__(name: str) -> object:
    if name in __all__:
        import meddenoise.evaluation

        return getattr(meddenoise.evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
