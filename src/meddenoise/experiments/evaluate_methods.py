"""Parsing the ``method.param=value`` options of an evaluation (the denoisers come from :mod:`meddenoise.methods`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["parse_param_options", "parse_value"]


def parse_value(text: str) -> Any:
    """``"5"`` → 5, ``"0.6"`` → 0.6, ``"true"`` → True, ``"none"`` → None, anything else → the string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(lowered)
    except ValueError:
        return text.strip()


def parse_param_options(options: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``["median.size=5", "nlmeans.h_factor=0.6"]`` into ``{"median": {"size": 5}, ...}``.

    Raises
    ------
    ValueError
        For an option not written ``method.param=value``.
    """
    params: dict[str, dict[str, Any]] = {}
    for option in options:
        key, sep, value = option.partition("=")
        method, dot, name = key.strip().rpartition(".")
        if not (sep and dot and method and name):
            raise ValueError(
                f"parameter option {option!r} is not written method.param=value (e.g. median.size=5)"
            )
        params.setdefault(method, {})[name] = parse_value(value)
    return params
