"""``meddenoise reproduce NAME``: re-run a paper's experiments and write a report with published vs measured."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


class Experiment(str, Enum):
    gondara2016 = "gondara2016"
    modality_study = "modality-study"
    dense_vs_conv = "dense-vs-conv"


@app.command()
def reproduce(
    experiment: Annotated[Experiment, typer.Argument(help="Which paper's experiments to re-run.")],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Research data folder (default: $MEDDENOISE_DATA or ../shared/data)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: reports/<experiment>).")] = None,
    quick: Annotated[bool, typer.Option(help="Few images and epochs: same code path, for CI.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of splits, noise and training.")] = 0,
    epochs: Annotated[
        int | None, typer.Option(help="Override the training epochs (paper-faithful models).")
    ] = None,
    table4_epochs: Annotated[
        int | None, typer.Option(help="gondara2016: epochs of each Table IV model (default: --epochs).")
    ] = None,
    ours_epochs: Annotated[
        int | None, typer.Option(help="gondara2016: epochs of the 'ours' blind network.")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            help="modality-study: image size (default 128; 64 adds chest-xray-64 to the X-ray data; "
            "default report folder reports/modality-study-<size>)."
        ),
    ] = None,
) -> None:
    """Re-run a paper's experiments; write results.json, CSV tables, PNG figures and index.html."""
    from meddenoise._utils import shared_data_dir
    from meddenoise.experiments.reproduce import run_experiment

    data = data_dir if data_dir is not None else shared_data_dir()
    if data is None or not Path(data).is_dir():
        typer.echo(f"error: data folder {data} not found; pass --data-dir", err=True)
        raise typer.Exit(2)
    default_name = experiment.value + (f"-{size}" if size is not None else "")
    out_dir = out if out is not None else Path("reports") / default_name
    started = time.perf_counter()
    try:
        page = run_experiment(
            experiment.value,
            data_dir=Path(data),
            out_dir=out_dir,
            quick=quick,
            seed=seed,
            epochs=epochs,
            table4_epochs=table4_epochs,
            ours_epochs=ours_epochs,
            size=size,
        )
    except (FileNotFoundError, ValueError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"report: {page}")
    typer.echo(f"total time: {time.perf_counter() - started:.1f} s")
