"""``meddenoise denoise INPUT... -o OUTPUT_DIR``: denoise files and folders with a shipped model or a filter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command("denoise")
def denoise_command(
    inputs: Annotated[
        list[Path], typer.Argument(help="Files and folders (searched recursively): DICOM, NIfTI, PNG, TIFF.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output folder; a folder input's tree is mirrored here.")
    ],
    model: Annotated[
        str,
        typer.Option(
            help="'auto' (the shipped model for each file's modality), {shipped} (also "
            "pretrained:<name>), or a checkpoint path (.safetensors, .json or run folder; a registered "
            "name wins over a file of that name: write ./ct for a path)."
        ),
    ] = "auto",
    method: Annotated[
        str | None,
        typer.Option(help="Use a classical filter instead of a model: {classical}."),
    ] = None,
    noise_level: Annotated[
        str,
        typer.Option(
            "--noise-level",
            help="'auto' (estimated per slice), or the noise std on the 0-1 scale the denoiser sees.",
        ),
    ] = "auto",
    tile: Annotated[int, typer.Option(help="Tile side in pixels for large images.")] = 256,
    overlap: Annotated[int, typer.Option(help="Overlap of neighbouring tiles in pixels.")] = 32,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; only the summary.")] = False,
) -> None:
    """Denoise images into OUTPUT: DICOM as a new derived series, NIfTI with its affine, images in their depth.

    Inputs are never overwritten. Exit code 1 when any file failed, 2 for unusable arguments.
    """
    from meddenoise.methods import DenoiserResolver
    from meddenoise.pipeline import DenoiseOptions, OutputConflictError, denoise_files

    try:
        options = DenoiseOptions(noise_level=noise_level, tile=tile, overlap=overlap)
        resolver = DenoiserResolver(model=model, method=method)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        summary = denoise_files(inputs, output, resolver=resolver, options=options, show_progress=not quiet)
    except OutputConflictError as exc:
        typer.echo(f"error: refusing to write: {exc}", err=True)
        raise typer.Exit(2) from None
    for result in summary.failed:
        typer.echo(f"FAILED {result.source}: {result.reason}", err=True)
    typer.echo(
        f"{len(summary.done)} file(s) denoised, {len(summary.failed)} failed, "
        f"in {summary.seconds:.1f} s; output in {output}"
    )
    if summary.failed:
        raise typer.Exit(1)
