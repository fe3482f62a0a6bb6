"""Reproduction of Gondara 2016 (Tables II-IV, Figs 6-11) on mini-MIAS and the dental stand-in set.

Protocol (every choice the paper leaves open is written into ``results.json`` and the report):

* Data: ``mini-mias`` (MMM, 322 mammograms) and ``dental-ceph`` (DX, 150 files of which 146 distinct: the
  four later copies 087, 129, 134 and 144 are dropped by :mod:`meddenoise.data.curation` so that no image
  straddles train and test), resized to 64x64 by area averaging and scaled to [0, 1].
* Splits (seeded): MMM 300 train / 22 test as in the paper; DX keeps the paper's 3:1 ratio (300:100) on
  146 images, 110 train / 36 test (the paper had 400 dental images). Combined = the union (410 / 58).
  10 % of each training set is held out for the validation-loss curves.
* Noise: Table I settings through :func:`meddenoise.noise.parse_noise` (:mod:`.settings`).
* Paper-faithful CNN DAE and ours: :mod:`.training`. Baselines: :mod:`.baselines`. Both run as worker
  jobs, several at a time where there are cores for it: :mod:`.ahead`.
* Scores: SSIM 7x7 uniform window with data_range=1 (main) and data_range=2 (old scikit-image default),
  PSNR; mean ± std over test images (:mod:`.tables`). Figures: :mod:`.figures`.

The package, one module per job: ``settings`` (noise settings, scores, config), ``labels`` (row labels),
``published`` (the paper's numbers), ``data`` (loading and splits), ``state`` (the run's scores),
``baselines``, ``training``, ``ahead`` (both in worker processes), ``tables`` (tables, discrepancies, notes), ``figures``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from meddenoise.experiments.registry import Reproduction, ReproductionError, register
from meddenoise.experiments.reproductions.gondara2016.published import GONDARA2016
from meddenoise.experiments.reproductions.gondara2016.settings import (
    BASE_KEY,
    QUICK,
    SETTINGS,
    GondaraConfig,
    NoiseSetting,
)
from meddenoise.experiments.runner import ExperimentRecord

if TYPE_CHECKING:
    from meddenoise.experiments.reproductions.gondara2016.data import GondaraData

#: The paper's figures this reproduction re-draws (:mod:`.figures`).
FIGURES = ("Fig. 6", "Fig. 7", "Fig. 8", "Fig. 9", "Fig. 10", "Fig. 11")

__all__ = [
    "SETTINGS",
    "Gondara2016",
    "GondaraConfig",
    "GondaraData",
    "NoiseSetting",
    "load_gondara_data",
    "run_gondara2016",
]


def load_gondara_data(data_dir: Path, config: GondaraConfig) -> GondaraData:
    """MMM and DX at ``config.size``, curated and split (:func:`.data.load_gondara_data`)."""
    from meddenoise.experiments.reproductions.gondara2016 import data

    return data.load_gondara_data(data_dir, config)


@register
class Gondara2016(Reproduction[GondaraConfig]):
    """Gondara 2016: CNN DAEs vs median / NL-means on MMM and DX (Tables II-IV, Figs 6-11)."""

    name = "gondara2016"
    title = "Gondara 2016 — CNN denoising autoencoders on small medical image sets"
    summary = "Gondara 2016, Tables II-IV, Figs 6-11 (mini-MIAS, dental X-rays, 64x64)"
    config_class = GondaraConfig
    published = GONDARA2016
    figures = FIGURES
    doc = "docs/reproduce.md#gondara2016--protocol"
    fixed = frozenset({"size"})

    def quick_changes(self) -> dict[str, object]:
        return dict(QUICK)

    def configure(self, config: GondaraConfig, changes: Mapping[str, object]) -> GondaraConfig:
        # --epochs overrides every paper-faithful training, Table IV's too (unless given on its own)
        if "epochs" in changes and "table4_epochs" not in changes:
            changes = {**changes, "table4_epochs": changes["epochs"]}
        return super().configure(config, changes)

    def run(self, config: GondaraConfig, *, log: Callable[[str], None] = print) -> ExperimentRecord:
        return run_gondara2016(config, log=log)


def run_gondara2016(config: GondaraConfig, *, log: Callable[[str], None] = print) -> ExperimentRecord:
    """Run the whole reproduction and write CSV tables and PNG figures into ``config.out``.

    The caller saves ``results.json`` (:meth:`ExperimentRecord.save`) and writes the HTML page.
    """
    # the run's modules are imported here, not with the package: listing reproductions stays fast
    from meddenoise.experiments.reproductions.gondara2016.ahead import run_ahead
    from meddenoise.experiments.reproductions.gondara2016.baselines import classical_baselines
    from meddenoise.experiments.reproductions.gondara2016.figures import build_figures
    from meddenoise.experiments.reproductions.gondara2016.state import GondaraRun
    from meddenoise.experiments.reproductions.gondara2016.tables import build_tables, write_notes
    from meddenoise.experiments.reproductions.gondara2016.training import paper_faithful_models, train_ours

    if config.data_dir is None:
        raise ReproductionError("gondara2016: the config has no data folder (data_dir)")
    data_dir = config.data_dir
    record = ExperimentRecord.start(Gondara2016.name, Gondara2016.title, config, log=log)
    with record.step("load data"):
        data = load_gondara_data(data_dir, config)
    record.protocol["data"] = {
        "data_dir": str(data_dir),
        "size": config.size,
        "resize": "area averaging (PIL BOX) to 64x64, [0, 1] by 8-bit range",
        "MMM": {"train": len(data.train["MMM"]), "test": len(data.test["MMM"])},
        "DX": {
            "train": len(data.train["DX"]),
            "test": len(data.test["DX"]),
            "dropped_duplicates": data.dropped,
        },
        "validation": "10 % of each training set held out (seeded) for the validation loss",
        "split_seed": config.seed,
        "test_names": {k: v for k, v in data.names.items() if k.endswith("_test")},
    }
    run = GondaraRun(data, config, record)
    keys = [k for k in SETTINGS if k in config.settings]
    if BASE_KEY not in keys:
        raise ValueError(f"settings must include {BASE_KEY} (Tables II and III)")
    record.protocol["noise"] = {k: SETTINGS[k].spec for k in keys}
    record.protocol["bm3d_subset"] = int(run.bm3d_mask.sum())

    with record.step("noise: " + ", ".join(SETTINGS[key].spec for key in keys)):
        for key in keys:
            run.corrupt(key)
    run_ahead(run, keys)  # baselines and trainings several at a time in worker processes, where cores allow
    for key in keys:
        if key not in run.tuned:  # not computed ahead (one process)
            with record.step(f"classical baselines: {SETTINGS[key].spec}"):
                classical_baselines(run, key)
    record.protocol["noise_std_from_training"] = run.noise_std
    record.protocol["tuned_parameters"] = {key: run.tuned[key] for key in keys}

    paper_faithful_models(run, keys)
    train_ours(run, keys)

    with record.step("tables"):
        build_tables(run, keys)
    with record.step("figures"):
        build_figures(run, keys)
    record.extra["trainings"] = {name: m.summary() for name, m in run.models.items()}
    write_notes(run)
    return record
