"""The low-dose CT benchmark protocol (``meddenoise benchmark --protocol ldct``), after Eulig et al. 2024.

Eulig, Ommer & Kachelriess, "Benchmarking deep learning-based low-dose CT image denoising
algorithms", Medical Physics 2024 (code: github.com/eeulig/ldct-benchmark). What this preset keeps of
their conventions, on the user's own CT folder:

* **Scores**: PSNR and SSIM on ``HU + 1024`` clipped to ``[0, 2924]`` with data range 2924 (here:
  both images clipped to -1024..1900 HU; PSNR does not see the offset), SSIM with a 7x7 uniform window;
  beside them the CT measures of :mod:`meddenoise.metrics.ct` against the full-dose slice: HU bias in
  soft tissue, the edge gradient ratio, residual structure (of the error), and the noise power spectrum
  of the error (output - full dose) in flat tissue ROIs (32x32; peak and mean frequency in cycles/mm
  from the DICOM pixel spacing, and the error's std in HU below and above :data:`NPS_COARSE` = 0.1
  cycles/mm: coarse mottle and finer grain), and the error's texture distance to the added noise
  (:func:`~meddenoise.metrics.ct.nps_texture_distance` of the two NPS in the same ROIs: 0 when the noise
  left behind has the scan's own texture at any level, towards 1 for a "plastic" or otherwise changed
  texture; the peak moves in steps of ``1 / (32 dx)``, about 0.045 /mm, the distance does not). The
  ``noisy`` row's NPS is that of the simulated noise itself (distance 0).
* **Split by patient**: every score is averaged over a patient's slices first, then over patients
  (each patient counts once; the DICOM PatientID, else the file name). No slice of a patient a model
  was trained on belongs in this folder.
  With BM3D told the true std in the run, a table counts in how many patients each method beats it by
  >= 1 dB, on texture distance, on edge gradient ratio and on all three at once
  (:meth:`LDCTResult.against_reference`).
* **Dose levels**: the project's projection-domain simulation ``lowdose-ct(dose=D)`` (Beer-Lambert
  Poisson + electronic noise, FBP noise insertion) with ``pixel_mm`` from the DICOM, applied to the
  routine-dose slices, which serve as the reference. ``kernel`` is the FBP filter of the added noise:
  ``"ramp"`` (full band, the sharpest texture, at the simulation's own photon count), ``"hann:0.5"`` (a
  window and its cutoff as a fraction of Nyquist), or ``"matched"`` (the default since 2026-11-30): the scan's own kernel and noise level, as a real low-dose scan of that
  patient on that scanner would have them: per slice, the Hann cutoff whose noise has the mean NPS
  frequency of the scan's own noise in its flat tissue (:func:`matched_cutoff`), and the added noise
  scaled to ``routine * sqrt(1 / dose - 1)`` in fat and soft tissue (``routine`` = the CT noise estimate
  of the routine-dose slice), so the low-dose slice's noise is ``routine / sqrt(dose)``. Clinical soft and
  standard kernels give noise far coarser than the ramp. The reference carries its own noise, so the PSNR
  here is against a noisy reference (as on the Mayo data, whose full-dose images are noisy too).
* **Methods**: each denoiser that takes a noise level is run ``told`` (the true std of the simulated
  noise: ``std(noisy - full dose)`` over the body's fat and soft tissue, see :func:`true_noise_std`)
  and ``blind`` (:func:`meddenoise.noise.estimate_ct_noise` of the noisy slice in HU: what
  ``meddenoise denoise`` does by default); others (e.g. a RED-CNN checkpoint) once.
* **Routine dose**: the same methods on the unaltered slices, blind, measured by
  :func:`meddenoise.metrics.ct.routine_dose_faithfulness` (HU shift, edge gradient ratio, flat-region
  noise reduction, residual structure of the removed component).
* **Published**: RED-CNN's and the low-dose input's PSNR/SSIM on the Mayo LDCT-and-Projection test set
  as the authors list them (:data:`PUBLISHED_LDCT`) are printed below the table, marked as a different
  dataset and dose simulation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from meddenoise._utils import atomic_path
from meddenoise.denoiser import Denoiser
from meddenoise.evaluation.bench import NOISY, _json_safe, _write_csv, evaluate
from meddenoise.evaluation.benchmark import BenchImage
from meddenoise.evaluation.scores import Score
from meddenoise.methods import DenoiserChoice

if TYPE_CHECKING:
    from meddenoise.metrics.ct import NoisePowerSpectrum

__all__ = [
    "LDCT_CLIP",
    "LDCT_DATA_RANGE",
    "PUBLISHED_LDCT",
    "LDCTImage",
    "LDCTResult",
    "ldct_benchmark",
    "load_ldct_images",
    "matched_cutoff",
    "parse_doses",
    "parse_kernel",
    "scale_to_scan_level",
    "true_noise_std",
]

#: HU + 1024 clipped to [0, 2924] (Eulig et al. 2024), i.e. HU clipped to -1024..1900; data range 2924.
LDCT_CLIP = (-1024.0, 1900.0)
LDCT_DATA_RANGE = 2924.0
#: Side of the flat-tissue ROIs of the NPS.
NPS_ROI = 32
#: Frequency (cycles/mm) that splits the error's noise into coarse mottle (periods over 10 mm) and finer grain.
NPS_COARSE = 0.1
#: Window and searched cutoffs (fractions of Nyquist) of kernel="matched".
MATCHED_WINDOW = "hann"
MATCHED_CUTOFFS = tuple(round(0.2 + 0.05 * k, 2) for k in range(17))  # 0.2 .. 1.0
#: Table columns: (key, label, decimals).
_COLUMNS = (
    ("psnr", "PSNR dB", 2),
    ("ssim", "SSIM", 4),
    ("hu_bias_soft", "HU bias soft", 2),
    ("hu_bias_soft_core", "HU bias soft core", 2),
    ("gradient_ratio", "edge grad. ratio", 4),  # methods differ in the 4th place
    ("residual_structure", "resid. structure", 3),
    ("nps_peak", "NPS peak /mm", 3),
    ("nps_mean", "NPS mean f /mm", 3),
    ("nps_distance", "texture dist.", 3),
    ("nps_coarse_hu", "error < 0.1 /mm HU", 1),
    ("nps_fine_hu", "error >= 0.1 /mm HU", 1),
    ("seconds", "s / slice", 2),
)
#: The run the per-patient counts compare with (:meth:`LDCTResult.against_reference`): BM3D told the true std.
REFERENCE_RUN = "bm3d (true σ)"
#: The PSNR margin over it that issue 13 asks for (dB).
MARGIN_DB = 1.0

_ROUTINE_COLUMNS = (
    ("shift_soft_hu", "soft-tissue shift HU", 2),
    ("shift_fat_hu", "fat shift HU", 2),
    ("gradient_ratio", "edge grad. ratio", 4),
    ("noise_in_hu", "flat noise in HU", 1),
    ("noise_out_hu", "flat noise out HU", 1),
    ("noise_reduction", "noise reduction", 3),
    ("residual_structure", "resid. structure", 3),
)

#: PSNR (dB) and SSIM of the low-dose input ("LD") and RED-CNN on the test set of the Mayo
#: LDCT-and-Projection data (TCIA; chest at 10 % dose, abdomen and head at 25 %), as listed by the
#: authors in github.com/eeulig/ldct-benchmark, docs/denoising_algorithms.md ("Test set performance",
#: commit 73b4cef2). A different dataset, dose simulation and reference: not comparable cell by cell.
PUBLISHED_LDCT: dict[str, dict[str, float]] = {
    "LD (low-dose input)": {
        "psnr chest": 18.066,
        "psnr abdomen": 29.117,
        "psnr neuro": 30.923,
        "ssim chest": 0.312,
        "ssim abdomen": 0.856,
        "ssim neuro": 0.914,
    },
    "RED-CNN": {
        "psnr chest": 28.002,
        "psnr abdomen": 33.685,
        "psnr neuro": 34.132,
        "ssim chest": 0.584,
        "ssim abdomen": 0.913,
        "ssim neuro": 0.932,
    },
}


@dataclass(frozen=True)
class LDCTImage:
    """One routine-dose CT slice in HU with its patient and pixel size.

    ``full`` is the whole slice (the dose simulation and the noise estimates need the whole body);
    ``pixels`` the part that is denoised and scored (a centre crop of ``crop`` pixels, or all of it).
    """

    name: str
    patient: str
    full: np.ndarray
    pixel_mm: float
    bench: BenchImage
    crop: int | None = None

    @property
    def pixels(self) -> np.ndarray:
        return self.bench.pixels

    def cut(self, full: np.ndarray) -> np.ndarray:
        """The scored part of a whole-slice array (e.g. the noisy slice)."""
        from meddenoise.evaluation.benchmark import centre_crop

        return np.ascontiguousarray(centre_crop(full, self.crop) if self.crop else full)


def parse_doses(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"0.25,0.1"`` → ``(0.25, 0.1)``; each dose a fraction in (0, 1]; ``"none"`` → ``()`` (routine dose only).

    Examples
    --------
    >>> parse_doses("0.25, 0.1"), parse_doses("none")
    ((0.25, 0.1), ())
    """
    if isinstance(text, str) and text.strip().lower() == "none":
        return ()
    items = [float(v) for v in text.split(",") if v.strip()] if isinstance(text, str) else list(text)
    if not items:
        raise ValueError("no dose levels given")
    for dose in items:
        if not 0 < dose <= 1:
            raise ValueError(f"dose must be a fraction in (0, 1], got {dose:g}")
    return tuple(float(d) for d in items)


