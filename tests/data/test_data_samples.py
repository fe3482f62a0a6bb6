"""Built-in samples: pydicom/pydicom-data DICOMs and the MNI152 template of nilearn."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from meddenoise.data import samples as samples_module
from meddenoise.data import slab_groups, train_val_test_split
from meddenoise.data.samples import load_samples, mni152_path, samples_dataset


@pytest.fixture(scope="module")
def all_samples():
    return load_samples()


def test_samples_cover_the_modalities(all_samples) -> None:
    modalities = {s.modality for s in all_samples}
    assert {"CT", "MR", "CR", "US"} <= modalities
    for s in all_samples:
        assert s.image.pixels.dtype == np.float32 and np.isfinite(s.image.pixels).all()
        assert s.image.pixels.std() > 0, s.name
    ct = next(s for s in all_samples if s.name == "CT_small")
    assert ct.image.meta.units == "HU"


@pytest.mark.skipif(importlib.util.find_spec("nilearn") is None, reason="nilearn (extra 'mri') not installed")
def test_mni152_template_is_found_without_importing_nilearn(all_samples) -> None:
    path = mni152_path()
    assert path is not None and path.name.endswith(".nii.gz")
    mni = next(s for s in all_samples if s.name == "mni152-t1")
    assert mni.image.pixels.shape == (189, 197, 233)
    assert mni.image.meta.affine is not None


def test_without_nilearn_samples_degrade_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples_module, "mni152_path", lambda: None)
    with pytest.warns(UserWarning, match=r"meddenoise\[mri\]"):
        got = load_samples(modalities=("CT",))
    assert got and all(s.modality == "CT" for s in got)


def test_samples_dataset_and_slab_split() -> None:
    ds = samples_dataset(size=32)
    assert ds.images.shape[1:] == (32, 32) and ds.images.dtype == np.float32
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    if mni152_path() is None:
        return
    mri = np.flatnonzero(ds.source == "mni152-t1")
    assert len(mri) > 80
    # neighbouring template slices never straddle train and test: slabs of 8 with a 2-slice gap
    groups = slab_groups(int(ds.slice_index[mri].max()) + 1, slab_size=8, gap=2)[ds.slice_index[mri]]
    split = train_val_test_split(len(mri), groups=groups, seed=0)
    slices = ds.slice_index[mri]
    train, test = slices[split.train], slices[split.test]
    assert np.min(np.abs(train[:, None] - test[None, :])) >= 3
