"""Building the denoisers of an evaluation from names, ``method.param=value`` options and checkpoints."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meddenoise.classical import CALIBRATED_PREFIX, CLASSICAL_METHODS, get_classical
from meddenoise.denoiser import Denoiser

__all__ = ["build_denoisers", "parse_param_options", "parse_value"]


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


def _is_checkpoint(method: str) -> bool:
    path = Path(method)
    return path.suffix == ".safetensors" or (path.is_dir() and (path / "best.safetensors").is_file())


def build_denoisers(
    methods: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Denoiser]:
    """Denoisers by name: classical filters (``calibrated-`` prefix allowed) and trained checkpoints.

    Parameters
    ----------
    methods
        Names from :data:`~meddenoise.classical.CLASSICAL_METHODS`, ``calibrated-<name>``, or the
        path of a checkpoint (``*.safetensors`` or a folder holding ``best.safetensors``), loaded with
        :func:`meddenoise.training.load_denoiser`.
    params
        Method → keyword parameters for :func:`~meddenoise.classical.get_classical`.

    Raises
    ------
    ValueError
        For an unknown method, a parameter for a method not being evaluated, or duplicates.
    """
    params = dict(params or {})
    unused = sorted(set(params) - set(methods))
    if unused:
        raise ValueError(f"parameters given for {', '.join(unused)}, which is not among the methods")
    built: dict[str, Denoiser] = {}
    for method in methods:
        if method in built:
            raise ValueError(f"method {method!r} is listed twice")
        if _is_checkpoint(method):
            if method in params:
                raise ValueError(f"{method}: a checkpoint takes no parameters")
            from meddenoise.training import load_denoiser

            built[method] = load_denoiser(method)
            continue
        base = method.removeprefix(CALIBRATED_PREFIX)
        if base not in CLASSICAL_METHODS:
            raise ValueError(
                f"unknown method {method!r}: choose from {', '.join(CLASSICAL_METHODS)}, "
                "calibrated-<name>, or a checkpoint path"
            )
        built[method] = get_classical(method, **params.get(method, {}))
    return built