def parse_kernel(text: str) -> tuple[str, float] | None:
    """``"ramp"`` → ``("ramp", 1.0)``; ``"hann:0.5"`` → ``("hann", 0.5)``; ``"matched"`` → ``None``.

    Examples
    --------
    >>> parse_kernel("shepp-logan:0.7"), parse_kernel("matched")
    (('shepp-logan', 0.7), None)
    """
    from meddenoise.noise.ct import FBP_FILTERS

    spec = text.strip().lower()
    if spec == "matched":
        return None
    window, _, cutoff_text = spec.partition(":")
    if window not in FBP_FILTERS:
        raise ValueError(
            f"unknown CT kernel {text!r}: use matched, or one of {', '.join(FBP_FILTERS)} with an optional "
            "':CUTOFF' (a fraction of Nyquist, e.g. hann:0.5)"
        )
    try:
        cutoff = float(cutoff_text) if cutoff_text else 1.0
    except ValueError:
        raise ValueError(f"CT kernel {text!r}: cutoff {cutoff_text!r} is not a number") from None
    if not 0 < cutoff <= 1:
        raise ValueError(f"CT kernel {text!r}: cutoff must be in (0, 1] (a fraction of Nyquist)")
    return window, cutoff


def matched_cutoff(full: np.ndarray, pixel_mm: float, rng: np.random.Generator) -> float:
    """The Hann cutoff (fraction of Nyquist) whose simulated noise has the scan's own noise texture.

    The scan's texture is the mean frequency of its NPS in flat fat / soft-tissue ROIs (plane-detrended,
    so smooth anatomy counts little); the simulated noise's NPS at each cutoff of MATCHED_CUTOFFS is that
    of one full-band simulation (``lowdose-ct``, dose 0.25: the dose scales the NPS, not its shape) times
    the window's gain squared; the cutoff with the nearest mean frequency wins. 1.0 when the slice has
    fewer than two flat ROIs.
    """
    from meddenoise.metrics.ct import flat_rois, nps_in_rois
    from meddenoise.noise import LowDoseCTNoise
    from meddenoise.noise.ct import fbp_window

    full = np.asarray(full, np.float64)
    corners = flat_rois(full, size=NPS_ROI)
    if len(corners) < 2:
        return 1.0
    scan = nps_in_rois(full, corners, size=NPS_ROI, pixel_mm=pixel_mm, detrend="plane")
    noise = LowDoseCTNoise(dose=0.25, pixel_mm=pixel_mm).noise_hu(full, rng)
    ramp = nps_in_rois(noise, corners, size=NPS_ROI, pixel_mm=pixel_mm)
    freq = np.fft.fftshift(np.fft.fftfreq(NPS_ROI))  # cycles per pixel
    radius = np.hypot(*np.meshgrid(freq, freq, indexing="ij"))
    means = []
    for cutoff in MATCHED_CUTOFFS:
        power = ramp.nps2d * fbp_window(radius, MATCHED_WINDOW, cutoff) ** 2
        means.append(float((radius * power).sum() / power.sum()) / pixel_mm)
    return float(MATCHED_CUTOFFS[int(np.argmin(np.abs(np.asarray(means) - scan.mean_frequency)))])


