"""Denoising many files: expand inputs, plan outputs safely, run, and report every failure.

* Inputs are files or folders (searched recursively); a folder's output mirrors its tree under the
  output folder, a file lands directly in it.
* Nothing is written when any planned output would land on an input, or two inputs would write
  the same output (:class:`OutputConflictError`).
* Outputs that exist already are dealt with when the batch is planned, by one rule for every
  executor (:func:`plan_jobs`, ``existing=``): refused (the default: nothing is written), replaced
  (``"overwrite"``), or their inputs skipped (``"skip"``: an interrupted run resumed).
* Each file succeeds or fails on its own: a corrupt file, a text file named ``.dcm`` or an empty
  folder becomes a :class:`FileResult` with its reason, and the rest of the batch goes on.
* DICOM files of one input series become one new derived series: all share one new
  SeriesInstanceUID (each gets a new SOPInstanceUID).
* The noise level used and the strength are reported per file, or once per DICOM series
  (:meth:`BatchSummary.noise_lines`), and recorded in each derived DICOM's DerivationDescription; a
  noise level given to a denoiser that takes none is said once per run (:attr:`BatchSummary.notes`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path

import numpy as np

from meddenoise.data import Normalizer
from meddenoise.data.intensity import (
    IntensitySpec,
    fit_intensity,
    meta_intensity_args,
    percentile_sample_step,
)
from meddenoise.io import (
    ExistingOutput,
    ImageReadError,
    ImageWriteError,
    MedicalImage,
    NiftiSlices,
    broken_links,
    file_series_uid,
    find_images,
    open_nifti_slices,
    output_name,
    read_image,
    series_uid,
    write_like_source,
    write_nifti_slices,
    written_dtype,
)
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline.core import (
    DenoiseOptions,
    SliceReport,
    denoise_pixels,
    denoise_slices,
    describe_noise,
    ignored_notes,
)
from meddenoise.pipeline.executors import Execution, TaskFailure, run_tasks

__all__ = [
    "DEFAULT_DESCRIPTION",
    "BatchSummary",
    "FileJob",
    "FileResult",
    "OutputConflictError",
    "denoise_file",
    "denoise_files",
    "denoise_image",
    "denoise_nifti_volume",
    "derivation",
    "plan_jobs",
    "resumed_series",
]

DEFAULT_DESCRIPTION = "denoised by meddenoise"
_BROKEN_LINK = "broken symbolic link (or a loop of links)"


class OutputConflictError(ValueError):
    """Planned outputs would overwrite an input or each other; nothing was written."""


@dataclass(frozen=True)
class FileJob:
    """One input file and the output it will be written to."""

    source: Path
    target: Path


@dataclass
class FileResult:
    """The outcome of one input: ``ok`` with its output, or failed with a one-line ``reason``.

    ``skipped`` marks an input left alone because its output existed (``existing="skip"``).
    """

    source: Path
    target: Path | None
    ok: bool
    reason: str = ""
    seconds: float = 0.0
    denoiser: str = ""
    sigma: float | None = None
    report: SliceReport | None = None
    series: str | None = None
    skipped: bool = False


@dataclass
class BatchSummary:
    """All results of a batch, its total time and the notes said during it (each once)."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def noise_lines(self) -> list[str]:
        """One line per denoised file, or per input DICOM series, with the noise level used and the strength.

        E.g. ``scan.dcm: estimated noise 17.5 HU; strength 1.0``, or for a series of 45 files
        ``study/IMG001.dcm (+44 more files of its series): estimated noise 17.5 HU (per slice
        15.2-19.0); strength 1.0``.
        """
        groups: dict[str, list[FileResult]] = {}
        for result in self.done:
            if result.report is not None:
                groups.setdefault(result.series or str(result.source), []).append(result)
        lines = []
        for members in groups.values():
            name = str(members[0].source)
            if len(members) > 1:
                name += f" (+{len(members) - 1} more files of its series)"
            reports = [m.report for m in members if m.report is not None]
            lines.append(f"{name}: {describe_noise(reports)}")
        return lines

    @property
    def done(self) -> list[FileResult]:
        return [r for r in self.results if r.ok and not r.skipped]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if r.skipped]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed


