"""``meddenoise export MODEL -o FILE.onnx``: a shipped model or a checkpoint as a self-describing ONNX file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command("export")
def export_command(
    model: Annotated[
        str,
        typer.Argument(
            help="A shipped model ({shipped}; also pretrained:<name>) or a checkpoint path (.safetensors, "
            ".json or run folder)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The ONNX file to write.", dir_okay=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Export MODEL to ONNX: dynamic batch/height/width, a sigma input when the model takes the noise level,
    the model card and intensity mapping in the file's metadata. Run it with `denoise --model FILE.onnx`."""
    from meddenoise.methods import UnknownMethodError, export_model

    try:
        path = export_model(model, output, overwrite=overwrite)
    except (UnknownMethodError, ValueError, FileNotFoundError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
