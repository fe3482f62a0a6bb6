"""Choosing bf16 or float32 by timing the run's own training step.

A CPU flag says whether bf16 is computed in hardware, not whether it is faster: on an avx512_bf16
Xeon without AMX, bf16 autocast trained small and mid-sized conv nets at 0.66-0.75x the float32 rate
(``docs/training.md``), while AMX machines gain. So where the flag is there, ``precision="auto"`` times
a few steps of the run's model on one of its batches in each precision and keeps the faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["BF16_MIN_SPEEDUP", "choose_precision", "time_precisions"]

#: bf16 must be at least this much faster than float32 to be chosen (float32 is the more exact).
BF16_MIN_SPEEDUP = 1.05


def time_precisions(step: Callable[[bool], None], *, warmup: int = 2, repeats: int = 4) -> dict[str, float]:
    """Milliseconds per call of ``step(bf16)`` for float32 (``bf16=False``) and bf16: the best of ``repeats``.

    The two are timed in turn, round by round, so that a change in the machine's load hits both alike;
    ``warmup`` calls of each come first (oneDNN builds its kernels on the first calls).
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"time_precisions: warmup must be >= 0 and repeats >= 1, got {warmup}, {repeats}")
    for _ in range(warmup):
        step(False)
        step(True)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(repeats):
        for name, bf16 in (("fp32", False), ("bf16", True)):
            start = time.perf_counter()
            step(bf16)
            best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
    return best


def choose_precision(step_ms: dict[str, float], *, min_speedup: float = BF16_MIN_SPEEDUP) -> str:
    """``"bf16"`` when its step is at least ``min_speedup`` times faster than float32's, else ``"fp32"``.

    Examples
    --------
    >>> choose_precision({"fp32": 10.0, "bf16": 6.0})
    'bf16'
    >>> choose_precision({"fp32": 10.0, "bf16": 9.9})
    'fp32'
    """
    return "bf16" if step_ms["bf16"] * min_speedup <= step_ms["fp32"] else "fp32"
