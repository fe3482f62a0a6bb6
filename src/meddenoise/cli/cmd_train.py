"""``meddenoise train`` (train a denoiser on image folders) and ``meddenoise denoise-with CHECKPOINT``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from meddenoise.cli.app import app, report_skipped


def file_digest(paths: Sequence[Path]) -> dict[str, Any]:
    """The files a run read, as a count and a SHA-256 of their names and sizes (recorded, not listed)."""
    digest = hashlib.sha256()
    unique = list(dict.fromkeys(paths))  # a stack's slices repeat their file
    for path in unique:
        digest.update(f"{path.name}\0{path.stat().st_size}\n".encode())
    return {"files": len(unique), "files_sha256": digest.hexdigest()}


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as JSON when they parse (numbers, lists), else as strings."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-param expects KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


@app.command("train")
def train_command(
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder or file of training images (repeatable; recursive).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for checkpoints, history and plots.")],
    val_data: Annotated[
        list[Path] | None,
        typer.Option(
            "--val-data", help="Explicit validation images (repeatable); else --val-fraction is held out."
        ),
    ] = None,
    size: Annotated[
        int | None, typer.Option(help="Resize every image to SIZE x SIZE (area averaging when shrinking).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TrainConfig JSON; the options below override it.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name: {models}.")] = None,
    model_param: Annotated[
        list[str] | None, typer.Option("--model-param", help="Model parameter KEY=VALUE (repeatable).")
    ] = None,
    noise: Annotated[
        str | None,
        typer.Option(
            help="Noise spec, e.g. 'gaussian(p=0.1,sigma=1)' (models: {noise_models}); 'none' when the "
            "images are already noisy."
        ),
    ] = None,
    noise_mode: Annotated[
        str | None, typer.Option(help="fresh (new draw per batch) or fixed (one corruption, paper-faithful).")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(help="Objective: {objectives}."),
    ] = None,
    loss: Annotated[str | None, typer.Option(help="Loss: {losses}.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="Optimiser: {optimizers}.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the optimiser's).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    val_fraction: Annotated[
        float | None, typer.Option(help="Fraction of images held out for validation.")
    ] = None,
    patch_size: Annotated[
        int | None, typer.Option(help="Train on random square patches of this size.")
    ] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Checkpoint to initialise from (transfer learning).")
    ] = None,
    augment: Annotated[
        bool | None, typer.Option("--augment/--no-augment", help="Random flips and 90-degree rotations.")
    ] = None,
    early_stopping: Annotated[
        int | None, typer.Option(help="Stop after this many epochs without a better validation loss.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of initialisation, split, noise and order.")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads.")] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto (fp32, or bf16 where the CPU has avx512_bf16/amx_bf16 and a timed step shows bf16 "
            "faster), fp32 or bf16."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N images (sorted by path).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    force_resume: Annotated[
        bool,
        typer.Option(
            "--force-resume",
            help="With --resume: go on even though the training data differ from the run's "
            "(files, --limit, --size; refused otherwise).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop at the first unreadable image instead of reporting and skipping it."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train a denoiser on image folders; checkpoints, history.json and history.png go to --out.

    Several processes: torchrun --nproc-per-node 2 -m meddenoise train ... (DistributedDataParallel; each
    trains on its share of every batch; rank 0 writes the checkpoints).

    Example: meddenoise train --data ../shared/data/mini-mias --size 64 --model gondara-dae
    --noise "gaussian(p=0.1,sigma=1)" --epochs 100 --batch-size 10 --out runs/mias-dae
    """
    from meddenoise.data import load_dataset
    from meddenoise.io import ImageReadError
    from meddenoise.training import CheckpointError, TrainConfig, TrainConfigError, train

    options: dict[str, Any] = {
        "model": model,
        "noise_mode": noise_mode,
        "mode": mode,
        "loss": loss,
        "optimizer": optimizer,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "val_fraction": val_fraction,
        "patch_size": patch_size,
        "init_from": None if init_from is None else str(init_from),
        "seed": seed,
        "num_threads": threads,
        "precision": precision,
        "augment_flips": augment,
        "augment_rot90": augment,
        "early_stopping_patience": early_stopping,
    }
    overrides = {k: v for k, v in options.items() if v is not None}
    if noise is not None:
        overrides["noise"] = None if noise.strip().lower() == "none" else noise
    try:
        if model_param:
            overrides["model_params"] = _parse_params(model_param)
        saved = out / "config.json"
        if config is not None:
            base = TrainConfig.load(config).to_dict()
        elif resume and saved.exists():
            base = TrainConfig.load(saved).to_dict()
        else:
            base = {}
        if (
            "model" in overrides
            and "model_params" not in overrides
            and overrides["model"] != base.get("model")
        ):
            base.pop("model_params", None)  # another model's parameters do not carry over
        cfg = TrainConfig.from_dict({**base, **overrides}, source=str(config or "options"))
        # the images are mapped to [0, 1] with the config's intensity policy, which the checkpoint records
        load = partial(
            load_dataset,
            size=size,
            progress=not quiet,
            normalization=cfg.intensity,
            on_unreadable=None if strict else report_skipped,
        )
        train_set = load(data if len(data) > 1 else data[0])
        val_set = None if not val_data else load(val_data if len(val_data) > 1 else val_data[0])
    except (TrainConfigError, ValueError, FileNotFoundError, ImageReadError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    images = train_set.images if limit is None else train_set.images[:limit]
    val_images = None if val_set is None else val_set.images
    described = {
        "data": [str(p) for p in data],
        "val_data": [str(p) for p in val_data or []],
        "size": size,
        "limit": limit,
        **file_digest(train_set.paths[: len(images)]),
    }
    # under torchrun (`torchrun --nproc-per-node N -m meddenoise train ...`) rank 0 speaks for the run
    echo = typer.echo if os.environ.get("RANK", "0") == "0" else (lambda *args, **kwargs: None)
    echo(
        f"training {cfg.model} ({cfg.objective.kind}) on {len(images)} images of {images.shape[1]}x{images.shape[2]}"
        + ("" if val_images is None else f", validating on {len(val_images)}")
    )
    try:
        result = train(
            cfg,
            images,
            val_images,
            out_dir=out,
            resume=resume,
            progress=not quiet,
            data_description=described,
            allow_data_change=force_resume,
        )
    except (FileExistsError, CheckpointError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # an unwritable run folder
        typer.echo(f"error: {exc.filename or out}: cannot write ({exc.strerror or exc})", err=True)
        raise typer.Exit(1) from None
    speed = result.train_images_per_second
    echo(
        f"{len(result.history)} epoch(s) done ({result.epochs_run} now) in {result.seconds:.1f} s"
        + (f", {speed:.0f} images/s ({result.config.precision})" if speed else "")
        + f"; best epoch {result.best_epoch}, loss {result.best_loss:.5g}"
        + ("; stopped early" if result.stopped_early else "")
    )
    echo(f"checkpoint: {result.best_path}")


@app.command("denoise-with")
def denoise_with_command(
    checkpoint: Annotated[Path, typer.Argument(help="Run folder, .json or .safetensors of a trained model.")],
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Image file (PNG, TIFF, DICOM, NIfTI).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file; its suffix picks the format.")],
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT when it exists.")] = False,
) -> None:
    """Denoise one image file with a trained checkpoint (see `meddenoise denoise` for folders and tiling).

    Runs exactly what `meddenoise denoise --model CHECKPOINT` runs: the checkpoint's recorded intensity
    mapping, the same tiling and the same writer, so both give the same pixels.
    """
    from meddenoise._utils import same_path
    from meddenoise.io import ImageReadError, ImageWriteError, OutputExistsError, check_output
    from meddenoise.methods import DenoiserResolver
    from meddenoise.pipeline import denoise_file
    from meddenoise.training import CheckpointError

    if same_path(output, input_path):
        typer.echo(f"error: {output}: refusing to overwrite the input", err=True)
        raise typer.Exit(2)
    try:
        # CHECKPOINT is always a path ("./" keeps a folder named like a shipped model a path)
        resolver = DenoiserResolver(model=str(checkpoint) if checkpoint.is_absolute() else f"./{checkpoint}")
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        check_output(output, overwrite=overwrite)
    except OutputExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        _, label = denoise_file(input_path, output, resolver=resolver)
    except (ImageReadError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (ImageWriteError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{input_path} → {output} ({label})")
