"""Name → model-builder registry, so configs, checkpoints and the CLI refer to models by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["MODEL_REGISTRY", "build_model", "register_model"]

MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


#: A model builder: a network class or a function, called with keyword parameters only.
BuilderT = TypeVar("BuilderT", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[BuilderT], BuilderT]:
    """Register a model builder under ``name`` (class or function decorator; returns it unchanged).

    A builder takes the model's parameters as keywords (``build_model(name, **params)``), so decorating
    the network class itself is enough when its ``__init__`` has keyword-only options.
    """

    def decorate(builder: BuilderT) -> BuilderT:
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
