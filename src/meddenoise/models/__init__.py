"""Denoising networks, each documented with its source, built by name from a registry.

Every model maps a batch ``(N, 1, H, W)`` of [0, 1] images to a batch of the same shape; the fully
convolutional ones accept any ``H, W`` (padded internally to their ``multiple`` and cropped back).
:class:`ModelDenoiser` wraps any of them as a :class:`meddenoise.denoiser.Denoiser`.
"""

# importing a model module registers its models
from meddenoise.models import autoencoders as _autoencoders  # noqa: F401
from meddenoise.models import conditioned as _conditioned  # noqa: F401
from meddenoise.models import gondara as _gondara  # noqa: F401
from meddenoise.models import redcnn as _redcnn  # noqa: F401
from meddenoise.models import residual as _residual  # noqa: F401
from meddenoise.models import stacked as _stacked  # noqa: F401
from meddenoise.models import unet as _unet  # noqa: F401
from meddenoise.models.denoiser import ModelDenoiser
from meddenoise.models.flops import count_flops
from meddenoise.models.registry import MODEL_REGISTRY, build_model, register_model

__all__ = ["MODEL_REGISTRY", "ModelDenoiser", "build_model", "count_flops", "register_model"]
