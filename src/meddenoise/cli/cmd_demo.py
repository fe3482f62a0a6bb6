"""``meddenoise demo`` (what ``make demo`` runs): no data, no network, one HTML page to open."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo page (index.html).")] = Path(
        "demo-output"
    ),
    noise: Annotated[
        str, typer.Option(help="Noise added to the samples (a noise spec).")
    ] = "gaussian(p=0.1,sigma=1)",
    seed: Annotated[int, typer.Option(help="Seed of the added noise.")] = 0,
    size: Annotated[int, typer.Option(help="Largest side of each demo image in pixels.")] = 256,
    bm3d: Annotated[bool, typer.Option("--bm3d/--no-bm3d", help="Include BM3D when it is installed.")] = True,
) -> None:
    """Denoise noisy built-in samples with the shipped models and classical filters; write an HTML page."""
    from meddenoise.demo import run_demo

    try:
        result = run_demo(out, noise=noise, seed=seed, size=size, include_bm3d=bm3d, log=typer.echo)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    best: dict[str, tuple[str, float]] = {}
    for row in result.rows:
        if row["method"] != "noisy input" and row["PSNR (dB)"] > best.get(row["sample"], ("", -1.0))[1]:
            best[row["sample"]] = (row["method"], row["PSNR (dB)"])
    for sample, (method, value) in best.items():
        typer.echo(f"  {sample}: best {method} ({value:.2f} dB)")
    typer.echo(f"Demo page ({result.seconds:.0f} s): {result.html.resolve()}")
    typer.echo(f"Open it in a browser, e.g. file://{result.html.resolve()}")
