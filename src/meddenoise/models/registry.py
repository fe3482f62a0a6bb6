"""Name → model-builder registry, so configs, checkpoints and the CLI refer to models by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["MODEL_REGISTRY", "build_model", "register_model"]

MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model builder under ``name`` (decorator)."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODEL_REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        MODEL_REGISTRY[name] = builder
        return builder

    return decorate


def build_model(name: str, **params: Any) -> nn.Module:
    """Build the model registered as ``name`` with keyword ``params``.

    Every model maps a batch ``(N, 1, H, W)`` of [0, 1] images to a batch of the same shape.
    """
    try:
        builder = MODEL_REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(MODEL_REGISTRY))
        raise ValueError(f"unknown model {name!r}; valid models: {valid}") from None
    return builder(**params)
