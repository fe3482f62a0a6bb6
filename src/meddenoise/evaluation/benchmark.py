"""The quality benchmark: denoisers scored in the image's own units at noise levels in those units.

``meddenoise benchmark`` and the model cards (:mod:`meddenoise.experiments.model_cards`) run
:func:`benchmark`. What it does, per noise level:

* **Noise**: additive white Gaussian noise of std ``sigma`` **in the image's units** (HU for CT,
  stored grey levels for 8/16-bit files, the array's own values otherwise), drawn from
  ``numpy.random.SeedSequence(seed)`` (level ``k``, image ``i``: child ``i`` of child ``k``), not
  clipped unless ``clip=True`` (then to the nominal range below). A level may be relative, ``"2%"``:
  2 % of the image's nominal range. Level 0 hands the clean image itself to every method.
* **Each denoiser** gets the noisy image through **its own** intensity mapping (the one
  :func:`meddenoise.methods.build_denoiser` returns with it, fitted on the noisy image as the
  pipeline does) and the true std converted to its [0, 1] scale, ``sigma / (high - low)`` of that
  affine mapping; its output is mapped back to the image's units.
* **Modes**: ``told`` hands the true std (only to denoisers with ``uses_sigma``), and to a model that
  takes the noise's kind (:func:`~meddenoise.denoiser.takes_noise_correlation`) that the noise is white
  (correlation 0, which it is here; BM3D's own noise model is white noise); ``blind`` hands every method
  the std that ``meddenoise denoise --noise-level auto`` would estimate from the noisy image in its units
  (:func:`meddenoise.noise.estimate_noise_in_units`: the CT estimator for HU), converted to its [0, 1]
  scale, and such a model the correlation ``--noise-correlation auto`` would read
  (:func:`meddenoise.noise.estimate_noise_correlation_in_units`): blind numbers are what users get.
* **Scores**, in the image's units, over the **nominal range** ``[low, high]`` of the stored values
  (:func:`scoring_range`: the project's default ``range`` mapping: CT -1024..3071 HU, i.e.
  ``data_range`` 4095; 8-bit 0..255; 16-bit 0..65535; other data the clean image's min..max): both
  images are clipped to it, then PSNR (``data_range = high - low``), SSIM (7x7 uniform window, same
  data range), MAE and the mean shift ``bias = mean(output - clean)`` in the image's units; with
  ``window=(level, width)`` also ``psnr_window``: PSNR inside that display window (both images
  clipped to it, ``data_range = width``), e.g. the CT soft-tissue window L40/W400.

Scoring goes through :func:`meddenoise.evaluation.evaluate` (its ``intensities`` option), the one
scoring path.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from meddenoise._utils import atomic_path
from meddenoise.data.intensity import DEFAULT_INTENSITY, IntensitySpec, fit_intensity
from meddenoise.data.normalize import Normalizer
from meddenoise.denoiser import Denoiser, takes_noise_correlation
from meddenoise.evaluation.bench import NOISY, BlindInUnits, ToldCorrelation, _json_safe, _write_csv, evaluate
from meddenoise.evaluation.scores import BIAS, Score
from meddenoise.methods import Backend, DenoiserChoice, build_denoiser
from meddenoise.noise import estimate_noise_reading_in_units

if TYPE_CHECKING:
    from meddenoise.io.image import ImageMeta
    from meddenoise.models.texture import TextureAmount

__all__ = [
    "BENCH_METRICS",
    "DEFAULT_CLASSICAL",
    "BenchImage",
    "BenchmarkResult",
    "Level",
    "Mode",
    "benchmark",
    "benchmark_choices",
    "centre_crop",
    "load_bench_images",
    "parse_levels",
    "parse_window",
    "scoring_range",
]

Mode = Literal["told", "blind"]
#: Reference methods scored beside the models: BM3D and NL-means, told the true std.
DEFAULT_CLASSICAL = ("bm3d", "nlmeans")
#: Metric keys of every row (``psnr_window`` is added when a window is given).
BENCH_METRICS = ("psnr", "ssim", "mae", BIAS)
_PLACES = {"psnr": 2, "psnr_window": 2, "ssim": 4, "mae": 2, BIAS: 2}
#: Per-image columns of the noisy rows when blind runs were scored: what they were told (:func:`_blind_reading`).
_READING_COLUMNS = ("sigma_read", "correlation_read")


@dataclass(frozen=True)
class BenchImage:
    """One clean 2D image in its own units, with what the intensity policy needs to know about it."""

    name: str
    pixels: np.ndarray
    modality: str | None = None
    units: str | None = None
    dtype: str | None = None
    format: str | None = None
    value_range: tuple[float, float] | None = None

    @classmethod
    def from_meta(cls, name: str, pixels: np.ndarray, meta: ImageMeta) -> BenchImage:
        """``pixels`` (a slice of a file :func:`~meddenoise.io.read_image` read) with that file's metadata."""
        return cls(
            name=name,
            pixels=pixels,
            modality=meta.modality,
            units=meta.units,
            dtype=meta.dtype,
            format=meta.format,
            value_range=(float(meta.value_range[0]), float(meta.value_range[1])),
        )

    def fit(self, pixels: np.ndarray, spec: IntensitySpec) -> Normalizer:
        """:func:`~meddenoise.data.intensity.fit_intensity` of ``spec`` for ``pixels`` with this image's metadata."""
        return fit_intensity(
            pixels,
            spec,
            modality=self.modality,
            units=self.units,
            original_dtype=self.dtype,
            file_format=self.format,
            value_range=self.value_range,
        )


