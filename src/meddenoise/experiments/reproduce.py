"""One entry point for every reproduction: configure it, run it, save results, write the HTML page."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from meddenoise.experiments.registry import get_reproduction, reproduction_names

__all__ = ["reproduction_names", "run_experiment"]


def run_experiment(
    name: str,
    *,
    data_dir: Path,
    out_dir: Path,
    quick: bool = False,
    seed: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] = print,
    options: Mapping[str, object] | None = None,
    **changes: object,
) -> Path:
    """Run reproduction ``name`` into ``out_dir`` and return the path of its ``index.html``.

    ``options`` and ``changes`` (the same, as a mapping or as keywords) set fields of the reproduction's config (e.g. ``epochs=5``; ``size=64`` for the
    modality study); one it does not have is a :class:`~meddenoise.experiments.registry.ReproductionError`
    naming the reproductions that have it. ``None`` values are ignored. ``out_dir/runs`` (the training
    folders of a previous run into the same folder) is replaced, unless ``resume=True`` is among the
    changes: then each training continues from its last finished epoch there (a finished one is reused).
    """
    from meddenoise.report.experiment_report import write_experiment_report

    reproduction = get_reproduction(name)
    given = {key: value for key, value in {**(options or {}), **changes}.items() if value is not None}
    if threads is not None:
        given["threads"] = threads
    config = reproduction.make_config(quick=quick, seed=seed, data_dir=Path(data_dir), out=Path(out_dir))
    config = reproduction.configure(config, given)
    out_dir = Path(out_dir)
    runs = out_dir / "runs"
    if runs.is_dir() and not config.resume:
        shutil.rmtree(runs)
    record = reproduction.run(config, log=log)
    record.save()
    page = write_experiment_report(out_dir)
    log(f"[{record.elapsed():7.1f}s] wrote {out_dir}/results.json, CSV tables, figures and {page.name}")
    return page
