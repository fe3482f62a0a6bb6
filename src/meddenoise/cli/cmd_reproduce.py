"""``meddenoise reproduce NAME``: re-run a paper's experiments and write a report with published vs measured.

The choices of ``NAME`` are the registered reproductions (:mod:`meddenoise.experiments.registry`), read
when the command runs: a newly registered reproduction appears here without editing this file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from meddenoise.cli.app import app


def _names() -> tuple[str, ...]:
    from meddenoise.experiments.registry import reproduction_names

    return reproduction_names()


def _metavar() -> str:
    return "|".join(_names())


def _choices_help() -> str:
    from meddenoise.experiments.registry import reproductions

    lines = "; ".join(f"{name}: {r.summary}" for name, r in reproductions().items())
    return f"Which paper's experiments to re-run ({lines})."


def _reproduction_name(value: str) -> str:
    from meddenoise.experiments.registry import ReproductionError, get_reproduction

    try:
        return get_reproduction(value).name
    except ReproductionError as exc:
        raise typer.BadParameter(str(exc)) from None


def _parse_set(items: list[str]) -> dict[str, object]:
    changes: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected FIELD=VALUE", param_hint="--set")
        changes[key.strip().replace("-", "_")] = value.strip()
    return changes


@app.command()
def reproduce(
    experiment: Annotated[
        str,
        # Annotations are evaluated each time the CLI is built, so the choices are the registry's now.
        typer.Argument(
            metavar=_metavar(), help=_choices_help(), parser=_reproduction_name, show_default=False
        ),
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Research data folder (default: $MEDDENOISE_DATA or ../shared/data)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: reports/<experiment>).")] = None,
    quick: Annotated[bool, typer.Option(help="Few images and epochs: same code path, for CI.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue a stopped run in the same --out folder: each training continues from its last "
            "finished epoch (exact), finished ones are reused; the baselines are computed again."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of splits, noise and training.")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: the config's, 2).")] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Override the training epochs (paper-faithful models).")
    ] = None,
    table4_epochs: Annotated[
        int | None, typer.Option(help="gondara2016: epochs of each Table IV model (default: --epochs).")
    ] = None,
    ours_epochs: Annotated[
        int | None, typer.Option(help="gondara2016: epochs of each setting's 'ours' network.")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            help="modality-study: image size (default 128; 64 adds chest-xray-64 to the X-ray data; "
            "default report folder reports/modality-study-<size>)."
        ),
    ] = None,
    test_dir: Annotated[
        Path | None,
        typer.Option(help="dncnn2017: score this folder of grey images instead of Set12."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="FIELD=VALUE",
            help="Set any field of the reproduction's config (repeatable), validated by its config class.",
        ),
    ] = None,
) -> None:
    """Re-run a paper's experiments; write results.json, CSV tables, PNG figures and index.html."""
    from meddenoise._utils import shared_data_dir
    from meddenoise.experiments.registry import ReproductionError, get_reproduction
    from meddenoise.experiments.reproduce import run_experiment

    data = data_dir if data_dir is not None else shared_data_dir()
    if data is None or not Path(data).is_dir():
        typer.echo(f"error: data folder {data} not found; pass --data-dir", err=True)
        raise typer.Exit(2)
    flags: dict[str, object] = {
        "epochs": epochs,
        "table4_epochs": table4_epochs,
        "ours_epochs": ours_epochs,
        "size": size,
        "test_dir": test_dir,
        "resume": resume or None,
    }
    changes = {**{k: v for k, v in flags.items() if v is not None}, **_parse_set(set_ or [])}
    started = time.perf_counter()
    try:
        reproduction = get_reproduction(experiment)
        out_dir = out if out is not None else Path("reports") / reproduction.report_name(changes)
        page = run_experiment(
            experiment,
            data_dir=Path(data),
            out_dir=out_dir,
            quick=quick,
            seed=seed,
            threads=threads,
            options=changes,
        )
    except (ReproductionError, FileNotFoundError, ValueError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"report: {page}")
    typer.echo(f"total time: {time.perf_counter() - started:.1f} s")