def scale_to_scan_level(noisy: np.ndarray, full: np.ndarray, routine_noise: float, dose: float) -> np.ndarray:
    """``noisy`` with its added noise rescaled to what a scan at ``dose`` adds to this scan's own noise.

    A scan whose noise std is ``routine_noise`` at full dose has ``routine_noise / sqrt(dose)`` at
    ``dose`` (quantum noise), so the added part has std ``routine_noise * sqrt(1 / dose - 1)`` (measured as
    :func:`true_noise_std`, in fat and soft tissue); the simulation's own photon count knows neither the
    scanner's nor the kernel's noise level, only its pattern (streaks, more noise behind bone), kept here.
    """
    added = np.asarray(noisy, np.float64) - np.asarray(full, np.float64)
    now = true_noise_std(noisy, full)
    target = routine_noise * math.sqrt(max(1.0 / dose - 1.0, 0.0))
    scale = target / now if now > 0 else 0.0
    return (np.asarray(full, np.float64) + added * scale).astype(np.float32)


def load_ldct_images(
    data: str | Path | Sequence[str | Path], *, limit: int | None = None, crop: int | None = None
) -> list[LDCTImage]:
    """CT slices in HU (DICOM CT) from files and folders, with patient and pixel size.

    ``limit`` keeps the first N slices (sorted by path); ``crop`` scores a centre ``crop x crop`` part
    (the noise is still simulated on, and estimated from, the whole slice).

    Raises
    ------
    FileNotFoundError
        For a missing path or a folder without images.
    ValueError
        When an image is not CT in HU.
    """
    from meddenoise.data import list_images
    from meddenoise.evaluation.benchmark import centre_crop
    from meddenoise.io import read_image

    sources = [data] if isinstance(data, (str, Path)) else list(data)
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        files += list_images(path) if path.is_dir() else [path]
    images: list[LDCTImage] = []
    for file in files:
        image = read_image(file)
        meta = image.meta
        if meta.units != "HU":
            raise ValueError(f"{file}: not a CT image in HU ({meta.modality}, {meta.units})")
        patient = str(getattr(meta.header, "PatientID", "") or file.stem)
        stack = image.pixels if image.pixels.ndim == 3 else image.pixels[None]
        for k, slice_pixels in enumerate(stack):
            if limit is not None and len(images) >= limit:
                return images
            full = np.ascontiguousarray(slice_pixels, dtype=np.float32)
            pixels = np.ascontiguousarray(centre_crop(full, crop) if crop else full)
            name = file.name if len(stack) == 1 else f"{file.name}[{k}]"
            bench = BenchImage.from_meta(name, pixels, meta)
            spacing = meta.pixel_spacing
            images.append(
                LDCTImage(
                    name=name,
                    patient=patient,
                    full=full,
                    pixel_mm=float(np.mean(spacing)) if spacing else 0.7,
                    bench=bench,
                    crop=crop,
                )
            )
    if not images:
        raise FileNotFoundError(f"{data}: no CT images")
    return images


