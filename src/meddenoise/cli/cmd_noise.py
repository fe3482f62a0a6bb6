"""``meddenoise noise``: add a noise model to an image file, or list the models and their parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


def _print_models() -> None:
    from meddenoise.noise import describe_models

    for model in describe_models():
        typer.echo(f"{model['name']}: {model['summary']}")
        typer.echo(f"  e.g. {model['example']}")
        for param in model["params"]:
            typer.echo(
                f"  {param['name']:<11} default {param['default']:<9} {param['range']:<22} {param['doc']}"
            )
    typer.echo("Compose models with '+', e.g. gaussian(p=0.1,sigma=1)+saltpepper(amount=0.02).")


@app.command()
def noise(
    source: Annotated[
        Path | None, typer.Argument(help="Image file to corrupt (DICOM, NIfTI, PNG, TIFF).")
    ] = None,
    output: Annotated[
        Path | None, typer.Argument(help="Where to write the noisy image (format by suffix).")
    ] = None,
    spec: Annotated[
        str,
        typer.Option(
            "--spec",
            "-n",
            help="Noise spec, e.g. 'gaussian(p=0.1,sigma=1)' or 'lowdose-ct(dose=0.25)'; models: {noise_models}.",
        ),
    ] = "gaussian(p=0.1,sigma=1)",
    seed: Annotated[int, typer.Option(help="Seed of the noise (same seed, same noise).")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT when it exists.")] = False,
    list_models: Annotated[
        bool, typer.Option("--list", help="List the noise models and their parameters.")
    ] = False,
) -> None:
    """Add seeded noise to an image file and write the result, or --list the noise models.

    The image is mapped to [0, 1] by the default intensity policy (meddenoise.data.DEFAULT_INTENSITY, as
    for training data: CT -1024..3071 HU; 8/16-bit files: their range; other DICOM/NIfTI: min..max),
    corrupted and mapped back to its units. lowdose-ct (units=hu, its
    default) works on the HU pixels of a CT file directly, with pixel_mm from the file's pixel spacing
    unless the spec gives one.
    """
    from meddenoise.data import DEFAULT_INTENSITY, intensity_for_image
    from meddenoise.io import ImageReadError, ImageWriteError, check_output, read_image, write_image
    from meddenoise.noise import NoiseSpecError, parse_noise
    from meddenoise.noise.ct import with_pixel_spacing
    from meddenoise.noise.files import noise_image

    if list_models:
        _print_models()
        return
    if source is None or output is None:
        typer.echo("error: give SOURCE and OUTPUT (or --list)", err=True)
        raise typer.Exit(2)
    try:
        check_output(output, overwrite=overwrite)
        image = read_image(source)
        model = with_pixel_spacing(parse_noise(spec), image.meta.pixel_spacing)  # as noise_image does
        noisy = noise_image(image, model, rng=seed, mapping=intensity_for_image(image, DEFAULT_INTENSITY))
        write_image(output, noisy, like=image, description=f"noise {model} seed {seed}", derivation="noise")
    except (NoiseSpecError, ImageReadError, ImageWriteError, FileNotFoundError, IsADirectoryError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{output}: {source} + {model} (seed {seed})")
