"""Denoising networks, each documented with its source, built by name from a registry."""

from meddenoise.models import gondara as _gondara  # noqa: F401  (registers its model)
from meddenoise.models.registry import MODEL_REGISTRY, build_model, register_model

__all__ = ["MODEL_REGISTRY", "build_model", "register_model"]
