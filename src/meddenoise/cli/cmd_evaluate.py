"""``meddenoise evaluate``: score denoisers on a folder of images with one seeded noise draw."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from meddenoise.cli.app import app, report_skipped


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _usable_metrics(names: list[str], image: np.ndarray, data_range: float) -> list[str]:
    """The metrics that can score images like ``image``; each other one is said in one line and left
    out (e.g. MS-SSIM needs 176x176 pixels), so that it does not abort the whole evaluation."""
    from meddenoise.metrics import NOISY_INPUT_METRICS, get_metric

    usable = []
    for name in names:
        metric = get_metric(name)  # an unknown name is an error, not a metric to leave out
        if name != "lpips":  # LPIPS takes any size; probing it would load its network
            # the noise-texture metrics also read the input (here the image itself)
            probe = {"noisy": image} if name.strip().lower() in NOISY_INPUT_METRICS else {}
            try:
                metric(image, image, data_range=data_range, **probe)
            except ValueError as exc:
                typer.echo(f"warning: metric {name} left out: {' '.join(str(exc).split())}", err=True)
                continue
        usable.append(name)
    if not usable:
        raise ValueError(f"none of the metrics {', '.join(names)} can score these images")
    return usable


def _scores(names: list[str], normalizers: list[dict[str, Any]]) -> list[Any]:
    """Metric names, with the CT measures (in HU) mapped back from the dataset's [0, 1] scale."""
    from meddenoise.evaluation import Score
    from meddenoise.metrics import CT_METRICS

    ct = [n for n in names if n.lower().replace("-", "_") in CT_METRICS]
    if not ct:
        return list(names)
    ranges = {(float(n["low"]), float(n["high"])) for n in normalizers if n.get("units") == "HU"}
    if len(ranges) != 1 or any(n.get("units") != "HU" for n in normalizers):
        raise ValueError(f"metrics {', '.join(ct)} need CT images in HU (DICOM CT), all with one mapping")
    (hu_range,) = ranges
    return [Score(n.lower().replace("-", "_"), to_units=hu_range) if n in ct else n for n in names]


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Folder (or file) of clean images.")],
    noise: Annotated[
        str,
        typer.Option(
            help="Noise spec, e.g. 'gaussian(p=0.1,sigma=1)'; models: {noise_models} "
            "(parameters: meddenoise noise --list)."
        ),
    ] = "gaussian(p=0.1,sigma=1)",
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated methods: {classical}, calibrated-<name>, shipped models "
            "({shipped}; also pretrained:<name>), or checkpoint paths."
        ),
    ] = "median,nlmeans,bm3d",
    metrics: Annotated[
        str,
        typer.Option(
            help="Comma-separated metrics: {metrics} (hu_bias_*, gradient_ratio, residual_structure "
            "and nps_* are CT measures in HU: CT inputs only; docs/ct-quality.md)."
        ),
    ] = "ssim,psnr",
    size: Annotated[int | None, typer.Option(help="Resize images to SIZE x SIZE (area averaging).")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Use only the first N images (sorted by path).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise (image i uses child i of the seed).")] = 0,
    sigma: Annotated[
        float | None,
        typer.Option(help="Noise std on the [0, 1] scale given to the filters (default: estimated)."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Filter parameter METHOD.NAME=VALUE (repeatable).")
    ] = None,
    data_range: Annotated[float, typer.Option(help="Data range for the metrics.")] = 1.0,
    mask: Annotated[
        str | None,
        typer.Option(
            help="Also score inside a mask (columns <metric>_masked for ssim, psnr, mse, mae): 'body' (Otsu "
            "threshold, largest component, holes filled; 'body:T' with threshold T), 'threshold:T' (T in the "
            "images' own units, e.g. HU), or a mask image of the images' shape (nonzero = inside). Masked "
            "SSIM is the mean of the SSIM map inside the mask.",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Where models run: 'torch', 'bf16' or 'onnx' (default: the model's own).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write per_image.csv, summary.csv, summary.md, evaluation.json here.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars on stderr.")] = True,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop at the first unreadable image instead of reporting and skipping it."
        ),
    ] = False,
) -> None:
    """Add seeded noise to every image, denoise it with each method, and print a Markdown table."""
    from meddenoise.data import list_images, load_dataset
    from meddenoise.evaluation import with_masked
    from meddenoise.evaluation.masks import masks_for_images
    from meddenoise.experiments.evaluate import evaluate as run_evaluation
    from meddenoise.experiments.evaluate_methods import parse_param_options
    from meddenoise.methods import build_denoisers, common_intensity, parse_backend

    try:
        choices = build_denoisers(
            _split(methods), parse_param_options(param or []), backend=parse_backend(backend)
        )
        denoisers = {name: choice.denoiser for name, choice in choices.items()}
        intensity = common_intensity(list(choices.values()))
        files: Path | list[Path] = data
        if limit is not None:
            files = list_images(data) if data.is_dir() else [data]
            if not files:
                raise FileNotFoundError(f"{data}: no image files")
            files = files[:limit]
        dataset = load_dataset(
            files,
            size=size,
            progress=progress,
            name=data.name,
            normalization=intensity,
            on_unreadable=None if strict else report_skipped,
        )
        images = list(dataset.images)
        masks = None if mask is None else masks_for_images(mask, images, dataset.normalizers or None)
        usable = _usable_metrics(_split(metrics), images[0], data_range)
        result = run_evaluation(
            denoisers,
            images,
            noise,
            _scores(usable, dataset.normalizers)
            if mask is None
            else with_masked(_scores(usable, dataset.normalizers), data_range=data_range),
            masks=masks,
            mask_name=mask,
            seed=seed,
            data_range=data_range,
            sigma=sigma,
            image_names=[
                f"{p.name}" if s == 0 else f"{p.name}[{s}]"
                for p, s in zip(dataset.paths, dataset.slice_index, strict=True)
            ],
            progress=progress,
        )
    except (ValueError, FileNotFoundError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(f"{data}" + (f" at {size}x{size}" if size else "") + ": " + result.to_markdown())
    if out is not None:
        paths = result.save(out)
        typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)
