"""``meddenoise demo``: built-in samples + noise → shipped models and classical baselines → one HTML page.

Needs no data folder and no network: the samples come with pydicom-data and nilearn
(:func:`meddenoise.data.load_samples`), the models with the package. Every denoiser comes from the
factory (:func:`meddenoise.methods.build_denoiser`); each sample is mapped to [0, 1] with the intensity
policy of the shipped model for its modality. The scores come from the one scoring path,
:func:`meddenoise.evaluation.evaluate`, as in ``meddenoise evaluate`` and the reproductions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meddenoise._optional import is_available
from meddenoise._utils import RNGLike, as_rng
from meddenoise.data.intensity import CLASSICAL_INTENSITY, fit_intensity, to_unit
from meddenoise.denoiser import Denoiser
from meddenoise.methods import PRETRAINED_PREFIX, build_denoiser, shipped_names

__all__ = ["DEMO_NOISE", "DemoResult", "demo_denoisers", "run_demo"]

#: Gondara 2016's Gaussian corruption: clip(x + 0.1 N(0, 1), 0, 1).
DEMO_NOISE = "gaussian(p=0.1,sigma=1)"
#: Largest side of a demo image; larger samples are centre-cropped then area-reduced to keep it fast.
DEMO_SIZE = 256


@dataclass
class DemoResult:
    """Where the page is and the metric rows it shows."""

    html: Path
    rows: list[dict[str, Any]]
    seconds: float


@dataclass
class _Sample:
    name: str
    modality: str
    clean: np.ndarray  # [0, 1], the shipped models' intensity mapping applied


def _as_unit_sample(name: str, modality: str, pixels: np.ndarray, units: str | None, size: int) -> _Sample:
    from meddenoise.data import center_crop_to_square, resize
    from meddenoise.pretrained import pretrained_for_modality

    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[len(arr) // 2]
    model = pretrained_for_modality(modality)
    # the shipped model's intensity policy (no shipped models: the classical one)
    spec = (
        build_denoiser(PRETRAINED_PREFIX + model).intensity
        if model in shipped_names()
        else CLASSICAL_INTENSITY
    )
    unit = to_unit(fit_intensity(arr, spec, modality=modality, units=units), arr)
    unit = center_crop_to_square(unit)
    if unit.shape[0] > size:
        unit = resize(unit, size)
    return _Sample(name, modality, np.clip(unit, 0.0, 1.0).astype(np.float32))


#: Built-in samples the demo shows, in order: none of them (nor the slice taken) was trained on, except
#: the radiograph, whose left three quarters the ``xray`` model saw (only two radiographs ship).
DEMO_SAMPLES = ("693_UNCR", "MR-SIEMENS-DICOM-WithOverlays", "mni152-t1", "RG3_UNCR", "US1_UNCR")


def _demo_samples(size: int) -> list[_Sample]:
    """The :data:`DEMO_SAMPLES` that are installed (the MNI152 one needs nilearn), mapped to [0, 1]."""
    from meddenoise.data import load_samples

    by_name = {sample.name: sample for sample in load_samples()}
    chosen = [by_name[name] for name in DEMO_SAMPLES if name in by_name]
    if not chosen:
        raise ValueError("no built-in samples found (are pydicom-data and nilearn installed?)")
    return [_as_unit_sample(s.name, s.modality, s.image.pixels, s.image.meta.units, size) for s in chosen]


def demo_denoisers(modality: str, *, include_bm3d: bool = True) -> dict[str, Denoiser]:
    """The denoisers shown for one modality: its shipped model, the general one, and the baselines."""
    from meddenoise.pretrained import pretrained_for_modality

    denoisers: dict[str, Denoiser] = {}
    shipped = shipped_names()
    specific = pretrained_for_modality(modality)
    for name in dict.fromkeys([specific, "general"]):
        if name in shipped:
            denoisers[f"model: {name}"] = build_denoiser(PRETRAINED_PREFIX + name).denoiser
    denoisers["median 3x3"] = build_denoiser("median").denoiser
    denoisers["nlmeans"] = build_denoiser("nlmeans").denoiser
    if include_bm3d and is_available("bm3d"):
        denoisers["bm3d"] = build_denoiser("bm3d").denoiser
    return denoisers


def run_demo(
    out_dir: str | Path = "demo-output",
    *,
    noise: str = DEMO_NOISE,
    seed: RNGLike = 0,
    size: int = DEMO_SIZE,
    include_bm3d: bool = True,
    samples: Sequence[tuple[str, str, np.ndarray]] | None = None,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """Add ``noise`` to the built-in samples, denoise them every way, and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir
        Folder for ``index.html`` (created).
    noise
        Noise spec (:func:`meddenoise.noise.parse_noise`).
    seed
        Seed of the noise (the page is reproducible).
    size
        Largest side of each demo image.
    include_bm3d
        Also run BM3D when the package is installed.
    samples
        ``(name, modality, [0, 1] image)`` triples instead of the built-in samples.
    log
        Called with one line per finished image.
    """
    from meddenoise.evaluation import NOISY, Score, evaluate
    from meddenoise.noise import estimate_sigma, parse_noise
    from meddenoise.report import HtmlReport, array_to_png

    start = time.perf_counter()
    rng = as_rng(seed)
    noise_model = parse_noise(noise)
    demo_samples = (
        [_Sample(n, m, np.clip(np.asarray(x, np.float32), 0, 1)) for n, m, x in samples]
        if samples is not None
        else _demo_samples(size)
    )
    report = HtmlReport("meddenoise demo: built-in samples, added noise, shipped models vs classical filters")
    report.add_paragraph(
        f"Each built-in sample (pydicom-data DICOMs, the nilearn MNI152 template) was mapped to [0, 1] the way "
        f"the shipped models expect (CT through their HU window, others by robust percentiles), reduced to at "
        f"most {size}x{size}, and corrupted with {noise} (seed {seed}). Every method denoised the same noisy "
        f"image; PSNR (dB) and SSIM are against the clean image (data range 1). Methods that use the noise "
        f"level got the blind wavelet estimate."
    )
    rows: list[dict[str, Any]] = []
    scale = lambda img: max(1, 256 // max(img.shape))  # noqa: E731  (small images enlarged for viewing)
    for sample in demo_samples:
        clean = sample.clean
        noisy = noise_model(clean, rng=rng).astype(np.float32)
        # the one scoring path: every denoiser on this noisy image, outputs clipped to [0, 1], scored
        # against the clean image with data range 1; the noise was drawn above, so ``seed`` is only recorded
        scored = evaluate(
            demo_denoisers(sample.modality, include_bm3d=include_bm3d),
            [clean],
            None,
            [Score("psnr"), Score("ssim")],
            noisy=[noisy],
            sigma=[float(estimate_sigma(noisy))],
            clip_outputs=True,
            keep_outputs=True,
            image_names=[sample.name],
            batch_size=1,
            seed=seed if isinstance(seed, int) else 0,
            progress=False,
        )
        figures = [(array_to_png(clean, vmin=0, vmax=1, scale=scale(clean)), "clean")]
        for method in scored.methods:
            p, s = float(scored.values(method, "psnr")[0]), float(scored.values(method, "ssim")[0])
            label = "noisy input" if method == NOISY else method
            seconds = float(scored.values(method, "seconds")[0])
            rows.append(
                {
                    "sample": sample.name,
                    "modality": sample.modality,
                    "method": label,
                    "PSNR (dB)": round(p, 2),
                    "SSIM": round(s, 4),
                    "time (ms)": "" if method == NOISY else round(seconds * 1000),
                }
            )
            figures.append(
                (
                    array_to_png(scored.outputs[method][0], vmin=0, vmax=1, scale=scale(clean)),
                    f"{method} — {p:.2f} dB / {s:.3f}",
                )
            )
        report.add_heading(f"{sample.name} ({sample.modality}, {clean.shape[1]}x{clean.shape[0]})")
        report.add_image_row(figures, width=256)
        if log is not None:
            log(f"{sample.name}: done")
    report.add_heading("Metrics")
    report.add_table(rows, float_format=".4g")
    report.add_heading("Reproduce")
    report.add_code(f'meddenoise demo --noise "{noise}" --seed {seed} --size {size}')
    report.add_heading("Compare your own scans in the viewer")
    report.add_paragraph(
        "The same comparison on your own files, zoomable, with window/level in the images' units (CT presets), "
        "synchronised slices, swipe and difference views and ROI mean/std: denoise them, then open the local "
        "viewer (docs/viewer.md). Add --reference CLEAN/ for PSNR/SSIM against clean images."
    )
    report.add_code(
        "meddenoise denoise scans/ -o denoised/ --method median\nmeddenoise view scans/ denoised/"
    )
    report.add_environment()
    target = report.write(Path(out_dir) / "index.html")
    return DemoResult(html=target, rows=rows, seconds=time.perf_counter() - start)
