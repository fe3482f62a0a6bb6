"""``meddenoise benchmark``: shipped models beside BM3D and NL-means (told the true std) in the image's units."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from meddenoise.cli.app import app

if TYPE_CHECKING:
    from meddenoise.methods import Backend

T = TypeVar("T")


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _each(text: str, option: str, convert: Callable[[str], T], expected: str) -> list[T]:
    """``convert`` of each comma-separated item of ``text``; one line naming ``option`` for an item it refuses."""
    values = []
    for item in _split(text):
        try:
            values.append(convert(item))
        except ValueError:
            raise ValueError(f"{option}: {item!r} is not {expected}") from None
    return values


def _amount_or_default(text: str) -> float | None:
    return None if text == "default" else float(text)


def _texture_or_default(text: str) -> float | str | None:
    from meddenoise.models.texture import parse_texture

    return None if text == "default" else parse_texture(text)


def _backend_or_default(text: str) -> Backend | None:
    from meddenoise.methods import parse_backend

    return None if text == "default" else parse_backend(text)


@app.command()
def benchmark(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="Folder or file of clean images (repeatable); volumes → slices."),
    ],
    levels: Annotated[
        str,
        typer.Option(
            help="Noise std levels IN THE IMAGE'S UNITS (HU for CT, stored grey levels for 8/16-bit files), "
            "comma-separated; 0 = clean input; '2%' = 2% of the nominal range."
        ),
    ] = "0,10,20,50",
    models: Annotated[
        str,
        typer.Option(
            help="'all' shipped models, or comma-separated shipped names / checkpoint paths; '' for none."
        ),
    ] = "all",
    classical: Annotated[
        str, typer.Option(help="Classical reference methods, comma-separated (told the true std).")
    ] = "bm3d,nlmeans",
    modes: Annotated[
        str, typer.Option(help="told (true std, denoisers that use it) and/or blind (own estimate).")
    ] = "told,blind",
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N 2D images.")] = None,
    crop: Annotated[int | None, typer.Option(min=8, help="Centre crop CROP x CROP of every image.")] = None,
    size: Annotated[int | None, typer.Option(min=8, help="Resize to SIZE x SIZE (area averaging).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise draws.")] = 0,
    clip: Annotated[
        bool, typer.Option("--clip", help="Clip the noisy images to the nominal range (e.g. 0..255).")
    ] = False,
    window: Annotated[
        str | None, typer.Option(help="Also score PSNR inside this window LEVEL/WIDTH, e.g. 40/400 HU.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write results.json, per_image.csv, summary.csv, summary.md into this folder."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the results in --out.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars on stderr.")] = True,
    protocol: Annotated[
        str,
        typer.Option(
            help="'gaussian': white noise at --levels; 'ldct': the low-dose CT protocol (Eulig et al. 2024 "
            "scoring, lowdose-ct at --doses with the DICOM's pixel size, split by patient, CT measures, "
            "routine-dose faithfulness; --models all means the shipped ct model). docs/low-dose-ct.md"
        ),
    ] = "gaussian",
    ensemble: Annotated[
        str,
        typer.Option(
            help="Self-ensemble sizes of the models, comma-separated (1, 2, 4, 8): each model is scored "
            "at each, e.g. '1,8' puts 'ct' and 'ct x8' side by side."
        ),
    ] = "1",
    strength: Annotated[
        str,
        typer.Option(
            help="Denoising strengths of the models, comma-separated, as `denoise --strength` (a conditioned "
            "model is told STRENGTH x the noise level; 1 = as trained): '1,0.5' puts 'ct' and 'ct s0.5' "
            "side by side."
        ),
    ] = "1",
    edge_restore: Annotated[
        str,
        typer.Option(
            "--edge-restore",
            help="Edge restorations of the models, comma-separated, as `denoise --edge-restore` (0-1; "
            "'default' = each model's own, ct 0.4; ct's acts on correlated noise only, so its amounts give "
            "one output on --protocol gaussian's white noise): '0,0.5' puts 'ct e0' and 'ct e0.5' side by side.",
        ),
    ] = "default",
    texture: Annotated[
        str,
        typer.Option(
            "--texture",
            help="Noise textures of the models, comma-separated, as `denoise --texture` (0-1; 0 = off; "
            "'auto', 'blend'; 'default' = each model's own, ct auto): 'default,0,0.7' puts 'ct', 'ct t0' and "
            "'ct t0.7' side by side.",
        ),
    ] = "default",
    backend: Annotated[
        str,
        typer.Option(
            help="Back ends of the models, comma-separated, as `denoise --backend` (torch, bf16, onnx; "
            "'default' = each model's own): 'default,bf16' puts 'ct' and 'ct bf16' side by side."
        ),
    ] = "default",
    doses: Annotated[
        str,
        typer.Option(
            help="--protocol ldct: simulated dose fractions, comma-separated; 'none': routine dose only."
        ),
    ] = "0.25,0.1",
    kernel: Annotated[
        str,
        typer.Option(
            help="--protocol ldct: FBP kernel of the simulated noise: 'matched' (per slice, the texture and "
            "level of the scan's own noise), 'ramp' (full band, sharpest, the simulation's own photon count) "
            "or 'hann:0.5' (window:cutoff as a fraction of Nyquist)."
        ),
    ] = "matched",
) -> None:
    """Score shipped models, BM3D and NL-means at noise levels in the image's units; print the table."""
    from meddenoise.evaluation.benchmark import benchmark as run_benchmark
    from meddenoise.evaluation.benchmark import (
        benchmark_choices,
        load_bench_images,
        parse_levels,
        parse_window,
    )

    try:
        if out is not None and out.is_dir() and any(out.iterdir()) and not overwrite:
            raise FileExistsError(f"{out}: results folder exists and is not empty; pass --overwrite")
        sizes = _each(ensemble, "--ensemble", int, "a whole number (1, 2, 4 or 8)")
        strengths = _each(strength, "--strength", float, "a number (0 = input, 1 = as trained)")
        restores = _each(
            edge_restore,
            "--edge-restore",
            _amount_or_default,
            "a number in [0, 1] or 'default' (the model's own)",
        )
        textures = _each(
            texture, "--texture", _texture_or_default, "a number in [0, 1] (0 = off), 'auto' or 'default'"
        )
        backends = _each(backend, "--backend", _backend_or_default, "torch, bf16, onnx or 'default'")
        chosen_modes = _split(modes)
        for mode in chosen_modes:
            if mode not in ("told", "blind"):
                raise ValueError(f"unknown mode {mode!r}: choose told, blind or both")
        if protocol == "ldct":
            from meddenoise.evaluation.ldct import ldct_benchmark, load_ldct_images, parse_doses

            dose_levels = parse_doses(doses)
            picked = ["ct"] if models.strip() == "all" else _split(models)
            ldct = ldct_benchmark(
                benchmark_choices(
                    picked,
                    _split(classical),
                    ensembles=sizes,
                    strengths=strengths,
                    edge_restores=restores,
                    textures=textures,
                    backends=backends,
                ),
                load_ldct_images(data, limit=limit, crop=crop),
                dose_levels,
                seed=seed,
                progress=progress,
                kernel=kernel,
            )
            typer.echo(ldct.to_markdown())
            if out is not None:
                typer.echo(f"wrote {', '.join(str(p) for p in ldct.save(out).values())}", err=True)
            return
        if protocol != "gaussian":
            raise ValueError(f"unknown protocol {protocol!r}: choose gaussian or ldct")
        choices = benchmark_choices(
            None if models.strip() == "all" else _split(models),
            _split(classical),
            ensembles=sizes,
            strengths=strengths,
            edge_restores=restores,
            textures=textures,
            backends=backends,
        )
        images = load_bench_images(data, limit=limit, crop=crop, size=size)
        result = run_benchmark(
            choices,
            images,
            parse_levels(levels),
            seed=seed,
            modes=chosen_modes,  # type: ignore[arg-type]  # checked above
            clip=clip,
            window=parse_window(window),
            progress=progress,
        )
        typer.echo(result.to_markdown())
        if out is not None:
            paths = result.save(out, overwrite=overwrite)
            typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
