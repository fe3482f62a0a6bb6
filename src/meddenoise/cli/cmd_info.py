"""``meddenoise info FILE``: what an image file holds and how noisy it looks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="A DICOM, NIfTI, PNG or TIFF file.")],
) -> None:
    """Print format, modality, size, bit depth, units, intensity range, pixel spacing and noise level."""
    from meddenoise.io import ImageReadError
    from meddenoise.pipeline.info import describe_image

    try:
        facts = describe_image(file)
    except (ImageReadError, FileNotFoundError, IsADirectoryError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        typer.echo(f"{key:<{width}}  {value}")