def true_noise_std(noisy: np.ndarray, clean: np.ndarray) -> float:
    """The std (HU) of ``noisy - clean`` over the body's fat and soft tissue (clean, smoothed, in -200..300 HU).

    Examples
    --------
    >>> clean = np.zeros((64, 64))
    >>> noise = np.random.default_rng(0).normal(0, 20, clean.shape)
    >>> round(true_noise_std(clean + noise, clean))
    20
    """
    from meddenoise.metrics.ct import tissue_mask

    mask = tissue_mask(clean, (-200.0, 300.0))
    diff = np.asarray(noisy, np.float64) - np.asarray(clean, np.float64)
    return float(diff[mask].std() if mask.sum() > 16 else diff.std())


def _flat_nps(
    image: np.ndarray, corners: Sequence[tuple[int, int]], pixel_mm: float
) -> NoisePowerSpectrum | None:
    """The NPS of ``image`` (an error or the added noise, HU) in the flat ROIs at ``corners``; None under two ROIs."""
    from meddenoise.metrics.ct import nps_in_rois

    return nps_in_rois(image, corners, size=NPS_ROI, pixel_mm=pixel_mm) if len(corners) >= 2 else None


def _nps_measures(
    error_nps: NoisePowerSpectrum | None, noise_nps: NoisePowerSpectrum | None
) -> dict[str, float]:
    """NPS peak and mean frequency of an error, its coarse / fine std (HU) and its texture distance to the
    added noise's NPS in the same ROIs (:func:`_flat_nps` of each)."""
    from meddenoise.metrics.ct import nps_texture_distance

    if error_nps is None or noise_nps is None:
        return dict.fromkeys(
            ("nps_peak", "nps_mean", "nps_distance", "nps_coarse_hu", "nps_fine_hu"), math.nan
        )
    return {
        "nps_peak": error_nps.peak_frequency,
        "nps_mean": error_nps.mean_frequency,
        "nps_distance": nps_texture_distance(error_nps, noise_nps),
        "nps_coarse_hu": error_nps.band_std(0.0, NPS_COARSE),
        "nps_fine_hu": error_nps.band_std(NPS_COARSE),
    }