def plan_jobs(
    inputs: Iterable[str | Path], output_dir: str | Path, *, existing: ExistingOutput = "refuse"
) -> tuple[list[FileJob], list[FileResult]]:
    """Expand files and folders into jobs; inputs that do not become a job are returned as results.

    ``existing`` says what happens to an output that exists already, decided here once per job so
    that whatever runs the jobs honours it: ``"refuse"`` raises before anything is written,
    ``"overwrite"`` keeps the job, ``"skip"`` turns it into a skipped :class:`FileResult`.
    Returns ``(jobs, results)``: the results are failures (no such file, empty folder) and skips.

    Raises
    ------
    OutputConflictError
        If an output would land on an input file, two inputs would write the same output, or
        (``existing="refuse"``) outputs exist already.
    """
    if existing not in ("refuse", "overwrite", "skip"):
        raise ValueError(f"existing must be 'refuse', 'overwrite' or 'skip', got {existing!r}")
    out_root = Path(output_dir)
    jobs: list[FileJob] = []
    failures: list[FileResult] = []
    for raw in inputs:
        source = Path(raw)
        if source.is_dir():
            files = find_images(source)
            links = broken_links(source)
            failures += [FileResult(link, None, False, _BROKEN_LINK) for link in links]
            if not files and not links:
                failures.append(FileResult(source, None, False, "folder holds no image files"))
            for path in files:
                rel = path.relative_to(source)
                jobs.append(FileJob(path, out_root / rel.parent / output_name(path)))
        elif source.is_file():
            jobs.append(FileJob(source, out_root / output_name(source)))
        elif source.is_symlink():
            failures.append(FileResult(source, None, False, _BROKEN_LINK))
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
    present = [job for job in jobs if job.target.is_symlink() or job.target.exists()]
    folders = [job for job in present if job.target.is_dir()]
    if folders:  # never replaced, whatever the policy
        raise OutputConflictError(f"{folders[0].target}: a folder stands where the output file would go")
    if present and existing == "refuse":
        more = f" (and {len(present) - 1} more)" if len(present) > 1 else ""
        raise OutputConflictError(
            f"{present[0].target}: output exists{more}; pass --overwrite to replace "
            "or --skip-existing to keep existing outputs"
        )
    if present and existing == "skip":
        keep = {id(job) for job in present}
        failures += [FileResult(j.source, j.target, True, "output exists", skipped=True) for j in present]
        jobs = [job for job in jobs if id(job) not in keep]
    return jobs, failures


def _one_line(exc: BaseException, source: Path | None = None) -> str:
    """A failure's reason in one line, in the tool's words rather than a library's."""
    if isinstance(exc, MemoryError):  # numpy's text names an internal array shape and dtype
        return "not enough memory to process this image"
    if isinstance(exc, ImageReadError | ImageWriteError) and source is not None and exc.path == source:
        return exc.reason  # the batch line names the file already
    text = " ".join(str(exc).split())
    if isinstance(exc, TypeError) and "dtype" in text.lower():  # e.g. numpy's DTypePromotionError
        return "unsupported pixel data type"
    return text or type(exc).__name__


def resumed_series(skipped: Iterable[FileResult]) -> dict[str, str]:
    """Input SeriesInstanceUID → the UID of the derived series already written for it, from the outputs
    that a resumed batch (``existing="skip"``) keeps, so that the rest of a series joins it."""
    found: dict[str, str] = {}
    for result in skipped:
        if result.target is None:
            continue
        source_uid = file_series_uid(result.source)
        if source_uid is not None and source_uid not in found:
            written_uid = file_series_uid(result.target)
            if written_uid is not None:
                found[source_uid] = written_uid
    return found


