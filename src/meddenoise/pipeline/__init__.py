"""Denoising real files end to end: per-modality intensity mapping, tiling with smooth blending, batches.

Dependencies point down: the pipeline uses io (read/write), noise (sigma estimate), classical,
models/pretrained; the CLI and :mod:`meddenoise.api` use the pipeline.
"""

from meddenoise.pipeline.batch import (
    IMAGE_SUFFIXES,
    BatchSummary,
    FileJob,
    FileResult,
    OutputConflictError,
    denoise_files,
    denoise_image,
    plan_jobs,
)
from meddenoise.pipeline.core import DenoiseOptions, SliceReport, denoise_pixels, parse_noise_level
from meddenoise.pipeline.intensity import IntensitySpec, fit_intensity, from_unit, to_unit
from meddenoise.pipeline.methods import CLASSICAL_INTENSITY, DenoiserChoice, DenoiserResolver
from meddenoise.pipeline.tiling import blend_ramp, count_tiles, denoise_tiled, tile_starts, tile_weight

__all__ = [
    "CLASSICAL_INTENSITY",
    "IMAGE_SUFFIXES",
    "BatchSummary",
    "DenoiseOptions",
    "DenoiserChoice",
    "DenoiserResolver",
    "FileJob",
    "FileResult",
    "IntensitySpec",
    "OutputConflictError",
    "SliceReport",
    "blend_ramp",
    "count_tiles",
    "denoise_files",
    "denoise_image",
    "denoise_pixels",
    "denoise_tiled",
    "fit_intensity",
    "from_unit",
    "parse_noise_level",
    "plan_jobs",
    "tile_starts",
    "tile_weight",
    "to_unit",
]