@dataclass
class LDCTResult:
    """Per-image rows at every dose, the routine-dose rows, and their per-patient summaries."""

    rows: list[dict[str, Any]]
    routine: list[dict[str, Any]]
    methods: tuple[str, ...]
    doses: tuple[float, ...]
    config: dict[str, Any] = field(default_factory=dict)

    def summary(self, rows: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Mean per (dose, method) of each metric: over a patient's slices, then over patients."""
        source = self.rows if rows is None else rows
        out = []
        for (dose, method), metrics in _patient_means(source).items():
            entry: dict[str, Any] = {"dose": dose, "method": method}
            for metric, patients in metrics.items():
                means = [v for v in patients.values() if math.isfinite(v)]
                entry[metric] = float(np.mean(means)) if means else math.nan
            entry["patients"] = len({r["patient"] for r in source if r["method"] == method})
            out.append(entry)
        return out

    def against_reference(self, reference: str = REFERENCE_RUN) -> list[dict[str, Any]]:
        """Per dose and method, in how many patients it beats ``reference`` (a run label, BM3D told the true
        std by default) on issue 13's three counts: PSNR by at least :data:`MARGIN_DB`, a lower texture
        distance (closer to the scan's texture), a higher edge gradient ratio, and all three at once
        (``every_target``); each patient's slices averaged first. Empty when the run holds no ``reference``."""
        means = _patient_means(self.rows)
        out: list[dict[str, Any]] = []
        for dose in self.doses:
            ref = means.get((dose, reference))
            if ref is None:
                continue
            patients = {p for values in ref.values() for p in values}
            for method in self.methods:
                mine = means.get((dose, method))
                if method in (NOISY, reference) or mine is None:
                    continue
                won = {
                    count: _winners(mine, ref, patients, metric, better)
                    for count, (metric, better) in _COUNTS.items()
                }
                out.append(
                    {
                        "dose": dose,
                        "method": method,
                        "patients": len(patients),
                        **{count: len(winners) for count, winners in won.items()},
                        "every_target": len(set.intersection(*won.values())),
                    }
                )
        return out

    def sections(self) -> list[tuple[str, str, str]]:
        """(title, note, Markdown table): one per dose, the routine-dose one, the per-patient counts against
        BM3D told (when it ran), the published numbers."""
        out: list[tuple[str, str, str]] = []
        patients = len({r["patient"] for r in self.rows or self.routine})
        summary = self.summary()

        def table(columns: tuple[tuple[str, str, int], ...], entries: Sequence[Mapping[str, Any]]) -> str:
            lines = [
                "| method | " + " | ".join(label for _, label, _ in columns) + " |",
                "|---|" + "---:|" * len(columns),
            ]
            for entry in entries:
                cells = [_fmt(entry.get(key, math.nan), places) for key, _, places in columns]
                lines.append(f"| {entry['method']} | " + " | ".join(cells) + " |")
            return "\n".join(lines)

        kernel = str(self.config.get("kernel", "ramp"))
        for dose in self.doses:
            entries = [e for e in summary if e["dose"] == dose]
            noisy = next((e for e in entries if e["method"] == NOISY), {})
            kernel_text = (
                f"kernel matched to each scan: {MATCHED_WINDOW}, mean cutoff "
                f"{_fmt(noisy.get('kernel_cutoff', math.nan), 2)} of Nyquist"
                if kernel == "matched"
                else f"kernel {kernel}"
            )
            out.append(
                (
                    f"Simulated dose {dose:g} (lowdose-ct, {kernel_text}, pixel size from the DICOM): "
                    f"{patients} patient(s), "
                    "mean over each patient's slices, then over patients",
                    f"Noise std in fat and soft tissue: {_fmt(noisy.get('sigma_true', math.nan), 1)} HU (what "
                    f"'true σ' is told); blind CT estimate {_fmt(noisy.get('sigma_blind', math.nan), 1)} HU "
                    "(it reads the scan's own noise too).",
                    table(_COLUMNS, entries),
                )
            )
        wins = self.against_reference()
        if wins:
            lines = [
                f"| method | dose | PSNR >= +{MARGIN_DB:g} dB | texture closer | edges sharper | all three |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            lines += [
                f"| {w['method']} | {w['dose']:g} | {w['psnr_margin']} of {w['patients']} | "
                f"{w['texture_closer']} of {w['patients']} | {w['edges_sharper']} of {w['patients']} | "
                f"{w['every_target']} of {w['patients']} |"
                for w in wins
            ]
            out.append(
                (
                    f"Patient by patient against {REFERENCE_RUN}",
                    "In how many patients each method beats it (each patient's slices averaged first): PSNR "
                    f"by {MARGIN_DB:g} dB or more, a lower texture distance, a higher edge gradient ratio, "
                    "and all three at once.",
                    "\n".join(lines),
                )
            )
        if self.routine:
            out.append(
                (
                    "Routine dose (no noise added), blind: what the methods do to a real scan",
                    "Shifts are output - input in HU; noise reduction is 1 - flat-tissue std out / in.",
                    table(_ROUTINE_COLUMNS, self.summary(self.routine)),
                )
            )
        published = [
            "| method | PSNR chest | PSNR abdomen | PSNR neuro | SSIM chest | SSIM abdomen | SSIM neuro |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for method, values in PUBLISHED_LDCT.items():
            cells = [
                f"{values[f'{m} {part}']:.3f}"
                for m in ("psnr", "ssim")
                for part in ("chest", "abdomen", "neuro")
            ]
            published.append(f"| {method} | " + " | ".join(cells) + " |")
        out.append(
            (
                "Published, a DIFFERENT dataset: Mayo LDCT-and-Projection test set (TCIA; chest 10 % dose, "
                "abdomen and head 25 %), as listed by Eulig et al. (github.com/eeulig/ldct-benchmark)",
                "Not comparable cell by cell with the tables above: other patients, real low-dose scans, "
                "their own reference and normalisation.",
                "\n".join(published),
            )
        )
        return out

    def to_markdown(self) -> str:
        """The tables of :meth:`sections` as Markdown."""
        return "\n".join(f"### {title}\n\n{note}\n\n{table}\n" for title, note, table in self.sections())

    def to_html(self) -> str:
        """The same tables as an HTML report (:class:`meddenoise.report.html.HtmlReport`)."""
        from meddenoise.report.html import HtmlReport

        report = HtmlReport("Low-dose CT benchmark (meddenoise benchmark --protocol ldct)")
        report.add_paragraph(str(self.config.get("scoring", "")))
        for title, note, table in self.sections():
            report.add_heading(title, level=2).add_paragraph(note).add_table(table)
        return report.render()

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write ``per_image.csv``, ``routine.csv``, ``summary.md``, ``report.html`` and ``results.json``."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "per_image": folder / "per_image.csv",
            "routine": folder / "routine.csv",
            "markdown": folder / "summary.md",
            "html": folder / "report.html",
            "json": folder / "results.json",
        }
        if self.rows:
            _write_csv(paths["per_image"], list(self.rows[0]), self.rows)
        if self.routine:
            _write_csv(paths["routine"], list(self.routine[0]), self.routine)
        with atomic_path(paths["markdown"]) as tmp:
            tmp.write_text(self.to_markdown(), encoding="utf-8")
        with atomic_path(paths["html"]) as tmp:
            tmp.write_text(self.to_html(), encoding="utf-8")
        payload = {
            "config": self.config,
            "summary": self.summary(),
            "routine_summary": self.summary(self.routine),
            "against_reference": self.against_reference(),
            "published": PUBLISHED_LDCT,
            "rows": self.rows,
            "routine": self.routine,
        }
        with atomic_path(paths["json"]) as tmp:
            tmp.write_text(json.dumps(_json_safe(payload), indent=1) + "\n", encoding="utf-8")
        return {k: v for k, v in paths.items() if v.exists()}


def _patient_means(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, str], dict[str, dict[str, float]]]:
    """Per (dose, method) and metric, each patient's mean over its slices (NaN where none is finite); rows
    without a dose (the routine table's) count as dose 1."""
    slices: dict[tuple[Any, str], dict[str, dict[str, list[float]]]] = {}
    for row in rows:
        per_metric = slices.setdefault((row.get("dose", 1.0), row["method"]), {})
        for metric, value in row.items():
            if metric not in ("dose", "method", "patient", "image", "name"):
                per_metric.setdefault(metric, {}).setdefault(row["patient"], []).append(float(value))
    return {
        key: {
            metric: {
                patient: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
                for patient, v in patients.items()
            }
            for metric, patients in per_metric.items()
        }
        for key, per_metric in slices.items()
    }