def denoise_image(
    image: MedicalImage,
    resolver: DenoiserResolver,
    options: DenoiseOptions,
    *,
    progress: Callable[[int], None] | None = None,
    dtype: np.dtype | None = None,
) -> tuple[np.ndarray, SliceReport, str]:
    """Denoise a :class:`~meddenoise.io.MedicalImage`; returns (pixels in original units, report, label).

    The noise level of ``options`` is in the image's units (:attr:`meddenoise.io.ImageMeta.units`).
    The pixels are float32, or ``dtype`` (rounded and clipped, e.g. the type
    :func:`~meddenoise.io.written_dtype` says the output file stores).
    """
    meta = image.meta
    choice = resolver.for_modality(meta.modality)
    pixels, report = denoise_pixels(
        image.pixels,
        choice.denoiser,
        intensity=choice.intensity,
        **meta_intensity_args(meta),
        options=options,
        progress=progress,
        out=None if dtype is None else np.empty(image.pixels.shape, dtype=dtype),
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
    streamed = denoise_nifti_volume(source, target, resolver=resolver, options=options or DenoiseOptions())
    if streamed is not None:
        return streamed
    image = read_image(Path(source))
    dtype = written_dtype(target, image)
    pixels, report, label = denoise_image(image, resolver, options or DenoiseOptions(), dtype=dtype)
    write_like_source(
        target, pixels, image, description=derivation(description, label, report), series_uid=series
    )
    return report, label


def denoise_nifti_volume(
    source: str | Path, target: str | Path, *, resolver: DenoiserResolver, options: DenoiseOptions
) -> tuple[SliceReport, str] | None:
    """Denoise a NIfTI volume into a NIfTI ``target`` slice by slice: the memory of a few slices, not of
    the volume (read lazily, denoised and written one slice at a time); returns (report, label).

    The file is the one :func:`denoise_file` writes through the whole volume, byte for byte. ``None``
    (nothing done) for anything else: a source or target that is not NIfTI, a 2D image, a missing file
    (the whole-image path says why).
    """
    source, target = Path(source), Path(target)
    if not all(str(path).lower().endswith((".nii", ".nii.gz")) for path in (source, target)):
        return None
    if not source.is_file() or source.stat().st_size == 0:
        return None
    volume = open_nifti_slices(source)
    if volume is None:
        return None
    meta = volume.meta
    choice = resolver.for_modality(meta.modality)
    mapping = _fit_volume_intensity(volume, choice.intensity)
    slices, report = denoise_slices(
        volume, choice.denoiser, mapping=mapping, units=meta.units, options=options
    )
    write_nifti_slices(target, slices, like=volume)
    return report, choice.label


def _fit_volume_intensity(volume: NiftiSlices, spec: IntensitySpec) -> Normalizer:
    """:func:`~meddenoise.data.fit_intensity` of the whole volume, without holding it.

    Its extremes stand for the volume first: they give its min/max mapping, and a window or a range
    ignores the pixels. A percentile mapping is fitted on the very sample ``fit_intensity`` draws
    from the whole volume (every :func:`~meddenoise.data.intensity.percentile_sample_step`-th pixel of the flattened stack),
    gathered slice by slice; that sample is small enough for ``fit_intensity`` to take it whole.
    """
    fit = partial(fit_intensity, spec=spec, **meta_intensity_args(volume.meta))
    mapping = fit(np.array([volume.low, volume.high], dtype=np.float32))
    if mapping.method != "percentile":
        return mapping
    count, height, width = volume.shape
    size, area = count * height * width, height * width
    step = percentile_sample_step(size)
    sample = np.concatenate(
        # copies: a view would keep its whole slice alive
        [pixels.reshape(-1)[(-index * area) % step :: step].copy() for index, pixels in enumerate(volume)]
    )
    return fit(sample)


def derivation(description: str, label: str, report: SliceReport) -> str:
    """What a derived file records (DICOM DerivationDescription, ST: up to 1024 characters).

    E.g. ``denoised by meddenoise: pretrained ct; estimated noise 17.5 HU; strength 1.0``.
    """
    return f"{description}: {label}; {report.describe()}"[:1024]


def _derived_series(series_seed: str, uid: str) -> str:
    """The new SeriesInstanceUID of input series ``uid`` in the batch ``series_seed`` (the same in every worker)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[series_seed, uid]))


#: The resolver a worker process last built its denoisers with (one model stays loaded across files).
_WORKER_RESOLVER: list[DenoiserResolver] = []


def _local_resolver(resolver: DenoiserResolver) -> DenoiserResolver:
    """``resolver``, or an equal one this process already loaded denoisers into."""

    def choice(r: DenoiserResolver) -> tuple[object, ...]:  # what it resolves to, not what it has loaded
        return tuple(getattr(r, f.name) for f in fields(r) if not f.name.startswith("_"))

    if _WORKER_RESOLVER and choice(_WORKER_RESOLVER[0]) == choice(resolver):
        return _WORKER_RESOLVER[0]
    _WORKER_RESOLVER[:] = [resolver]
    return resolver


@dataclass(frozen=True)
class _FileTask:
    """Denoise one planned file; the unit of work of a batch (picklable, so it can run in any worker).

    ``resumed`` maps input series to the derived series a resumed run already began; any other input
    series gets a UID derived from ``series_seed`` and its own UID, the same in every worker.
    """

    resolver: DenoiserResolver
    options: DenoiseOptions
    description: str
    series_seed: str
    resumed: dict[str, str] = field(default_factory=dict)

    def __call__(self, job: FileJob) -> FileResult:
        t0 = time.perf_counter()
        try:
            report, label, uid = self._denoise(job)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one bad file must not stop the batch; its reason is reported
            return FileResult(
                job.source, job.target, False, _one_line(exc, job.source), time.perf_counter() - t0
            )
        sigmas = [s for s in report.sigmas if s is not None]
        return FileResult(
            job.source,
            job.target,
            True,
            seconds=time.perf_counter() - t0,
            denoiser=label,
            sigma=float(np.mean(sigmas)) if sigmas else None,
            report=report,
            series=uid,
        )

    def _denoise(self, job: FileJob) -> tuple[SliceReport, str, str | None]:
        """Denoise and write one file; returns (report, label, its DICOM series UID or ``None``)."""
        resolver = _local_resolver(self.resolver)
        streamed = denoise_nifti_volume(job.source, job.target, resolver=resolver, options=self.options)
        if streamed is not None:
            return (*streamed, None)
        image = read_image(job.source)
        dtype = written_dtype(job.target, image)
        pixels, report, label = denoise_image(image, resolver, self.options, dtype=dtype)
        uid = series_uid(image)
        derived = (self.resumed.get(uid) or _derived_series(self.series_seed, uid)) if uid else None
        write_like_source(
            job.target,
            pixels,
            image,
            description=derivation(self.description, label, report),
            series_uid=derived,
        )
        return report, label, uid


def _mean_sigma(report: SliceReport) -> float | None:
    sigmas = [s for s in report.sigmas if s is not None]
    return float(np.mean(sigmas)) if sigmas else None


def denoise_files(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    *,
    resolver: DenoiserResolver | None = None,
    options: DenoiseOptions | None = None,
    description: str = DEFAULT_DESCRIPTION,
    existing: ExistingOutput = "refuse",
    show_progress: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    execution: Execution | None = None,
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
        Noise level (in each image's units), strength, tile and overlap.
    description
        Appended to the DICOM SeriesDescription (and recorded in other formats where possible).
    existing
        Outputs that exist already: ``"refuse"`` (nothing is written), ``"overwrite"`` or ``"skip"``
        their inputs (:func:`plan_jobs`).
    show_progress
        Show a progress bar (stderr).
    on_result
        Called with each :class:`FileResult` as it is known.
    on_note
        Called with each note as it arises, once per run (also kept in :attr:`BatchSummary.notes`),
        e.g. that a denoiser ignores the noise level it was given.
    execution
        Where the files are denoised (:class:`~meddenoise.pipeline.executors.Execution`): in this
        process (the default), in ``jobs`` local processes, or on a Dask cluster; one task per file
        (the planned jobs: skipped inputs never reach a worker), the same outputs and results in the
        plan's order whichever runs them.

    Raises
    ------
    OutputConflictError
        Before anything is written, if an output would land on an input, or exists and
        ``existing="refuse"``.
    """
    from pydicom.uid import generate_uid
    from tqdm.auto import tqdm

    start = time.perf_counter()
    resolver = resolver or DenoiserResolver()
    options = options or DenoiseOptions()
    execution = execution or Execution()
    jobs, failures = plan_jobs(inputs, output_dir, existing=existing)
    summary = BatchSummary()
    for failure in failures:
        summary.results.append(failure)
        if on_result is not None:
            on_result(failure)
    if execution.scheduler is not None or execution.jobs > 1:
        # workers build their own denoisers: ship the choice, not this process's loaded ones
        resolver = copy.copy(resolver)
        resolver._cache = {}
    # every file of one input series joins the same derived series, wherever it is denoised; a resumed
    # run continues the series it began
    task = _FileTask(
        resolver, options, description, series_seed=generate_uid(), resumed=resumed_series(summary.skipped)
    )
    noted: set[tuple[str, str]] = set()  # (denoiser, what) already said: an ignored noise level or kind
    done: dict[int, FileResult] = {}
    bar = tqdm(total=len(jobs), unit="file", desc="denoising", disable=not show_progress, leave=False)
    try:
        for index, outcome in run_tasks(task, jobs, execution):
            if isinstance(outcome, TaskFailure):  # the task itself broke (e.g. its worker died)
                outcome = FileResult(jobs[index].source, jobs[index].target, False, outcome.reason)
            result = outcome
            notes = ignored_notes(result.denoiser, result.report) if result.report is not None else {}
            for what, note in notes.items():
                if (result.denoiser, what) not in noted:
                    noted.add((result.denoiser, what))  # each said once per denoiser and run
                    summary.notes.append(note)
                    if on_note is not None:
                        on_note(note)
            done[index] = result
            if on_result is not None:
                on_result(result)
            bar.update(1)
    finally:
        bar.close()
    summary.results.extend(done[i] for i in sorted(done))  # the plan's order, however the tasks finished
    summary.seconds = time.perf_counter() - start
    return summary
