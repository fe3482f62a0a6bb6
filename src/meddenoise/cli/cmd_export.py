"""``meddenoise export MODEL -o FILE.onnx``: a shipped model or a checkpoint as a self-describing ONNX file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meddenoise.cli.app import app

if TYPE_CHECKING:
    from meddenoise.io.image import MedicalImage


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
    int8: Annotated[
        Path | None,
        typer.Option(
            "--int8",
            help="The fast tier: quantize the convolutions to int8 (but the network's first 5 and last 6), "
            "calibrated on the images of this file or folder (up to 16 slices; images like those you will "
            "denoise; ~1.5x faster on CPUs with AVX512-VNNI, docs/denoise.md).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export MODEL to ONNX: dynamic batch/height/width, a sigma input when the model takes the noise level,
    the model card and intensity mapping in the file's metadata. Run it with `denoise --model FILE.onnx`."""
    from meddenoise.methods import UnknownMethodError, export_model

    try:
        calibration = None if int8 is None else _calibration_images(int8)
        path = export_model(model, output, overwrite=overwrite, int8=calibration)
    except (UnknownMethodError, ValueError, FileNotFoundError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _calibration_images(source: Path) -> list[MedicalImage]:
    """The images of ``source`` (a file or a folder, recursively; of a big folder only as many files as
    calibrate, evenly spaced); ``ValueError`` naming the first one that does not read, or a folder without
    images."""
    from meddenoise.io import find_images, read_image
    from meddenoise.methods.onnx_models import CALIBRATION_SLICES, evenly_spaced

    files = [source] if source.is_file() else find_images(source) if source.is_dir() else []
    if not files:
        raise ValueError(f"{source}: no images to calibrate the int8 model on")
    images = []
    for path in evenly_spaced(files, CALIBRATION_SLICES):  # not read only to be left out
        try:
            images.append(read_image(path))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot be read for calibration ({exc})") from None
    return images