def scoring_range(image: BenchImage) -> tuple[float, float]:
    """The nominal ``(low, high)`` of ``image``'s stored values (the default ``range`` mapping)."""
    norm = image.fit(image.pixels, DEFAULT_INTENSITY)
    return float(norm.low), float(norm.high)


@dataclass(frozen=True)
class Level:
    """A noise std in the image's units (``value``), or ``value`` percent of its nominal range."""

    value: float
    relative: bool = False

    @property
    def label(self) -> str:
        return f"{self.value:g}%" if self.relative else f"{self.value:g}"

    def sigma(self, image: BenchImage) -> float:
        """The std for ``image`` in its units."""
        if not self.relative:
            return self.value
        low, high = scoring_range(image)
        return self.value / 100.0 * (high - low)


def parse_levels(text: str | Sequence[float | str]) -> tuple[Level, ...]:
    """``"0,10,20,50"`` (image units) or ``"0,1%,2%"`` (percent of the nominal range) → levels.

    Raises
    ------
    ValueError
        For an empty list, a negative or non-numeric level, or a level listed twice.
    """
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t) for t in text]
    levels = []
    for item in items:
        if not item:
            continue
        relative = item.endswith("%")
        try:
            value = float(item.rstrip("%"))
        except ValueError:
            raise ValueError(f"noise level {item!r}: not a number (e.g. 10 or 2%)") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"noise level {item!r}: must be a finite number >= 0")
        levels.append(Level(value, relative and value != 0))
    if not levels:
        raise ValueError("no noise levels given (e.g. 0,10,20,50)")
    if len({lv.label for lv in levels}) != len(levels):
        raise ValueError(f"a noise level is listed twice: {text}")
    return tuple(levels)


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``"40/400"`` (level/width, the image's units) → ``(40.0, 400.0)``; ``None`` stays ``None``."""
    if text is None or not text.strip():
        return None
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*/\s*([\d.]+)\s*", text)
    if match is None or float(match.group(2)) <= 0:
        raise ValueError(f"window {text!r}: expected LEVEL/WIDTH with WIDTH > 0, e.g. 40/400")
    return float(match.group(1)), float(match.group(2))


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size`` x ``size`` part of a 2D image (the whole side where it is smaller)."""
    h, w = image.shape
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top : top + size, left : left + size]


def load_bench_images(
    data: str | Path | Sequence[str | Path],
    *,
    limit: int | None = None,
    crop: int | None = None,
    size: int | None = None,
) -> list[BenchImage]:
    """Clean images for :func:`benchmark` from files and folders (anything :func:`meddenoise.io.read_image` reads).

    Folders are searched recursively (sorted by path); volumes and multi-frame files become one image
    per slice (``name[k]``). ``limit`` keeps the first N 2D images, ``crop`` takes a centre
    ``crop`` x ``crop`` part, ``size`` resizes to ``size`` x ``size`` (area averaging) after cropping.

    Raises
    ------
    FileNotFoundError
        For a missing path or a folder without images.
    """
    from meddenoise.data import list_images
    from meddenoise.data.transforms import resize
    from meddenoise.io import read_image

    sources = [data] if isinstance(data, (str, Path)) else list(data)
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise FileNotFoundError(f"{path}: no image files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    images: list[BenchImage] = []
    for path in files:
        image = read_image(path)
        meta = image.meta
        stack = image.pixels if image.pixels.ndim == 3 else image.pixels[None]
        for k, pixels in enumerate(stack):
            if limit is not None and len(images) >= limit:
                return images
            arr = np.asarray(pixels, dtype=np.float32)
            if crop:
                arr = centre_crop(arr, crop)
            if size:
                arr = resize(arr, size)
            name = path.name if len(stack) == 1 else f"{path.name}[{k}]"
            images.append(BenchImage.from_meta(name, np.ascontiguousarray(arr), meta))
    return images


def benchmark_choices(
    models: Sequence[str] | None = None,
    classical: Sequence[str] = DEFAULT_CLASSICAL,
    *,
    ensembles: Sequence[int] = (1,),
    strengths: Sequence[float] = (1.0,),
    edge_restores: Sequence[float | None] = (None,),
    textures: Sequence[float | str | None] = (None,),
    backends: Sequence[Backend | None] = (None,),
) -> dict[str, DenoiserChoice]:
    """Shipped models (``None``: all), checkpoints and classical methods by name, through the factory.

    Each model is scored once per self-ensemble size of ``ensembles`` (1 = as is; ``"ct x8"`` names the
    8-copy ensemble of ``ct``), per edge restoration of ``edge_restores`` (``None`` = the model's own
    default, unnamed; a number is named: ``"ct e0"`` without it) and per denoising strength of
    ``strengths`` (1 = as is; ``"ct s0.5"``: told half its noise level, as ``meddenoise denoise
    --strength 0.5``) and per noise texture of ``textures`` (``None`` = the model's own default, unnamed;
    a setting is named: ``"ct t0"`` without one, ``"ct t0.5"`` as ``meddenoise denoise --texture 0.5``,
    ``"ct tauto"`` for ``"auto"``), and per back end of ``backends`` (``None`` = the model's own, unnamed;
    a back end is named: ``"ct bf16"`` runs in bfloat16 autocast, ``"ct onnx"`` in onnxruntime), side by side.
    """
    from meddenoise.methods import (
        shipped_names,
        split_edge_restore,
        split_texture,
        texture_amount,
        with_edge_restore,
        with_ensemble,
        with_strength,
        with_texture,
    )
    from meddenoise.models.texture import parse_texture, texture_suffix

    if not ensembles:
        raise ValueError("ensembles: give at least one size (1 = no self-ensemble)")
    if not strengths:
        raise ValueError("strengths: give at least one (1 = as the model is)")
    if not edge_restores:
        raise ValueError("edge_restores: give at least one (None = the model's own)")
    if not textures:
        raise ValueError("textures: give at least one (None = the model's own)")
    if not backends:
        raise ValueError("backends: give at least one (None = the model's own)")
    keyed = [
        (
            (name if size == 1 else f"{name} x{size}")
            + ("" if amount is None else f" e{amount:g}")
            + ("" if power == 1 else f" s{power:g}")
            + ("" if share is None else texture_suffix(share))
            + ("" if backend is None else f" {backend}"),
            name,
            size,
            amount,
            power,
            share,
            backend,
        )
        for name in (shipped_names() if models is None else models)
        for backend in backends
        for size in ensembles
        for amount in edge_restores
        for power in strengths
        for share in [None if value is None else parse_texture(value) for value in textures]
    ]
    keyed += [(name, name, 1, 0.0, 1.0, 0.0, None) for name in classical]
    # each (name, back end) loaded once (its variants share the network), with its own edge restoration
    # and texture apart
    built: dict[tuple[str, Backend | None], tuple[DenoiserChoice, float, bool, TextureAmount]] = {}
    choices: dict[str, DenoiserChoice] = {}
    for key, name, size, amount, power, share, backend in keyed:
        if key in choices:
            raise ValueError(f"method {key!r} is listed twice")
        if (name, backend) not in built:
            plain, own_texture = split_texture(build_denoiser(name, backend=backend))
            built[name, backend] = (*split_edge_restore(plain), own_texture)
        base, own, correlated_only, own_texture = built[name, backend]
        if base.kind == "classical":
            choices[key] = base
            continue
        restore = own if amount is None else amount
        # the noise the edge restoration acts on is the model's own rule, whatever the amount
        restored = with_edge_restore(with_ensemble(base, size), restore, correlated_only=correlated_only)
        kept = (
            with_texture(restored, own_texture, label=False)
            if share is None
            else with_texture(restored, texture_amount(restored, share))
        )
        # the strength wraps everything, as the pipeline scales the level the whole chain is told
        choices[key] = with_strength(kept, power)
    return choices


def _label(name: str, mode: Mode) -> str:
    return f"{name} ({'true σ' if mode == 'told' else 'blind'})"


@dataclass
class BenchmarkResult:
    """Per-image rows of every (level, method), their summaries, and Markdown/CSV/JSON output.

    Attributes
    ----------
    rows
        One dict per (level, image, method): ``level`` (label), ``sigma`` (std in the image's units),
        ``image``, ``name``, ``method`` (``"noisy"`` or ``"NAME (true σ)"`` / ``"NAME (blind)"``), the
        metrics and ``seconds`` (denoising time of the image); with blind runs the ``noisy`` rows also hold
        ``sigma_read`` and ``correlation_read``, the noise std (image units) and lag-1 correlation they were told.
    methods, metrics, levels
        In table order.
    config
        Levels, seed, modes, clipping, window, scoring convention, images, methods and intensities.
    environment
        :func:`meddenoise.provenance.environment` at run time.
    """

    rows: list[dict[str, Any]]
    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    levels: tuple[str, ...]
    config: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=dict)

    def values(self, method: str, metric: str, level: str | None = None) -> np.ndarray:
        """Per-image values of ``metric`` for ``method`` at ``level``; ``None``: at every level with noise
        (std > 0; every level when all are 0), in order."""
        noisy_levels = any(r["sigma"] > 0 for r in self.rows)
        return np.array(
            [
                r[metric]
                for r in self.rows
                if r["method"] == method
                and (r["level"] == level if level is not None else r["sigma"] > 0 or not noisy_levels)
            ],
            dtype=np.float64,
        )

    def mean(self, method: str, metric: str, level: str | None = None) -> float:
        """Mean over the images (and the noisy levels, when ``level`` is None) of the finite values;
        ``inf`` when all are infinite."""
        vals = self.values(method, metric, level)
        finite = vals[np.isfinite(vals)]
        if finite.size:
            return float(np.mean(finite))
        return math.inf if vals.size and np.all(vals == np.inf) else math.nan

    def summary(self) -> list[dict[str, Any]]:
        """One dict per (level, method), and per method over the levels with noise (``level`` = ``"all"``): means."""
        table = []
        for level in (*self.levels, None):
            for method in self.methods:
                if not self.values(method, "seconds", level).size:
                    continue
                row: dict[str, Any] = {"level": "all" if level is None else level, "method": method}
                row.update({m: self.mean(method, m, level) for m in self.metrics})
                row["ms_per_image"] = self.mean(method, "seconds", level) * 1e3
                table.append(row)
        return table

    def to_markdown(self) -> str:
        """One table per level and one over all levels: mean per metric, ms per image."""
        cfg = self.config
        lines = [
            f"{cfg['n_images']} images, additive Gaussian noise in {cfg['units']}, seed {cfg['seed']}"
            f"{', clipped to the nominal range' if cfg['clip'] else ''}; scored {cfg['scoring']}; "
            "mean over images",
        ]
        by_level: dict[str, list[dict[str, Any]]] = {}
        for row in self.summary():
            by_level.setdefault(row["level"], []).append(row)
        for level, rows in by_level.items():
            title = (
                "all levels with noise (std > 0)" if level == "all" else f"noise std {level} {cfg['units']}"
            )
            if level != "all" and level.endswith("%"):
                title = f"noise std {level} of the nominal range"
            lines += ["", f"**{title}**", ""]
            reading = (
                None
                if level == "all"
                else _reading_line(
                    [r for r in self.rows if r["level"] == level and r["method"] == NOISY], cfg["units"]
                )
            )
            if reading:
                lines += [reading, ""]
            lines.append("| method | " + " | ".join(self.metrics) + " | ms / image |")
            lines.append("|---" * (len(self.metrics) + 2) + "|")
            for row in rows:
                cells = [_fmt(row[m], _PLACES.get(m, 4)) for m in self.metrics]
                cells.append("–" if row["method"] == NOISY else f"{row['ms_per_image']:.1f}")
                lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "environment": self.environment,
            "levels": list(self.levels),
            "methods": list(self.methods),
            "metrics": list(self.metrics),
            "summary": self.summary(),
            "rows": self.rows,
        }

    def save(self, out_dir: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write ``results.json``, ``per_image.csv``, ``summary.csv`` and ``summary.md`` atomically.

        Raises
        ------
        FileExistsError
            When ``out_dir`` already holds results and ``overwrite`` is false.
        """
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"{out}: exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise FileExistsError(f"{out}: results folder exists and is not empty; pass --overwrite")
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": out / "results.json",
            "per_image": out / "per_image.csv",
            "summary": out / "summary.csv",
            "markdown": out / "summary.md",
        }
        columns = ["level", "sigma", "image", "name", "method", *self.metrics, "seconds", *_READING_COLUMNS]
        _write_csv(paths["per_image"], columns, self.rows)
        summary = self.summary()
        _write_csv(paths["summary"], ["level", "method", *self.metrics, "ms_per_image"], summary)
        with atomic_path(paths["markdown"]) as tmp:
            tmp.write_text(self.to_markdown(), encoding="utf-8")
        with atomic_path(paths["json"]) as tmp:
            tmp.write_text(json.dumps(_json_safe(self.to_dict()), indent=1) + "\n", encoding="utf-8")
        return paths


def _fmt(value: float, places: int) -> str:
    if math.isinf(value):
        return "∞"
    return "–" if math.isnan(value) else f"{value:.{places}f}"


def _blind_reading(image: BenchImage, noisy: np.ndarray) -> dict[str, float]:
    """The noise std and lag-1 correlation a blind run is told for ``noisy`` (``image`` plus the added noise):
    :func:`~meddenoise.noise.estimate_noise_reading_in_units` in the image's units, as :class:`BlindInUnits`."""
    units = image.fit(noisy, DEFAULT_INTENSITY).units or None
    reading = estimate_noise_reading_in_units(noisy, units)
    return {"sigma_read": reading.std, "correlation_read": reading.correlation}


def _reading_line(rows: Sequence[Mapping[str, Any]], units: str) -> str | None:
    """One line on what the blind runs read at a level (its noisy rows), or ``None`` without blind runs."""
    read_rows = [r for r in rows if "sigma_read" in r]
    if not read_rows:
        return None
    read = np.array([r["sigma_read"] for r in read_rows], dtype=np.float64)
    added = float(np.mean([r["sigma"] for r in read_rows]))
    corr = np.array([r["correlation_read"] for r in read_rows], dtype=np.float64)
    corr_text = f", lag-1 correlation {np.nanmean(corr):.2f}" if np.isfinite(corr).any() else ""
    return (
        f"Blind runs read a noise std of {read.mean():.3g} {units} on average ({read.min():.3g}-{read.max():.3g})"
        f"{corr_text}, where {added:.3g} was added: a reading above it is the image's own noise (a real scan's)"
        " or structure read as noise; the told runs get the added std (and a correlation of 0)."
    )


def _units(images: Sequence[BenchImage]) -> str:
    names = set()
    for image in images:
        if (image.units or "").upper() == "HU" or (image.modality or "").upper() == "CT":
            names.add("HU")
        elif image.dtype in ("uint8", "uint16") and image.format not in ("dicom", "nifti"):
            names.add(f"{image.dtype} grey levels")
        else:
            names.add("the images' own units")
    return " / ".join(sorted(names))


def benchmark(
    choices: Mapping[str, DenoiserChoice],
    images: Sequence[BenchImage],
    levels: Sequence[Level] | str,
    *,
    seed: int = 0,
    modes: Sequence[Mode] = ("told", "blind"),
    classical_modes: Sequence[Mode] | None = None,
    clip: bool = False,
    window: tuple[float, float] | None = None,
    progress: bool = True,
) -> BenchmarkResult:
    """Score every denoiser of ``choices`` on ``images`` at every noise level (see the module docstring).

    Parameters
    ----------
    choices
        Name → :class:`~meddenoise.methods.DenoiserChoice` (:func:`benchmark_choices` or
        :func:`~meddenoise.methods.build_denoiser`); its intensity mapping is the one the denoiser sees.
    images
        Clean images in their own units (:func:`load_bench_images`).
    levels
        Noise stds (:func:`parse_levels` or its text).
    seed
        Seed of the noise draws.
    modes
        ``told`` (true std; denoisers with ``uses_sigma`` only) and/or ``blind``, for learned models.
    classical_modes
        The same for classical filters (default: ``modes``).
    clip
        Clip the noisy images to the nominal range (:func:`scoring_range`).
    window
        ``(level, width)`` in the images' units: also score ``psnr_window`` inside it.
    progress
        Progress bars on stderr.

    Raises
    ------
    ValueError
        For no images, no methods, a non-2D image or an unknown mode.
    """
    from meddenoise.provenance import environment

    if not images:
        raise ValueError("no images to benchmark")
    if not choices:
        raise ValueError("no methods to benchmark")
    lvls = parse_levels(levels) if isinstance(levels, str) else tuple(levels)
    for mode in (*modes, *(classical_modes or ())):
        if mode not in ("told", "blind"):
            raise ValueError(f"unknown mode {mode!r}: choose told or blind")
    for image in images:
        if np.asarray(image.pixels).ndim != 2:
            raise ValueError(f"{image.name}: expected a 2D image, got shape {np.shape(image.pixels)}")

    # the denoisers as scored: one entry per (method, mode)
    runs: dict[str, tuple[Denoiser, DenoiserChoice]] = {}
    for name, choice in choices.items():
        is_classical = choice.kind == "classical"
        for mode in (classical_modes or modes) if is_classical else modes:
            if mode == "told" and not choice.denoiser.uses_sigma:
                continue
            den: Denoiser = choice.denoiser
            if is_classical and not choice.denoiser.uses_sigma:  # e.g. median: no noise level at all
                runs[name] = (den, choice)
                break
            if mode == "blind":
                den = BlindInUnits(choice.denoiser)
            elif takes_noise_correlation(den):  # the noise added here is white: told so, as BM3D assumes
                den = ToldCorrelation(den, 0.0)
            runs[_label(name, mode)] = (den, choice)
    if not runs:
        raise ValueError(
            "no method runs in the chosen modes (a blind-only model cannot be told the noise std)"
        )

    blind = any(isinstance(den, BlindInUnits) for den, _ in runs.values())
    ranges = [scoring_range(im) for im in images]
    groups: dict[tuple[float, float], list[int]] = {}
    for i, rng_ in enumerate(ranges):
        groups.setdefault(rng_, []).append(i)
    metrics = (*BENCH_METRICS, *(("psnr_window",) if window else ()))
    level_seeds = np.random.SeedSequence(seed).spawn(len(lvls))
    rows: list[dict[str, Any]] = []
    for level, level_seed in zip(lvls, level_seeds, strict=True):
        children = level_seed.spawn(len(images))
        sigmas = [level.sigma(im) for im in images]
        noisy_all = []
        for im, sig, child in zip(images, sigmas, children, strict=True):
            clean = np.asarray(im.pixels, dtype=np.float32)
            if sig == 0:
                noisy = clean.copy()
            else:
                draw = np.random.default_rng(child).standard_normal(clean.shape)
                noisy = (clean.astype(np.float64) + sig * draw).astype(np.float32)
            if clip:
                low, high = scoring_range(im)
                noisy = np.clip(noisy, low, high)
            noisy_all.append(noisy)
        # what the blind runs are told (BlindInUnits reads the same), kept on the noisy rows: a blind
        # score far under the told one is often the reading, e.g. a CT slice's own noise read with the added
        readings = (
            [_blind_reading(im, noisy) for im, noisy in zip(images, noisy_all, strict=True)] if blind else []
        )
        for (low, high), idx in groups.items():
            scores = [
                Score("psnr", data_range=high - low, clip=(low, high)),
                Score("ssim", data_range=high - low, clip=(low, high)),
                Score("mae", data_range=high - low, clip=(low, high)),
                Score(BIAS, data_range=high - low, clip=(low, high)),
            ]
            if window:
                centre, width = window
                scores.append(
                    Score(
                        "psnr_window",
                        metric="psnr",
                        data_range=width,
                        clip=(centre - width / 2, centre + width / 2),
                    )
                )
            denoisers = {label: den for label, (den, _) in runs.items()}
            intensities = {
                label: [images[i].fit(noisy_all[i], choice.intensity) for i in idx]
                for label, (_, choice) in runs.items()
            }
            result = evaluate(
                denoisers,
                [images[i].pixels for i in idx],
                None,
                scores,
                seed=seed,
                noisy=[noisy_all[i] for i in idx],
                sigma=[sigmas[i] for i in idx],
                intensities=intensities,
                image_names=[images[i].name for i in idx],
                progress=progress,
            )
            for row in result.rows:
                i = idx[row["image"]]
                extra = readings[i] if blind and row["method"] == NOISY else {}
                rows.append({"level": level.label, "sigma": sigmas[i], **row, **extra, "image": i})
    method_order = (NOISY, *runs)
    level_order = {lv.label: k for k, lv in enumerate(lvls)}
    rows.sort(key=lambda r: (level_order[r["level"]], method_order.index(r["method"]), r["image"]))
    config = {
        "levels": [lv.label for lv in lvls],
        "units": _units(images),
        "seed": int(seed),
        "modes": list(modes),
        "classical_modes": list(classical_modes or modes),
        "clip": bool(clip),
        "window": None if window is None else {"level": window[0], "width": window[1]},
        "scoring": "in the images' units over their nominal range (CT -1024..3071 HU = data range 4095; "
        "8/16-bit: 0..255 / 0..65535; else the clean image's min..max), both images clipped to it; "
        "SSIM 7x7 uniform window",
        "n_images": len(images),
        "images": [
            {"name": im.name, "shape": list(np.shape(im.pixels)), "range": list(r)}
            for im, r in zip(images, ranges, strict=True)
        ],
        "methods": {
            label: {
                "denoiser": repr(choice.denoiser),
                "kind": choice.kind,
                "intensity": choice.intensity.describe(),
                "uses_sigma": bool(choice.denoiser.uses_sigma),
            }
            for label, (_, choice) in runs.items()
        },
        "blind_estimator": "meddenoise.noise.estimate_noise_in_units (estimate_ct_noise for HU, "
        "estimate_noise_std otherwise), in the image's units",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    return BenchmarkResult(
        rows=rows,
        methods=method_order,
        metrics=metrics,
        levels=tuple(lv.label for lv in lvls),
        config=config,
        environment=dict(environment()),
    )