#: Issue 13's per-patient counts against the reference run: the metric and when a method beats it there.
_COUNTS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "psnr_margin": ("psnr", lambda mine, ref: mine >= ref + MARGIN_DB),
    "texture_closer": ("nps_distance", lambda mine, ref: mine < ref),
    "edges_sharper": ("gradient_ratio", lambda mine, ref: mine > ref),
}


def _winners(
    mine: Mapping[str, Mapping[str, float]],
    ref: Mapping[str, Mapping[str, float]],
    patients: Iterable[str],
    metric: str,
    better: Callable[[float, float], bool],
) -> set[str]:
    """The ``patients`` in which ``mine`` (patient means per metric) is ``better`` than ``ref`` on ``metric``."""
    return {
        p
        for p in patients
        if better(mine.get(metric, {}).get(p, math.nan), ref.get(metric, {}).get(p, math.nan))
    }


def _fmt(value: Any, places: int) -> str:
    number = float(value)
    return "–" if not math.isfinite(number) else f"{number:.{places}f}"


def _runs(choices: Mapping[str, DenoiserChoice]) -> dict[str, tuple[str, DenoiserChoice]]:
    """Label → (mode, choice): ``told`` and ``blind`` for methods that take a noise level, else ``plain``."""
    runs: dict[str, tuple[str, DenoiserChoice]] = {}
    for name, choice in choices.items():
        if choice.denoiser.uses_sigma:
            runs[f"{name} (true σ)"] = ("told", choice)
            runs[f"{name} (blind)"] = ("blind", choice)
        else:
            runs[name] = ("plain", choice)
    return runs


