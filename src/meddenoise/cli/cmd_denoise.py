"""``meddenoise denoise INPUT... -o OUTPUT_DIR``: denoise files and folders with a shipped model or a filter."""

from __future__ import annotations

import sys
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
    backend: Annotated[
        str | None,
        typer.Option(
            help="Where the model runs: 'torch', 'bf16' (PyTorch in bfloat16 autocast: the fast tier, ~3x "
            "faster on a CPU with AMX, slower without native bf16) or 'onnx' (exported in memory, run by "
            "onnxruntime; extra 'onnx'). Default: the model's own (PyTorch; onnxruntime for a .onnx file).",
            show_default=False,
        ),
    ] = None,
    ensemble: Annotated[
        int,
        typer.Option(
            help="Self-ensemble of a model: 1 (off), 2, 4 or 8 flipped/rotated copies averaged; "
            "+0.1 to +0.5 dB at 8x the time (docs/denoise.md).",
        ),
    ] = 1,
    edge_restore: Annotated[
        float | None,
        typer.Option(
            "--edge-restore",
            help="0-1: the share of what a model removed, low-passed, put back at strong edges (sharper "
            "edges, the noise in flat regions as removed); 0 turns it off. Default: the model's own "
            "(ct 0.4, on a scanner's correlated noise only: white noise is left as the network made it; "
            "the others 0). Classical filters ignore it.",
            show_default=False,
        ),
    ] = None,
    texture: Annotated[
        str | None,
        typer.Option(
            "--texture",
            help="0-1: the share of the fine-grained noise a model removed that is put back, for the scan's "
            "own noise texture instead of a smooth, blotchy one (costs noise reduction; 0 turns it off). "
            "'auto': none up to 30 HU of noise, 0.7 from 50 HU, none where the removed noise is white "
            "(the ct model; others none); ct, on a scanner's noise (correlation 0.7 and over), runs once "
            "more and blends instead, as 'blend' at --strength 2. 'blend': a blend with the input instead, "
            "none up to 12 HU, from 24 HU 0.5 of what was removed, up to 0.7 for a soft kernel's coarse "
            "noise (the scan's texture at low dose, with --strength 2). "
            "Default: the model's own (ct auto, the others 0). "
            "Classical filters ignore it.",
            show_default=False,
        ),
    ] = None,
    noise_level: Annotated[
        str,
        typer.Option(
            "--noise-level",
            help="The noise std in the image's own units: HU for CT (e.g. 20), stored grey levels for "
            "PNG/TIFF/X-ray DICOM (`meddenoise info FILE` prints the estimate in those units); 'auto' "
            "estimates it per slice; 'none' lets the denoiser decide.",
        ),
    ] = "auto",
    strength: Annotated[
        float,
        typer.Option(
            help="How hard to denoise: 0 = unchanged, 1 = default, 0.5 = gentler, above 1 = harder. Scales "
            "the noise level given to methods that take one; blends the output of the others "
            "(input + strength x (denoised - input)); a model whose card says so (ct) runs again on its "
            "output above 1 (2 = two passes).",
        ),
    ] = 1.0,
    noise_correlation: Annotated[
        str,
        typer.Option(
            "--noise-correlation",
            help="Which kind of noise, for models that take it: the noise's lag-1 spatial correlation. "
            "'auto' estimates it per slice (a CT kernel's noise reads 0.3-0.9); 'white' (0) for white "
            "noise, e.g. added in a test; or a number in [-1, 1].",
        ),
    ] = "auto",
    # None = the pipeline's defaults (WHOLE_IMAGE_MAX, DEFAULT_TILE, DEFAULT_OVERLAP); not imported here to keep
    # start-up light
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile side in pixels (default: an image up to 1024x1024 whole, a larger one in 640-px "
            "tiles: bounded memory, and faster per pixel than larger tiles on a CPU).",
            show_default=False,
        ),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(help="Overlap of neighbouring tiles in pixels (default 32).", show_default=False),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace output files that exist already.")
    ] = False,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Leave inputs whose output exists already (resume an interrupted run); "
            "without it or --overwrite, existing outputs stop the run before anything is written.",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Denoise this many files at once in local worker processes (torch threads are split "
            "between them).",
        ),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the batch on a Dask cluster: the scheduler's address, e.g. tcp://10.0.0.5:8786 "
            "(`dask scheduler` + `dask worker`; every worker must see the inputs and the output folder). "
            "Needs the dask extra.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; only the summary.")] = False,
    view: Annotated[
        bool,
        typer.Option(
            "--view",
            help="Afterwards, compare the inputs and the outputs in the local web viewer "
            "(`meddenoise view`; Ctrl-C stops it).",
        ),
    ] = False,
) -> None:
    """Denoise images into OUTPUT: DICOM as a new derived series, NIfTI with its affine, images in their depth.

    Prints the noise level used and the strength per file (once per DICOM series). Inputs are never
    overwritten; existing outputs only with --overwrite (--skip-existing resumes an interrupted run). Exit code 1 when any file failed, 2 for unusable arguments.
    """
    from tqdm.auto import tqdm

    from meddenoise._optional import MissingOptionalDependency, require
    from meddenoise.methods import DenoiserResolver, parse_backend
    from meddenoise.pipeline import DenoiseOptions, Execution, OutputConflictError, denoise_files

    if overwrite and skip_existing:
        typer.echo("error: --overwrite and --skip-existing exclude each other", err=True)
        raise typer.Exit(2)
    try:
        tiling = {k: v for k, v in (("tile", tile), ("overlap", overlap)) if v is not None}
        options = DenoiseOptions(
            noise_level=noise_level, strength=strength, noise_correlation=noise_correlation, **tiling
        )
        resolver = DenoiserResolver(
            model=model,
            method=method,
            backend=parse_backend(backend),
            ensemble=ensemble,
            edge_restore=edge_restore,
            texture=texture,
        )
        execution = Execution(jobs=jobs, scheduler=scheduler)
        if scheduler is not None:
            require("dask", what="--scheduler")
    except (ValueError, FileNotFoundError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        summary = denoise_files(
            inputs,
            output,
            resolver=resolver,
            options=options,
            existing="overwrite" if overwrite else ("skip" if skip_existing else "refuse"),
            show_progress=not quiet,
            on_note=lambda line: tqdm.write(line, file=sys.stderr),  # above the progress bar, not through it
            execution=execution,
        )
    except OutputConflictError as exc:
        typer.echo(f"error: refusing to write: {exc}", err=True)
        raise typer.Exit(2) from None
    except (OSError, MissingOptionalDependency) as exc:  # e.g. no scheduler listening at that address
        typer.echo(f"error: {execution.describe()}: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None
    for line in summary.noise_lines():
        typer.echo(line)
    for result in summary.failed:
        typer.echo(f"FAILED {result.source}: {result.reason}", err=True)
    skipped = f", {len(summary.skipped)} skipped (output exists)" if summary.skipped else ""
    typer.echo(
        f"{len(summary.done)} file(s) denoised, {len(summary.failed)} failed{skipped}, "
        f"in {summary.seconds:.1f} s; output in {output}"
    )
    if view and summary.done:
        from meddenoise.viewer import PairingError, serve_pairs

        try:
            serve_pairs(list(inputs), output, open_browser=True, port=None, echo=typer.echo)
        except (PairingError, OSError) as exc:
            typer.echo(f"error: viewer: {exc}", err=True)
            raise typer.Exit(1) from None
    if summary.failed:
        raise typer.Exit(1)
