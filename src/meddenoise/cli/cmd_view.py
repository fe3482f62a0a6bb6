"""``meddenoise view ORIGINAL DENOISED [MORE...]``: compare original and denoised series in the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command()
def view(
    original: Annotated[Path, typer.Argument(help="The original file or folder (what was denoised).")],
    denoised: Annotated[
        list[Path],
        typer.Argument(
            help="Its denoised copy: the output folder (or file); more to compare several methods."
        ),
    ],
    reference: Annotated[
        Path | None,
        typer.Option(help="A clean tree with the original's layout: shown too, and PSNR/SSIM against it."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = None,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the page in the browser.")
    ] = True,
) -> None:
    """Serve a local viewer: side by side, swipe and difference views, window/level, ROI statistics.

    Files are paired by the output tree `meddenoise denoise` writes (same relative paths; DICOM series,
    NIfTI volumes, PNG/TIFF folders). Prints the URL (127.0.0.1); Ctrl-C stops. See docs/viewer.md.
    """
    from meddenoise.viewer import PairingError, serve_pairs

    try:
        serve_pairs(original, denoised, reference=reference, open_browser=browser, port=port, echo=typer.echo)
    except (PairingError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