def _score_all(
    runs: Mapping[str, tuple[str, DenoiserChoice]],
    images: Sequence[LDCTImage],
    noisy: Sequence[np.ndarray],
    sigmas: Mapping[str, Sequence[float]],
    *,
    scores: Sequence[Score],
    progress: bool,
) -> tuple[list[dict[str, Any]], dict[str, list[np.ndarray]]]:
    """Rows and outputs (HU) of every run on ``noisy``; ``sigmas[mode]`` per image (HU)."""
    rows: list[dict[str, Any]] = []
    outputs: dict[str, list[np.ndarray]] = {}
    for mode in ("told", "blind", "plain"):
        chosen = {label: choice for label, (m, choice) in runs.items() if m == mode}
        if not chosen:
            continue
        # one denoiser object may run under two labels (told, blind): evaluate keys them by label
        denoisers: dict[str, Denoiser] = {label: c.denoiser for label, c in chosen.items()}
        intensities = {
            label: [im.bench.fit(n, choice.intensity) for im, n in zip(images, noisy, strict=True)]
            for label, choice in chosen.items()
        }
        result = evaluate(
            denoisers,
            [im.pixels for im in images],
            None,
            scores,
            seed=0,
            noisy=list(noisy),
            sigma=list(sigmas[mode]) if mode != "plain" else None,
            intensities=intensities,
            image_names=[im.name for im in images],
            keep_outputs=True,
            progress=progress,
        )
        first = NOISY not in outputs  # the noisy input is scored once
        rows += [row for row in result.rows if row["method"] != NOISY or first]
        for label, outs in result.outputs.items():
            if label != NOISY or first:
                outputs[label] = [np.asarray(o, dtype=np.float64) for o in outs]
    return rows, outputs


