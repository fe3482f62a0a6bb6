"""One entry point for every reproduction: run it, save results, write the HTML page."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["EXPERIMENTS", "run_experiment"]

#: Experiment names accepted by :func:`run_experiment` (and ``meddenoise reproduce``).
EXPERIMENTS = ("gondara2016", "modality-study", "dense-vs-conv")


def run_experiment(
    name: str,
    *,
    data_dir: Path,
    out_dir: Path,
    quick: bool = False,
    seed: int = 0,
    epochs: int | None = None,
    table4_epochs: int | None = None,
    ours_epochs: int | None = None,
    size: int | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run reproduction ``name`` into ``out_dir`` and return the path of its ``index.html``.

    ``out_dir/runs`` (the training folders of a previous run into the same folder) is replaced.
    ``size`` (modality-study only) sets the image size; 64 adds ``chest-xray-64`` to the X-ray data.
    """
    from meddenoise.report.experiment_report import write_experiment_report

    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    if size is not None and name != "modality-study":
        raise ValueError(f"--size applies to modality-study only ({name} uses its paper's image size)")
    if size is not None and size < 8:
        raise ValueError(f"--size must be at least 8, got {size}")
    out_dir = Path(out_dir)
    runs = out_dir / "runs"
    if runs.is_dir():
        shutil.rmtree(runs)
    if name == "gondara2016":
        from meddenoise.experiments.gondara2016 import GondaraConfig, run_gondara2016

        gcfg = GondaraConfig.quick_config(seed=seed) if quick else GondaraConfig(seed=seed)
        if epochs is not None:
            gcfg.epochs = epochs
            gcfg.table4_epochs = epochs
        if table4_epochs is not None:
            gcfg.table4_epochs = table4_epochs
        if ours_epochs is not None:
            gcfg.ours_epochs = ours_epochs
        record = run_gondara2016(data_dir, out_dir, gcfg, log=log)
    elif name == "modality-study":
        from meddenoise.experiments.modality_study import ModalityConfig, run_modality_study

        mcfg = ModalityConfig.quick_config(seed=seed) if quick else ModalityConfig(seed=seed)
        if epochs is not None:
            mcfg.epochs = epochs
        if size is not None:
            mcfg.size = size
        record = run_modality_study(data_dir, out_dir, mcfg, log=log)
    else:
        from meddenoise.experiments.dense_vs_conv import DenseConvConfig, run_dense_vs_conv

        dcfg = DenseConvConfig.quick_config(seed=seed) if quick else DenseConvConfig(seed=seed)
        if epochs is not None:
            dcfg.epochs = epochs
        record = run_dense_vs_conv(data_dir, out_dir, dcfg, log=log)
    record.save()
    page = write_experiment_report(out_dir)
    log(f"[{record.elapsed():7.1f}s] wrote {out_dir}/results.json, CSV tables, figures and {page.name}")
    return page
