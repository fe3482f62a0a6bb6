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

from meddenoise.pipeline.core import DenoiseOptions, SliceReport, denoise_pixels
from meddenoise.pipeline.methods import DenoiserResolver

__all__ = [
    "IMAGE_SUFFIXES",
    "BatchSummary",
    "FileJob",
    "FileResult",
    "OutputConflictError",
    "denoise_files",
    "denoise_image",
    "plan_jobs",
]

#: File suffixes the pipeline reads and writes back in the same format.
IMAGE_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".ima", ".png", ".tif", ".tiff", ".nii", ".nii.gz")

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


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _is_dicom_without_suffix(path: Path) -> bool:
    if path.suffix:
        return False
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _is_image_file(path: Path) -> bool:
    return _suffix(path) in IMAGE_SUFFIXES or _is_dicom_without_suffix(path)


def _output_name(path: Path) -> str:
    # Extensionless DICOM files are written with a .dcm suffix, which the writer dispatches on.
    return path.name + ".dcm" if _is_dicom_without_suffix(path) else path.name


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
            files = sorted(
                p
                for p in source.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(source).parts)
                and _is_image_file(p)
            )
            if not files:
                failures.append(FileResult(source, None, False, "folder holds no image files"))
            for path in files:
                rel = path.relative_to(source)
                jobs.append(FileJob(path, out_root / rel.parent / _output_name(path)))
        elif source.is_file():
            jobs.append(FileJob(source, out_root / _output_name(source)))
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
    image: object,
    resolver: DenoiserResolver,
    options: DenoiseOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, SliceReport, str]:
    """Denoise a :class:`~meddenoise.io.MedicalImage`; returns (pixels in original units, report, label)."""
    meta = image.meta  # type: ignore[attr-defined]
    choice = resolver.for_modality(meta.modality)
    pixels, report = denoise_pixels(
        image.pixels,  # type: ignore[attr-defined]
        choice.denoiser,
        intensity=choice.intensity,
        modality=meta.modality,
        units=meta.units,
        original_dtype=meta.dtype,
        options=options,
        progress=progress,
    )
    return pixels, report, choice.label


def _series_uid(image: object) -> str | None:
    header = getattr(image.meta, "header", None)  # type: ignore[attr-defined]
    uid = getattr(header, "SeriesInstanceUID", None) if header is not None else None
    return str(uid) if uid else None


def _write(job: FileJob, pixels: np.ndarray, image: object, description: str, series_uid: str | None) -> None:
    from meddenoise.io import write_image

    meta = image.meta  # type: ignore[attr-defined]
    if _suffix(job.target) in (".tif", ".tiff") and np.issubdtype(np.dtype(meta.dtype), np.integer):
        # Keep an integer TIFF's depth (io's writer stores float32): round onto the source's grid.
        import tifffile

        from meddenoise._utils import atomic_path

        info = np.iinfo(np.dtype(meta.dtype))
        stored = np.clip(np.rint(pixels), info.min, info.max).astype(meta.dtype)
        with atomic_path(job.target) as tmp:
            tifffile.imwrite(tmp, stored, photometric="minisblack")
        return
    # One input series → one derived series: every file of it gets the same new SeriesInstanceUID.
    write_image(job.target, pixels, like=image, description=description, series_uid=series_uid)  # type: ignore[arg-type]


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

    from meddenoise.io import read_image

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
                uid = _series_uid(image)
                derived_uid = new_series.setdefault(uid, generate_uid()) if uid else None
                _write(job, pixels, image, f"{description}: {label}", derived_uid)
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
