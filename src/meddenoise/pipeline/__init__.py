"""Denoising real files end to end: per-modality intensity mapping, tiling with smooth blending, batches.

Dependencies point down: the pipeline uses :mod:`meddenoise.methods` (which denoiser, with which
intensity policy), :mod:`meddenoise.data` (the intensity policy), :mod:`meddenoise.io` (every file-format
question, reading and writing) and :mod:`meddenoise.noise` (the noise estimate in the image's units); the CLI and
:mod:`meddenoise.api` use the pipeline.
"""

from meddenoise.pipeline.batch import (
    DEFAULT_DESCRIPTION,
    BatchSummary,
    FileJob,
    FileResult,
    OutputConflictError,
    denoise_file,
    denoise_files,
    denoise_image,
    denoise_nifti_volume,
    derivation,
    plan_jobs,
)
from meddenoise.pipeline.core import (
    DenoiseOptions,
    SliceReport,
    correlation_ignored_note,
    denoise_pixels,
    denoise_slices,
    describe_noise,
    ignored_notes,
    noise_ignored_note,
    parse_noise_level,
)
from meddenoise.pipeline.executors import Execution, TaskFailure, run_tasks, worker_threads
from meddenoise.pipeline.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    WHOLE_IMAGE_MAX,
    blend_ramp,
    count_tiles,
    denoise_tiled,
    iter_tiled_rows,
    resolve_tile,
    tile_starts,
    tile_weight,
)

__all__ = [
    "DEFAULT_DESCRIPTION",
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "WHOLE_IMAGE_MAX",
    "BatchSummary",
    "DenoiseOptions",
    "Execution",
    "FileJob",
    "FileResult",
    "OutputConflictError",
    "SliceReport",
    "TaskFailure",
    "blend_ramp",
    "correlation_ignored_note",
    "count_tiles",
    "denoise_file",
    "denoise_files",
    "denoise_image",
    "denoise_nifti_volume",
    "denoise_pixels",
    "denoise_slices",
    "denoise_tiled",
    "derivation",
    "describe_noise",
    "ignored_notes",
    "iter_tiled_rows",
    "noise_ignored_note",
    "parse_noise_level",
    "plan_jobs",
    "resolve_tile",
    "run_tasks",
    "tile_starts",
    "tile_weight",
    "worker_threads",
]
