"""Pretrained denoisers shipped with the package (weights + model cards); see :mod:`.registry`."""

from meddenoise.pretrained.registry import (
    PRETRAINED_DIR,
    ModelCard,
    PretrainedModelError,
    get_card,
    list_pretrained,
    load_pretrained,
    pretrained_for_modality,
    sha256_file,
)

__all__ = [
    "PRETRAINED_DIR",
    "ModelCard",
    "PretrainedModelError",
    "get_card",
    "list_pretrained",
    "load_pretrained",
    "pretrained_for_modality",
    "sha256_file",
]
