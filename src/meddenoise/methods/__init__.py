"""THE denoiser factory: every name or path that means a denoiser is turned into one here.

``build_denoiser("median")``, ``build_denoiser("ct")`` (= ``"pretrained:ct"``), ``build_denoiser("runs/x")``
return a :class:`DenoiserChoice` (denoiser + the intensity policy it needs + a label); the CLI
(``denoise``, ``denoise-with``, ``evaluate``), :mod:`meddenoise.api`, the pipeline, the demo and the
reproductions all go through it. See :mod:`meddenoise.methods.factory` for the resolution rule.
"""

from meddenoise.methods.factory import (
    BACKENDS,
    CHECKPOINT_SUFFIXES,
    PRETRAINED_PREFIX,
    Backend,
    DenoiserChoice,
    MethodKind,
    UnknownMethodError,
    build_denoiser,
    build_denoisers,
    classical_names,
    common_intensity,
    export_model,
    method_kind,
    method_names,
    parse_backend,
    shipped_names,
    split_edge_restore,
    split_texture,
    texture_amount,
    with_edge_restore,
    with_ensemble,
    with_strength,
    with_texture,
)
from meddenoise.methods.resolver import DenoiserResolver

__all__ = [
    "BACKENDS",
    "CHECKPOINT_SUFFIXES",
    "PRETRAINED_PREFIX",
    "Backend",
    "DenoiserChoice",
    "DenoiserResolver",
    "MethodKind",
    "UnknownMethodError",
    "build_denoiser",
    "build_denoisers",
    "classical_names",
    "common_intensity",
    "export_model",
    "method_kind",
    "method_names",
    "parse_backend",
    "shipped_names",
    "split_edge_restore",
    "split_texture",
    "texture_amount",
    "with_edge_restore",
    "with_ensemble",
    "with_strength",
    "with_texture",
]
