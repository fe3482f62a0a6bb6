"""``meddenoise convert``: read any supported image and write it in another format (by suffix)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


def _parse_window(text: str, names: Iterable[str]) -> tuple[float, float]:
    """``LOW,HIGH`` of ``--window`` (finite, LOW < HIGH); the error names the option and the choices."""
    parts = text.split(",")
    try:
        low, high = (float(v) for v in parts) if len(parts) == 2 else (float("nan"), float("nan"))
    except ValueError:
        low = high = float("nan")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            f"--window {text!r}: expected a CT window name ({', '.join(names)}) or LOW,HIGH with LOW < HIGH"
        )
    return low, high


@app.command()
def convert(
    source: Annotated[
        Path, typer.Argument(help="Image to read: DICOM, NIfTI, PNG, JPEG, BMP, TIFF, PGM/PPM.")
    ],
    output: Annotated[
        Path, typer.Argument(help="File to write: .png, .tif/.tiff, .dcm (from DICOM), .nii/.nii.gz.")
    ],
    slice_index: Annotated[
        int | None, typer.Option("--slice", help="Write only this slice of a stack (needed for PNG).")
    ] = None,
    slice_axis: Annotated[int, typer.Option(help="NIfTI: the volume axis slices are taken along.")] = 2,
    window: Annotated[
        str | None,
        typer.Option(
            help="PNG: value range shown, a CT window name (lung, bone, ...) or LOW,HIGH in original units."
        ),
    ] = None,
    bits: Annotated[
        int | None, typer.Option(help="PNG bit depth, 8 or 16 (default: 16 for >8-bit sources).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT when it exists.")] = False,
) -> None:
    """Convert an image file; a PNG shows the source's usual range (CT: -1024..3071 HU) unless --window says."""
    from meddenoise._utils import same_path
    from meddenoise.data import CT_WINDOWS, DEFAULT_INTENSITY, Normalizer, intensity_for_image
    from meddenoise.io import (
        ImageReadError,
        ImageWriteError,
        MedicalImage,
        check_output,
        read_image,
        write_image,
    )

    if same_path(output, source):
        typer.echo(f"error: {output}: refusing to overwrite the input file", err=True)
        raise typer.Exit(1)
    try:
        check_output(output, overwrite=overwrite)
        image = read_image(source, slice_axis=slice_axis)
        pixels = image.pixels
        like: MedicalImage | None = image
        if slice_index is not None:
            stack = image.slices()
            if not -len(stack) <= slice_index < len(stack):
                raise typer.BadParameter(f"--slice {slice_index}: the image has {len(stack)} slice(s)")
            pixels, like = stack[slice_index], None
        value_range = None
        if output.suffix.lower() == ".png":
            if window in CT_WINDOWS:
                norm = Normalizer.from_window(window)
            elif window:
                norm = Normalizer.from_range(*_parse_window(window, CT_WINDOWS))
            else:
                norm = intensity_for_image(image, DEFAULT_INTENSITY)
            value_range = (norm.low, norm.high)
            if bits is None:
                bits = 16 if image.meta.bits > 8 else 8
        write_image(
            output,
            pixels,
            like=like,
            value_range=value_range,
            bits=bits,
            description="format conversion",
            derivation="conversion",
        )
    except (ImageReadError, ImageWriteError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{output}: {source} ({image.meta.format}, {image.meta.modality}, {image.meta.units}) {pixels.shape}"
    )
