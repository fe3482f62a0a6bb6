"""The evaluation bench: paired, seeded comparison of denoisers on a set of clean images.

Options state the scoring convention (``data_range``, the SSIM window, or explicit
:class:`~meddenoise.evaluation.Score` objects), keep the denoised outputs (``keep_outputs``), or take
noisy images corrupted by the caller (``noisy=``, for protocols with their own noise draws).

Every image gets one noisy realisation, drawn from its own child of ``numpy.random.SeedSequence(seed)``
(so image ``i`` gets the same noise whether 5 or 500 images are evaluated), and that same noisy
image goes to every method: differences between methods are paired. The noisy input itself is
scored as the method ``"noisy"``.

>>> import numpy as np
>>> from meddenoise.classical import get_classical
>>> from meddenoise.evaluation import evaluate
>>> clean = np.random.default_rng(0).random((4, 32, 32)).astype(np.float32)
>>> result = evaluate({"median": get_classical("median")}, clean, "gaussian(p=0.1,sigma=1)",
...                   ["ssim", "psnr"], seed=0, progress=False)
>>> [row["method"] for row in result.summary() if row["metric"] == "ssim"]
['noisy', 'median']
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from meddenoise._utils import atomic_path
from meddenoise.data.intensity import from_unit, noise_margins, to_unit
from meddenoise.data.normalize import Normalizer
from meddenoise.denoiser import Denoiser, as_float_image, takes_noise_correlation, told_noise_correlation
from meddenoise.evaluation.scores import Masks, Score, as_scores, resolve_masks
from meddenoise.metrics.masks import MaskRule
from meddenoise.noise import (
    NoiseModel,
    estimate_noise_correlation_in_units,
    estimate_noise_in_units,
    estimate_noise_reading_in_units,
    parse_noise,
)
from meddenoise.provenance import environment

__all__ = ["NOISY", "BlindInUnits", "EvaluationResult", "evaluate", "software_versions"]

#: Method name of the rows that score the noisy input itself.
NOISY = "noisy"
_CONFIDENCE = 0.95
_PACKAGES = ("meddenoise", "numpy", "scipy", "scikit-image", "PyWavelets", "bm3d", "torch")


class BlindInUnits(Denoiser):
    """``inner`` run blind the way ``meddenoise denoise --noise-level auto`` runs it.

    Given images in their own units (:func:`evaluate` with ``intensities``), it is told the noise std
    :func:`meddenoise.noise.estimate_noise_in_units` reads from the noisy image in those units (the CT
    estimator for HU), converted to its [0, 1] scale, never the true std it is handed. Called on a bare
    [0, 1] image it gets ``None`` (a learned model's own estimate; a classical filter its own).
    """

    uses_sigma = False

    def __init__(self, inner: Denoiser) -> None:
        self.inner = inner
        self.name = f"{inner.name} blind"

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        return self.inner(image, sigma=None)

    def denoise_in_units(self, unit: np.ndarray, noisy: np.ndarray, normalizer: Normalizer) -> np.ndarray:
        """Denoise ``unit`` (``noisy`` mapped by ``normalizer``), told the estimates from ``noisy``: the
        noise std and, for a model that takes it, the noise's lag-1 correlation (as ``denoise`` does)."""
        units = normalizer.units or None
        correlation: float | None = None
        if takes_noise_correlation(self.inner):
            estimate, correlation = estimate_noise_reading_in_units(noisy, units)
        else:
            estimate = estimate_noise_in_units(noisy, units)
        with told_noise_correlation(self.inner, correlation):
            return self.inner(unit, sigma=estimate / (normalizer.high - normalizer.low))


class ToldCorrelation(Denoiser):
    """``inner`` told the noise's lag-1 correlation ``correlation`` (e.g. 0: the noise is white) as well as its std.

    The benchmark's ``told`` mode on white noise: a model that takes the noise's kind is told it, as BM3D
    (whose model is white noise) is. Other denoisers are run as they are.
    """

    def __init__(self, inner: Denoiser, correlation: float) -> None:
        self.inner = inner
        self.correlation = float(correlation)
        self.name = inner.name
        self.uses_sigma = inner.uses_sigma

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        with told_noise_correlation(self.inner, self.correlation):
            return self.inner(image, sigma=sigma)

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        with told_noise_correlation(self.inner, self.correlation):
            return self.inner.denoise_batch(images, sigma=sigma)


def software_versions() -> dict[str, str]:
    """Python, platform and the versions of the packages results depend on (absent ones skipped)."""
    env = environment(_PACKAGES)
    versions = {"python": str(env["python"]), "platform": str(env["platform"])}
    packages = env["packages"]
    if isinstance(packages, dict):
        versions.update({name: v for name, v in packages.items() if v is not None})
    return versions


def _mean_ci(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, sample std, and the two-sided 95% Student-t interval of the mean (NaN for n < 2)."""
    from scipy import stats

    n = values.size
    mean = float(np.mean(values))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.5 + _CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


@dataclass
class EvaluationResult:
    """Per-image scores of every method, with summaries, Markdown and CSV/JSON output.

    Attributes
    ----------
    rows
        One dict per (image, method): ``image`` (index), ``name``, ``method``, one key per metric,
        and ``seconds`` (denoising time of the image; for denoisers that override
        ``denoise_batch``, the time of its batch divided by the batch size; 0 for ``"noisy"``).
    methods, metrics
        Method names (``"noisy"`` first) and metric names, in table order.
    config
        Seed, noise spec, data range, sigma, number of images and their shapes.
    versions
        :func:`software_versions` at evaluation time.
    outputs
        Method → its output per image (``"noisy"``: the noisy inputs), when evaluated with
        ``keep_outputs=True``; empty otherwise.
    """

    rows: list[dict[str, Any]]
    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    config: dict[str, Any]
    versions: dict[str, str] = field(default_factory=software_versions)
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def output(self, method: str) -> np.ndarray:
        """The kept outputs of ``method`` as one batch ``(N, H, W)`` (images must share a shape)."""
        if method not in self.outputs:
            kept = ", ".join(self.outputs) or "none (evaluate with keep_outputs=True)"
            raise KeyError(f"no kept outputs for {method!r}; kept: {kept}")
        return np.stack(self.outputs[method])

    def values(self, method: str, metric: str) -> np.ndarray:
        """Per-image values of ``metric`` for ``method``, in image order."""
        if method not in self.methods:
            raise KeyError(f"no method {method!r} in this result; methods: {', '.join(self.methods)}")
        if metric not in (*self.metrics, "seconds"):
            raise KeyError(f"no metric {metric!r} in this result; metrics: {', '.join(self.metrics)}")
        return np.array([row[metric] for row in self.rows if row["method"] == method], dtype=np.float64)

    def summary(self) -> list[dict[str, Any]]:
        """One dict per method x metric (and ``seconds``): n, mean, std, 95% CI of the mean."""
        table = []
        for method in self.methods:
            for metric in (*self.metrics, "seconds"):
                vals = self.values(method, metric)
                finite = vals[np.isfinite(vals)]
                mean, std, low, high = _mean_ci(finite) if finite.size else (math.nan,) * 4
                table.append(
                    {
                        "method": method,
                        "metric": metric,
                        "n": int(finite.size),
                        "mean": mean,
                        "std": std,
                        "ci95_low": low,
                        "ci95_high": high,
                    }
                )
        return table

    def paired_difference(self, method: str, baseline: str, metric: str) -> dict[str, float]:
        """Mean per-image difference ``method - baseline`` with its 95% CI and the paired t-test p-value."""
        from scipy import stats

        diff = self.values(method, metric) - self.values(baseline, metric)
        diff = diff[np.isfinite(diff)]
        mean, std, low, high = _mean_ci(diff)
        p_value = float(stats.ttest_1samp(diff, 0.0).pvalue) if diff.size >= 2 and std > 0 else math.nan
        return {
            "n": int(diff.size),
            "mean": mean,
            "std": std,
            "ci95_low": low,
            "ci95_high": high,
            "p": p_value,
        }

    def to_markdown(self, *, digits: Mapping[str, int] | None = None) -> str:
        """A Markdown table: one row per method, ``mean ± std [95% CI]`` per metric, ms per image."""
        places = {"ssim": 4, "ms_ssim": 4, "psnr": 2, "mse": 5, "mae": 4, "lpips": 4, **(digits or {})}
        summary = {(row["method"], row["metric"]): row for row in self.summary()}
        cfg = self.config
        lines = [
            f"{cfg['n_images']} images, noise `{cfg['noise']}`, seed {cfg['seed']}, "
            f"data_range {cfg['data_range']:g}, sigma {'blind' if cfg['sigma'] is None else cfg['sigma']}; "
            "mean ± std [95% CI of the mean]"
            + (
                f"; `_masked` columns: inside the {cfg['mask']} mask ({cfg['mask_fraction']:.0%} of the pixels on "
                "average; SSIM there = the mean of its map inside the mask)"
                if "mask" in cfg
                else ""
            ),
            "",
            "| method | " + " | ".join(self.metrics) + " | ms / image |",
            "|---" * (len(self.metrics) + 2) + "|",
        ]
        for method in self.methods:
            cells = []
            for metric in self.metrics:
                row = summary[(method, metric)]
                d = places.get(metric, places.get(metric.removesuffix("_masked"), 4))
                if math.isnan(row["std"]):
                    cells.append(f"{row['mean']:.{d}f}")
                else:
                    cells.append(
                        f"{row['mean']:.{d}f} ± {row['std']:.{d}f} [{row['ci95_low']:.{d}f}, {row['ci95_high']:.{d}f}]"
                    )
            ms = summary[(method, "seconds")]["mean"] * 1e3
            cells.append("–" if method == NOISY else f"{ms:.2f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data: config, versions, summary and per-image rows."""
        return {
            "config": self.config,
            "versions": self.versions,
            "methods": list(self.methods),
            "metrics": list(self.metrics),
            "summary": self.summary(),
            "rows": self.rows,
        }

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``per_image.csv``, ``summary.csv``, ``summary.md`` and ``evaluation.json`` atomically.

        Returns the written paths by kind. Non-finite values (e.g. PSNR of identical images) are
        written as ``inf``/``nan`` in CSV and as ``null`` in JSON.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "per_image": out / "per_image.csv",
            "summary": out / "summary.csv",
            "markdown": out / "summary.md",
            "json": out / "evaluation.json",
        }
        _write_csv(paths["per_image"], ["image", "name", "method", *self.metrics, "seconds"], self.rows)
        summary = self.summary()
        _write_csv(paths["summary"], list(summary[0]), summary)
        with atomic_path(paths["markdown"]) as tmp:
            tmp.write_text(self.to_markdown(), encoding="utf-8")
        with atomic_path(paths["json"]) as tmp:
            tmp.write_text(json.dumps(_json_safe(self.to_dict()), indent=1) + "\n", encoding="utf-8")
        return paths

    @classmethod
    def load(cls, path: str | Path) -> EvaluationResult:
        """Read a result written by :meth:`save` (the folder or its ``evaluation.json``)."""
        file = Path(path)
        if file.is_dir():
            file = file / "evaluation.json"
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            rows = [{k: (math.nan if v is None else v) for k, v in row.items()} for row in data["rows"]]
            return cls(
                rows=rows,
                methods=tuple(data["methods"]),
                metrics=tuple(data["metrics"]),
                config=data["config"],
                versions=data["versions"],
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{file}: not a readable evaluation result ({exc})") from exc


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _as_image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        arr = as_float_image(images)
        return [arr] if arr.ndim == 2 else list(arr)
    out = []
    for i, img in enumerate(images):
        arr = as_float_image(img)
        if arr.ndim != 2:
            raise ValueError(f"image {i}: expected a 2D image, got shape {arr.shape}")
        out.append(arr)
    if not out:
        raise ValueError("no images to evaluate")
    return out


def _named_denoisers(denoisers: Mapping[str, Denoiser] | Sequence[Denoiser]) -> dict[str, Denoiser]:
    named = dict(denoisers) if isinstance(denoisers, Mapping) else {}
    if not isinstance(denoisers, Mapping):
        for den in denoisers:
            if den.name in named:
                raise ValueError(f"two denoisers are called {den.name!r}; pass a mapping with distinct names")
            named[den.name] = den
    if NOISY in named:
        raise ValueError(f"{NOISY!r} is reserved for the noisy input; rename that denoiser")
    return named


def _batches(images: list[np.ndarray], batch_size: int) -> list[list[int]]:
    """Index runs of consecutive same-shape images, at most ``batch_size`` long."""
    runs: list[list[int]] = []
    for i, img in enumerate(images):
        if runs and len(runs[-1]) < batch_size and images[runs[-1][0]].shape == img.shape:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def evaluate(
    denoisers: Mapping[str, Denoiser] | Sequence[Denoiser],
    images: np.ndarray | Sequence[np.ndarray],
    noise: NoiseModel | str | None,
    metrics: Sequence[str | Score] = ("ssim", "psnr"),
    *,
    seed: int,
    data_range: float = 1.0,
    ssim_window: int | None = None,
    ssim_gaussian: bool = False,
    sigma: float | Sequence[float] | None = None,
    noisy: np.ndarray | Sequence[np.ndarray] | None = None,
    clip_outputs: bool = False,
    keep_outputs: bool = False,
    image_names: Sequence[str] | None = None,
    batch_size: int = 16,
    progress: bool = True,
    intensities: Mapping[str, Sequence[Normalizer]] | None = None,
    masks: Masks | None = None,
    mask_name: str | None = None,
) -> EvaluationResult:
    """Corrupt every clean image once and score every denoiser on the same noisy images.

    Parameters
    ----------
    denoisers
        Name → :class:`~meddenoise.denoiser.Denoiser`, or a sequence of denoisers named by ``.name``.
    images
        Clean images in [0, 1]: a batch ``(N, H, W)``, one image, or a sequence of 2D images
        (shapes may differ).
    noise
        A noise model (``model(x, rng)``) or a spec string for :func:`meddenoise.noise.parse_noise`;
        ``None`` when ``noisy`` is given.
    metrics
        Names in :data:`meddenoise.metrics.METRICS`, or :class:`~meddenoise.evaluation.Score` objects
        (each with its own data range and window; they ignore ``data_range`` and the SSIM options).
    seed
        Seed of the noise; image ``i`` uses child ``i`` of ``SeedSequence(seed)``.
    data_range
        Data range handed to every metric given by name (1.0 for [0, 1] images).
    ssim_window, ssim_gaussian
        SSIM window of the metrics given by name: side (default 7 uniform, 11 Gaussian) and whether
        it is Gaussian (sigma 1.5) rather than uniform.
    sigma
        Noise std on the [0, 1] scale handed to the denoisers: one value, one per image, or ``None``
        (they estimate it). Per-image values hand the images over one at a time.
    noisy
        Noisy images already corrupted by the caller (one per clean image, same shapes); then
        ``noise`` is only recorded (``None`` is recorded as ``"given"``) and ``seed`` is not used.
    clip_outputs
        Clip every denoiser's output to [0, 1] before scoring (the noisy input is scored as given).
    keep_outputs
        Keep every output (and the noisy inputs) in :attr:`EvaluationResult.outputs`.
    image_names
        A name per image for the tables (default: the index).
    batch_size
        Images handed at once to a denoiser that overrides ``denoise_batch`` (learned models,
        median, Gaussian); the others get one image at a time.
    progress
        Show a progress bar (on stderr).
    intensities
        Images in their own units (HU, grey levels): per denoiser name, one affine
        :class:`~meddenoise.data.Normalizer` per image mapping those units to the denoiser's [0, 1]
        scale. Each denoiser then gets its image through its own mapping, one image at a time, with
        ``sigma`` (given in the images' units) converted to that scale, ``sigma / (high - low)``; its
        output is mapped back (:func:`~meddenoise.data.intensity.from_unit`) and scored in the images'
        units. Denoisers not named here see the images as given.
    masks
        For the masked scores (``Score(..., masked=True)``, e.g. from
        :func:`~meddenoise.evaluation.with_masked`): one boolean mask per clean image, or a
        :class:`~meddenoise.metrics.masks.MaskRule` (``body``, ``threshold:T``) applied to each clean image.
        The config records the rule (or ``mask_name``, default ``"given"``) and the mean fraction of
        pixels inside.
    mask_name
        What given mask arrays are (e.g. ``"threshold:-500"``, a file name), for the config and tables.
    """
    clean = _as_image_list(images)
    named = _named_denoisers(denoisers)
    scores = as_scores(metrics, data_range=data_range, win_size=ssim_window, gaussian_weights=ssim_gaussian)
    metric_names = tuple(s.name for s in scores)
    if image_names is None:
        names = [str(i) for i in range(len(clean))]
    elif len(image_names) != len(clean):
        raise ValueError(f"{len(image_names)} image names for {len(clean)} images")
    else:
        names = [str(n) for n in image_names]
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sigmas = _per_image_sigma(sigma, len(clean))
    if any(s.masked for s in scores) and masks is None:
        raise ValueError("masked scores need masks (arrays, or a rule such as body)")
    per_image_masks = resolve_masks(masks, clean)
    mappings = dict(intensities or {})
    for method, normalizers in mappings.items():
        if method not in named:
            raise ValueError(f"intensities given for {method!r}, which is not among the denoisers")
        if len(normalizers) != len(clean):
            raise ValueError(f"{method}: {len(normalizers)} intensity mappings for {len(clean)} images")

    if noisy is not None:
        given = _as_image_list(noisy)
        if len(given) != len(clean) or any(n.shape != c.shape for n, c in zip(given, clean, strict=True)):
            raise ValueError("noisy images must match the clean images one to one, in number and shape")
        noisy_images = given
        noise_text = "given" if noise is None else str(noise)
    elif noise is None:
        raise ValueError("give a noise model (or spec) or the noisy images")
    else:
        model = parse_noise(noise) if isinstance(noise, str) else noise
        children = np.random.SeedSequence(seed).spawn(len(clean))
        noisy_images = [
            np.asarray(model(img, rng=np.random.default_rng(child)), dtype=np.float32)
            for img, child in zip(clean, children, strict=True)
        ]
        noise_text = str(model)

    kept: dict[str, list[np.ndarray]] = {}

    def score(i: int, method: str, output: np.ndarray, seconds: float) -> dict[str, Any]:
        row: dict[str, Any] = {"image": i, "name": names[i], "method": method}
        for spec in scores:
            mask = None if per_image_masks is None else per_image_masks[i]
            row[spec.name] = spec(output, clean[i], mask, noisy=noisy_images[i])
        row["seconds"] = seconds
        if keep_outputs:
            kept.setdefault(method, [np.empty(0, np.float32)] * len(clean))[i] = output
        return row

    rows = [score(i, NOISY, noisy_images[i], 0.0) for i in range(len(clean))]
    with tqdm(total=len(clean) * len(named), desc="evaluate", unit="img", disable=not progress) as bar:
        for method, denoiser in named.items():
            bar.set_postfix_str(method)
            if method in mappings:
                for i in range(len(clean)):
                    out_i, seconds = _denoise_in_units(
                        denoiser,
                        noisy_images[i],
                        mappings[method][i],
                        sigmas[i] if sigmas is not None else _scalar_sigma(sigma),
                    )
                    rows.append(score(i, method, out_i, seconds))
                    bar.update(1)
                continue
            # Denoisers that only loop over images (the default denoise_batch) gain nothing from
            # batches: give them one image at a time, so each row gets its own time.
            batched = type(denoiser).denoise_batch is not Denoiser.denoise_batch and sigmas is None
            for run in _batches(noisy_images, batch_size if batched else 1):
                batch = np.stack([noisy_images[i] for i in run])
                start = time.perf_counter()
                out = denoiser(batch, sigma=_scalar_sigma(sigma) if sigmas is None else sigmas[run[0]])
                per_image = (time.perf_counter() - start) / len(run)
                if out.shape != batch.shape:
                    raise ValueError(f"{method}: returned shape {out.shape} for input {batch.shape}")
                if clip_outputs:
                    out = np.clip(out, 0.0, 1.0)
                rows.extend(score(i, method, out[k], per_image) for k, i in enumerate(run))
                bar.update(len(run))
    order = {name: k for k, name in enumerate((NOISY, *named))}
    rows.sort(key=lambda row: (order[row["method"]], row["image"]))
    config = {
        "seed": int(seed),
        "noise": noise_text,
        "data_range": float(data_range),
        "scores": {s.name: _describe(s) for s in scores},
        "sigma": "per image" if sigmas is not None else _scalar_sigma(sigma),
        "clip_outputs": bool(clip_outputs),
        "n_images": len(clean),
        "shapes": sorted({f"{img.shape[0]}x{img.shape[1]}" for img in clean}),
        "higher_is_better": {s.name: s.higher_is_better for s in scores},
        **_mask_config(
            mask_name or (str(masks) if isinstance(masks, MaskRule) else "given"), per_image_masks
        ),
        "denoisers": {name: repr(den) for name, den in named.items()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    return EvaluationResult(
        rows=rows, methods=(NOISY, *named), metrics=metric_names, config=config, outputs=kept
    )


def _denoise_in_units(
    denoiser: Denoiser,
    noisy: np.ndarray,
    normalizer: Normalizer,
    sigma: float | None,
) -> tuple[np.ndarray, float]:
    """Denoise ``noisy`` (its own units) through ``normalizer``; ``sigma`` in the same units. Output, seconds."""
    span = normalizer.high - normalizer.low
    sigma_unit = None if sigma is None else float(sigma) / span
    # blind: the tails past a mapping fitted to the noisy image are judged by the noise as estimated
    # (only for a mapping that has such tails: a HU window never needs the estimate)
    tail_noise = (
        sigma if sigma is not None else partial(estimate_noise_in_units, noisy, normalizer.units or None)
    )
    margin = noise_margins(normalizer, tail_noise)
    unit = to_unit(normalizer, noisy, margin=margin)
    start = time.perf_counter()
    if isinstance(denoiser, BlindInUnits):  # told its own estimate, never the true std
        out = denoiser.denoise_in_units(unit, noisy, normalizer)
    elif isinstance(denoiser, ToldCorrelation) or not takes_noise_correlation(denoiser):
        out = denoiser(unit, sigma=sigma_unit)
    else:  # the noise's kind as `denoise` reads it, in the image's units
        correlation = estimate_noise_correlation_in_units(noisy, normalizer.units or None)
        with told_noise_correlation(denoiser, correlation):
            out = denoiser(unit, sigma=sigma_unit)
    seconds = time.perf_counter() - start
    if out.shape != unit.shape:
        raise ValueError(f"{denoiser.name}: returned shape {out.shape} for input {unit.shape}")
    return from_unit(normalizer, out, original=noisy, margin=margin), seconds


def _scalar_sigma(sigma: float | Sequence[float] | None) -> float | None:
    return float(sigma) if isinstance(sigma, (int, float)) else None


def _per_image_sigma(sigma: float | Sequence[float] | None, n: int) -> list[float] | None:
    if sigma is None or isinstance(sigma, (int, float)):
        return None
    values = [float(s) for s in sigma]
    if len(values) != n:
        raise ValueError(f"{len(values)} sigma values for {n} images")
    return values


def _mask_config(name: str, per_image: list[np.ndarray] | None) -> dict[str, Any]:
    if per_image is None:
        return {}
    return {"mask": name, "mask_fraction": float(np.mean([m.mean() for m in per_image]))}


def _describe(score: Score) -> str:
    text = f"{score.metric}, data_range={score.data_range:g}"
    if score.metric == "ssim":
        window = score.win_size or (11 if score.gaussian_weights else 7)
        text += f", {window}x{window} {'Gaussian' if score.gaussian_weights else 'uniform'} window"
    if score.masked:
        text += ", inside the mask" + (" (mean of the SSIM map there)" if score.metric == "ssim" else "")
    return text
