"""The Typer application every command module registers on.

Each ``meddenoise/cli/cmd_*.py`` module adds its commands with ``@app.command()``;
:func:`meddenoise.cli.main.main` imports them all. A help text lists registered names with a placeholder
(``{classical}``, ``{objectives}``, ...; :mod:`meddenoise.cli._help`), filled in when the help is shown.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Annotated, Any, TextIO

import typer
from typer.core import TyperCommand
from typer.models import CommandFunctionType

from meddenoise import __version__
from meddenoise.cli._help import RegistryHelpCommand


class _App(typer.Typer):
    """Typer whose commands default to :class:`RegistryHelpCommand` (registry names filled into help)."""

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or RegistryHelpCommand, **kwargs)


app = _App(
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


def warning_line(message: Warning | str) -> str:
    """A Python warning as the one line the command line prints: ``warning: <text>``."""
    return "warning: " + " ".join(str(message).split())


def report_skipped(error: Exception) -> None:
    """One line for an image file that could not be read and is left out (``--strict`` stops instead)."""
    from tqdm.auto import tqdm

    tqdm.write(f"skipped {error}", file=sys.stderr)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    # One line, no source location, written above a live progress bar (tqdm.write) instead of through it.
    from tqdm.auto import tqdm

    tqdm.write(warning_line(message), file=sys.stderr)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Denoise medical images with classical filters and convolutional denoising autoencoders."""
    # Python warnings raised while a command runs become one clean line each; restored afterwards, so
    # a caller running the app in-process (tests, notebooks) keeps its own warning display.
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    ctx.call_on_close(lambda: setattr(warnings, "showwarning", previous))
