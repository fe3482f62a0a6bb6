"""``meddenoise models``: the pretrained models shipped with the package."""

from __future__ import annotations

from typing import Annotated

import typer

from meddenoise.cli.app import app


@app.command()
def models(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print each model card's details.")
    ] = False,
) -> None:
    """List the shipped pretrained models: name, modality, parameters, training data, quality, speed."""
    from meddenoise.pretrained import PRETRAINED_DIR, list_pretrained

    cards = list_pretrained()
    if not cards:
        typer.echo(f"no pretrained models in {PRETRAINED_DIR}")
        raise typer.Exit(1)
    header = (
        "name",
        "modality",
        "params",
        "PSNR/SSIM, mean of the noisy levels (model blind | BM3D, NL-means true std)",
        "ms/512²",
        "training data",
    )
    rows = []
    for card in cards:
        q = card.quality
        quality = " | ".join(
            f"{q[key]['psnr']:.2f}/{q[key]['ssim']:.3f}" if key in q else "-"
            for key in ("model", "bm3d", "nlmeans")
        )
        speed = f"{card.ms_per_512:.0f}" if card.ms_per_512 is not None else "-"
        rows.append(
            (card.name, card.modality, f"{card.parameters:,}", quality, speed, card.training_data_line())
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if verbose:
        for card in cards:
            typer.echo(f"\n[{card.name}] {card.summary}")
            typer.echo(f"  architecture: {card.architecture} {card.architecture_params}")
            typer.echo(f"  intensity:    {card.intensity.describe()}")
            restore = (
                f"{card.edge_restore:g} by default"
                + (", on correlated (a scanner's) noise only" if card.edge_restore_correlated_only else "")
                + " (--edge-restore 0 turns it off)"
                if card.edge_restore
                else "none by default (--edge-restore A adds it)"
            )
            typer.echo(f"  edge restore: {restore}")
            texture = (
                "none by default (--texture A adds it)"
                if card.texture == 0
                else f"{card.texture} by default (--texture 0 turns it off)"
            )
            typer.echo(f"  texture:      {texture}")
            above = (
                "runs again on its own output (2 = two passes)"
                if card.strength_above_one == "repeat"
                else "told strength x the noise level"
            )
            typer.echo(f"  strength > 1: {above}")
            typer.echo(f"  noise:        {card.noise}")
            typer.echo(f"  held apart:   {q.get('held_apart', '-') if (q := card.quality) else '-'}")
            typer.echo(f"  command:      {card.command} (seed {card.seed})")
            storage = card.raw.get("weight_storage", "float32")
            size = card.raw.get("size_bytes")
            typer.echo(
                f"  weights:      {card.weights}"
                + (f", {size:,} bytes" if isinstance(size, int) else "")
                + f", stored as {storage} (run in float32)"
            )
            typer.echo(f"  sha256:       {card.sha256}")
    typer.echo(f"\nModel cards: {PRETRAINED_DIR}/<name>.md")
