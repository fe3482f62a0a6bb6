"""Denoising many files: expand inputs, plan outputs safely, run, and report every failure.

* Inputs are files or folders (searched recursively); a folder's output mirrors its tree under the
  output folder, a file lands directly in it.
* Nothing is written when any planned output would land on an input, or two inputs would write
  the same output (:class:`OutputConflictError`).
* Each file succeeds or fails on its own: a corrupt file, a text file named ``.dcm`` or an empty
  folder becomes a :class:`FileResult` with its reason, and the rest of the batch goes on.
* DICOM files of one input series become one new derived series: all share one new
  SeriesInstanceUID (each gets a new SOPInstanceUID).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meddenoise.io import MedicalImage, find_images, output_name, read_image, series_uid, write_like_source
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline.core import DenoiseOptions, SliceReport, denoise_pixels

__all__ = [
    "DEFAULT_DESCRIPTION",
    "BatchSummary",
    "FileJob",
    "FileResult",
    "OutputConflictError",
    "denoise_file",
    "denoise_files",
    "denoise_image",
    "plan_jobs",
]

DEFAULT_DESCRIPTION = "denoised by meddenoise"


class OutputConflictError(ValueError):
    """Planned outputs would overwrite an input or each other; nothing was written."""


@dataclass(frozen=True)
class FileJob:
    """One input file and the output it will be written to."""

    source: Path
    target: Path


@dataclass
class FileResult:
    """The outcome of one input: ``ok`` with its output, or failed with a one-line ``reason``."""

    source: Path
    target: Path | None
    ok: bool
    reason: str = ""
    seconds: float = 0.0
    denoiser: str = ""
    sigma: float | None = None


@dataclass
class BatchSummary:
    """All results of a batch and its total time."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def done(self) -> list[FileResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed


def plan_jobs(inputs: Iterable[str | Path], output_dir: str | Path) -> tuple[list[FileJob], list[FileResult]]:
    """Expand files and folders into jobs; inputs that cannot become a job are returned as failures.

    Raises
    ------
    OutputConflictError
        If an output would land on an input file, or two inputs would write the same output.
    """
    out_root = Path(output_dir)
    jobs: list[FileJob] = []
    failures: list[FileResult] = []
    for raw in inputs:
        source = Path(raw)
        if source.is_dir():
            files = find_images(source)
            if not files:
                failures.append(FileResult(source, None, False, "folder holds no image files"))
            for path in files:
                rel = path.relative_to(source)
                jobs.append(FileJob(path, out_root / rel.parent / output_name(path)))
        elif source.is_file():
            jobs.append(FileJob(source, out_root / output_name(source)))
        else:
            failures.append(FileResult(source, None, False, "no such file or folder"))

    resolved_inputs = {job.source.resolve() for job in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if target in resolved_inputs:
            raise OutputConflictError(
                f"{job.target}: output would overwrite the input {job.source}; choose another output folder"
            )
        if target in seen:
            raise OutputConflictError(
                f"{job.target}: both {seen[target]} and {job.source} would be written here"
            )
        seen[target] = job.source
    return jobs, failures


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def denoise_image(
    image: MedicalImage,
    resolver: DenoiserResolver,
    options: DenoiseOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, SliceReport, str]:
    """Denoise a :class:`~meddenoise.io.MedicalImage`; returns (pixels in original units, report, label)."""
    meta = image.meta
    choice = resolver.for_modality(meta.modality)
    pixels, report = denoise_pixels(
        image.pixels,
        choice.denoiser,
        intensity=choice.intensity,
        modality=meta.modality,
        units=meta.units,
        original_dtype=meta.dtype,
        file_format=meta.format,
        value_range=(float(meta.value_range[0]), float(meta.value_range[1])),
        options=options,
        progress=progress,
    )
    return pixels, report, choice.label


def denoise_file(
    source: str | Path,
    target: str | Path,
    *,
    resolver: DenoiserResolver,
    options: DenoiseOptions | None = None,
    description: str = DEFAULT_DESCRIPTION,
    series: str | None = None,
) -> tuple[SliceReport, str]:
    """Read ``source``, denoise it and write ``target`` in the source's format; returns (report, label).

    ``series`` is the SeriesInstanceUID a DICOM output joins (default: a new one).
    """
    image = read_image(Path(source))
    pixels, report, label = denoise_image(image, resolver, options or DenoiseOptions())
    write_like_source(target, pixels, image, description=f"{description}: {label}", series_uid=series)
    return report, label


def denoise_files(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    *,
    resolver: DenoiserResolver | None = None,
    options: DenoiseOptions | None = None,
    description: str = DEFAULT_DESCRIPTION,
    show_progress: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
) -> BatchSummary:
    """Denoise every image under ``inputs`` into ``output_dir``.

    Parameters
    ----------
    inputs
        Files and folders.
    output_dir
        Where outputs go (created); a folder input's tree is mirrored.
    resolver
        Which denoiser each image gets (default: the shipped model for its modality).
    options
        Noise level, tile and overlap.
    description
        Appended to the DICOM SeriesDescription (and recorded in other formats where possible).
    show_progress
        Show a progress bar (stderr).
    on_result
        Called with each :class:`FileResult` as it is known.

    Raises
    ------
    OutputConflictError
        Before anything is written, if an output would land on an input.
    """
    from pydicom.uid import generate_uid
    from tqdm.auto import tqdm

    start = time.perf_counter()
    resolver = resolver or DenoiserResolver()
    options = options or DenoiseOptions()
    jobs, failures = plan_jobs(inputs, output_dir)
    summary = BatchSummary()
    for failure in failures:
        summary.results.append(failure)
        if on_result is not None:
            on_result(failure)
    new_series: dict[str, str] = {}  # input SeriesInstanceUID → the derived series' new UID
    bar = tqdm(total=len(jobs), unit="file", desc="denoising", disable=not show_progress, leave=False)
    try:
        for job in jobs:
            t0 = time.perf_counter()
            try:
                image = read_image(job.source)
                pixels, report, label = denoise_image(image, resolver, options)
                uid = series_uid(image)
                derived_uid = new_series.setdefault(uid, generate_uid()) if uid else None
                # One input series → one derived series: every file of it gets the same new SeriesInstanceUID.
                write_like_source(
                    job.target, pixels, image, description=f"{description}: {label}", series_uid=derived_uid
                )
                sigmas = [s for s in report.sigmas if s is not None]
                result = FileResult(
                    job.source,
                    job.target,
                    True,
                    seconds=time.perf_counter() - t0,
                    denoiser=label,
                    sigma=float(np.mean(sigmas)) if sigmas else None,
                )
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # one bad file must not stop the batch; its reason is reported
                result = FileResult(job.source, job.target, False, _one_line(exc), time.perf_counter() - t0)
            summary.results.append(result)
            if on_result is not None:
                on_result(result)
            bar.update(1)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
