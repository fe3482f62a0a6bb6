"""The gondara2016 images: MMM and DX at 64x64, curated (duplicates dropped) and split with the seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meddenoise._utils import as_rng
from meddenoise.data.curation import curated_pngs
from meddenoise.experiments.protocol import derived_seed, seeded_split
from meddenoise.experiments.reproductions.gondara2016.settings import GondaraConfig

__all__ = ["FOLDERS", "GROUPS", "GondaraData", "load_gondara_data"]

#: The two datasets, in the order of the combined sets.
GROUPS = ("MMM", "DX")
#: Each dataset's folder under the data directory.
FOLDERS = {"MMM": "mini-mias", "DX": "dental-ceph"}


@dataclass
class GondaraData:
    """The 64x64 images, their split and which dataset each test image belongs to."""

    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    names: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @property
    def combined_train(self) -> np.ndarray:
        return np.concatenate([self.train[g] for g in GROUPS])

    @property
    def combined_test(self) -> np.ndarray:
        return np.concatenate([self.test[g] for g in GROUPS])

    @property
    def test_group(self) -> np.ndarray:
        """Dataset label of each combined test image."""
        return np.array([g for g in GROUPS for _ in range(len(self.test[g]))])


def load_gondara_data(data_dir: Path, config: GondaraConfig) -> GondaraData:
    """Load MMM and DX at ``config.size`` (area averaging), drop DX duplicates, split with the seed."""
    from meddenoise.data import load_images

    rng = as_rng(derived_seed(config.seed, "split"))
    data_dir = Path(data_dir)
    mmm = curated_pngs(data_dir / FOLDERS["MMM"], limit=config.limit_mmm)
    dx = curated_pngs(data_dir / FOLDERS["DX"], limit=config.limit_dx)
    train, test, names = {}, {}, {}
    for key, files, n_train in (
        ("MMM", mmm.files, min(config.mmm_train, len(mmm.files) - 1)),
        ("DX", dx.files, round(config.dx_train_fraction * len(dx.files))),
    ):
        images = load_images(list(files), size=config.size)
        tr, te = seeded_split(len(images), n_train, rng=rng)
        train[key], test[key] = images[tr], images[te]
        names[f"{key}_train"] = [files[i].name for i in tr]
        names[f"{key}_test"] = [files[i].name for i in te]
    return GondaraData(train=train, test=test, names=names, dropped=list(dx.dropped))
