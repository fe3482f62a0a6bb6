"""The Typer application every command module registers on.

Each ``meddenoise/cli/cmd_*.py`` module adds its commands with ``@app.command()``;
:func:`meddenoise.cli.main.main` imports them all.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meddenoise import __version__

app = typer.Typer(
    name="meddenoise",
    help="Denoise medical images (CT, MRI, X-ray, mammography, ultrasound) with classical filters and "
    "convolutional denoising autoencoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"meddenoise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Denoise medical images with classical filters and convolutional denoising autoencoders."""