def ldct_benchmark(
    choices: Mapping[str, DenoiserChoice],
    images: Sequence[LDCTImage],
    doses: Sequence[float] = (0.25, 0.1),
    *,
    seed: int = 0,
    routine: bool = True,
    progress: bool = True,
    kernel: str = "matched",
    modes: Collection[str] = ("told", "blind", "plain"),
) -> LDCTResult:
    """Run the protocol of the module docstring; ``choices`` from :func:`~meddenoise.evaluation.benchmark.benchmark_choices`.

    ``modes`` keeps only those runs: ``told`` and ``blind`` for the methods that take a noise level,
    ``plain`` for the others (e.g. ``("blind",)`` scores the models blind only, what a calibration on
    training slices judges).

    Raises
    ------
    ValueError
        For no images or no methods (none left in ``modes`` included).
    """
    from meddenoise.metrics.ct import flat_rois, routine_dose_faithfulness
    from meddenoise.noise import LowDoseCTNoise, estimate_ct_noise

    if not images:
        raise ValueError("no images to benchmark")
    runs = {label: run for label, run in _runs(choices).items() if run[0] in modes}
    if not runs:
        raise ValueError("no methods to benchmark")
    fixed_kernel = parse_kernel(kernel)
    scores = [
        Score("psnr", data_range=LDCT_DATA_RANGE, clip=LDCT_CLIP),
        Score("ssim", data_range=LDCT_DATA_RANGE, clip=LDCT_CLIP),
        Score("hu_bias_soft"),
        Score("hu_bias_soft_core"),
        Score("gradient_ratio"),
        Score("residual_structure"),
    ]
    rows: list[dict[str, Any]] = []
    # one kernel per slice whatever the dose (its own stream: the noise draws stay those of a fixed kernel)
    match_seeds = np.random.SeedSequence([seed, 1]).spawn(len(images))
    kernels = [
        fixed_kernel or (MATCHED_WINDOW, matched_cutoff(im.full, im.pixel_mm, np.random.default_rng(child)))
        for im, child in zip(images, match_seeds, strict=True)
    ]
    # each routine-dose slice's own noise: the matched level and the routine table's blind level
    routine_noise = [estimate_ct_noise(im.full) for im in images] if fixed_kernel is None or routine else []
    dose_seeds = np.random.SeedSequence(seed).spawn(len(doses))
    # the flat ROIs of each full-dose slice, found once for every method and dose
    flat = [flat_rois(im.pixels, size=NPS_ROI) for im in images]
    for dose, dose_seed in zip(doses, dose_seeds, strict=True):
        children = dose_seed.spawn(len(images))
        noisy_full = [
            LowDoseCTNoise(dose=dose, pixel_mm=im.pixel_mm, filter=window, cutoff=cutoff)(
                np.asarray(im.full, np.float64), rng=np.random.default_rng(child)
            ).astype(np.float32)
            for im, child, (window, cutoff) in zip(images, children, kernels, strict=True)
        ]
        if fixed_kernel is None:  # matched: the scan's own noise level too
            noisy_full = [
                scale_to_scan_level(n, im.full, own, dose)
                for n, im, own in zip(noisy_full, images, routine_noise, strict=True)
            ]
        noisy = [im.cut(n) for im, n in zip(images, noisy_full, strict=True)]
        sigmas = {
            "told": [true_noise_std(n, im.full) for n, im in zip(noisy_full, images, strict=True)],
            "blind": [estimate_ct_noise(n) for n in noisy_full],
        }
        dose_rows, outputs = _score_all(runs, images, noisy, sigmas, scores=scores, progress=progress)
        # the added noise's spectrum, once per slice: every method's error is compared with it
        noise_nps = [
            _flat_nps(out - im.pixels, corners, im.pixel_mm)
            for out, im, corners in zip(outputs[NOISY], images, flat, strict=True)
        ]
        for row in dose_rows:
            i = int(row["image"])
            im = images[i]
            rows.append(
                {
                    "dose": dose,
                    "patient": im.patient,
                    **row,
                    "sigma_true": sigmas["told"][i],
                    "sigma_blind": sigmas["blind"][i],
                    "kernel_cutoff": kernels[i][1],
                    **_nps_measures(
                        _flat_nps(outputs[row["method"]][i] - im.pixels, flat[i], im.pixel_mm), noise_nps[i]
                    ),
                }
            )
    routine_rows: list[dict[str, Any]] = []
    if routine:
        scans = [np.asarray(im.pixels, np.float32) for im in images]
        blind_runs = {label: run for label, run in runs.items() if run[0] != "told"}
        _, outputs = _score_all(
            blind_runs, images, scans, {"blind": routine_noise}, scores=scores[:1], progress=progress
        )
        for label, outs in outputs.items():
            if label == NOISY:
                continue
            for i, (im, out) in enumerate(zip(images, outs, strict=True)):
                measure = routine_dose_faithfulness(out, np.asarray(im.pixels, np.float64))
                routine_rows.append(
                    {"method": label, "patient": im.patient, "image": i, "name": im.name, **measure.as_dict()}
                )
    config = {
        "protocol": "ldct (Eulig et al. 2024 conventions; see meddenoise.evaluation.ldct)",
        "doses": list(doses),
        "kernel": kernel,
        "kernels": [f"{window}:{cutoff:g}" for window, cutoff in kernels],
        "seed": int(seed),
        "scoring": f"PSNR/SSIM on HU clipped to {LDCT_CLIP} (HU+1024 in [0, 2924]), data range 2924, SSIM 7x7 "
        "uniform; CT measures in HU against the full-dose slice; NPS of output - full dose in flat "
        f"{NPS_ROI}x{NPS_ROI} ROIs (texture dist.: its distance to the added noise's NPS, 0 = the same "
        "texture); mean over a patient's slices, then over patients",
        "told": "std of the simulated noise over fat and soft tissue (true_noise_std)",
        "blind": "meddenoise.noise.estimate_ct_noise of the noisy slice (HU)",
        "images": [
            {"name": im.name, "patient": im.patient, "pixel_mm": im.pixel_mm, "scored": list(im.pixels.shape)}
            for im in images
        ],
        "methods": {label: {"mode": mode, "denoiser": repr(c.denoiser)} for label, (mode, c) in runs.items()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return LDCTResult(
        rows=rows,
        routine=routine_rows,
        methods=(NOISY, *runs),
        doses=tuple(doses),
        config=config,
    )
