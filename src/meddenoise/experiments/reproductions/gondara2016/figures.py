"""gondara2016's figures re-drawn from the run: Figs 6 and 8-10 (images), 7 and 11 (loss curves)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from meddenoise.experiments import figures as plots
from meddenoise.experiments.reproductions.gondara2016.labels import (
    BM3D,
    DAE,
    DAE_A,
    DAE_B,
    MEDIAN_UNTUNED,
    NLM_UNTUNED,
    NOISY,
    OURS,
)
from meddenoise.experiments.reproductions.gondara2016.settings import BASE_KEY, SETTINGS
from meddenoise.experiments.reproductions.gondara2016.state import GondaraRun

__all__ = ["build_figures"]


def build_figures(run: GondaraRun, keys: Sequence[str]) -> None:
    """Write every figure PNG into the report folder and add it to the record."""
    record = run.record
    clean = run.test[run.figure_idx]
    names = run.data.names["MMM_test"] + run.data.names["DX_test"]
    cols = [f"{g} {names[i]}" for g, i in zip(run.group[run.figure_idx], run.figure_idx, strict=True)]

    def out(key: str, method: str) -> np.ndarray:
        return run.outputs[(key, method)]

    path = plots.image_grid(
        [
            ("original", clean),
            ("noisy", out(BASE_KEY, NOISY)),
            ("CNN DAE", out(BASE_KEY, DAE_A)),
            ("median", out(BASE_KEY, MEDIAN_UNTUNED)),
        ],
        record.figure_path("fig6_tables2.png"),
        column_labels=cols,
        title="Fig. 6: Gaussian p=0.1 sigma=1 — original / noisy / CNN DAE (per dataset) / median 3x3",
    )
    record.add_figure(
        path, "Fig. 6", "Random test images of MMM and DX; CNN DAE trained on each dataset alone."
    )
    rows8 = [
        ("original", clean),
        ("noisy", out(BASE_KEY, NOISY)),
        ("NL means", out(BASE_KEY, NLM_UNTUNED)),
        ("median", out(BASE_KEY, MEDIAN_UNTUNED)),
        ("CNN DAE (a)", out(BASE_KEY, DAE_A)),
        ("CNN DAE (b)", out(BASE_KEY, DAE_B)),
        ("ours", out(BASE_KEY, OURS)),
    ]
    if (BASE_KEY, BM3D) in run.outputs:
        rows8.append(("BM3D", out(BASE_KEY, BM3D)))
    path = plots.image_grid(
        rows8,
        record.figure_path("fig8_table3.png"),
        column_labels=cols,
        title="Fig. 8: combined set, Gaussian p=0.1 sigma=1",
    )
    record.add_figure(
        path, "Fig. 8", "Rows as in the paper plus ours and BM3D (untuned NL means and median)."
    )
    for file, fig, setting_keys, title, caption in (
        (
            "fig9_gaussian.png",
            "Fig. 9",
            ("g0.5s1", "g0.2s5", "g0.2s10"),
            "Fig. 9: increasing Gaussian noise — noisy / paper-faithful CNN DAE",
            "p=0.5 sigma=1, p=0.2 sigma=5, p=0.2 sigma=10.",
        ),
        (
            "fig10_poisson.png",
            "Fig. 10",
            ("p0.2l1", "p0.2l5"),
            "Fig. 10: Poisson p=0.2, lambda=1 and 5 — noisy / paper-faithful CNN DAE",
            "Poisson corruption in the noise module's reading (see the notes).",
        ),
    ):
        rows = [("original", clean)]
        for k in setting_keys:
            if k in keys:
                rows += [(f"noisy {SETTINGS[k].column}", out(k, NOISY)), ("CNN DAE", out(k, DAE))]
        path = plots.image_grid(rows, record.figure_path(file), column_labels=cols, title=title)
        record.add_figure(path, fig, caption)
    curves7: dict[str, dict[str, list[float]]] = {
        n: run.models[n].curves() for n in ("dae-MMM", "dae-DX", "dae-combined") if n in run.models
    }
    path = plots.loss_curves(
        curves7,
        record.figure_path("fig7_loss.png"),
        ylabel=f"{run.config.loss} loss",
        title="Fig. 7: training and validation loss, Gaussian p=0.1 sigma=1",
    )
    record.add_figure(path, "Fig. 7", "Paper-faithful CNN DAE, batch 10, fixed corruption.")
    heavy = "dae-combined-g0.2s10"
    if heavy in run.models:
        path = plots.loss_curves(
            {"p=0.2, sigma=10": run.models[heavy].curves()},
            record.figure_path("fig11_loss_sd10.png"),
            ylabel=f"{run.config.loss} loss",
            title="Fig. 11: loss at Gaussian p=0.2 sigma=10",
        )
        record.add_figure(
            path, "Fig. 11", "The paper reports no decrease of the validation loss at this level."
        )
