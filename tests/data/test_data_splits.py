"""Deterministic and group-disjoint splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meddenoise.data import dicom_groups, groups_from_paths, slab_groups, train_val_test_split


def test_split_is_deterministic_partition() -> None:
    a = train_val_test_split(100, seed=3)
    b = train_val_test_split(100, seed=3)
    c = train_val_test_split(100, seed=4)
    for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.train, c.train)
    assert (len(a.train), len(a.val), len(a.test)) == (80, 10, 10)
    assert sorted(np.concatenate([a.train, a.val, a.test]).tolist()) == list(range(100))


def test_split_by_counts() -> None:
    s = train_val_test_split(50, counts=(30, 5, 10), seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 5, 10)
    with pytest.raises(ValueError):
        train_val_test_split(10, counts=(8, 2, 2))


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 12), min_size=3, max_size=80),
    seed=st.integers(0, 2**31),
)
def test_group_split_never_straddles(labels: list[int], seed: int) -> None:
    s = train_val_test_split(len(labels), groups=labels, seed=seed, fractions=(0.6, 0.2, 0.2))
    parts = [{labels[i] for i in part} for part in (s.train, s.val, s.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sorted(np.concatenate([s.train, s.val, s.test]).tolist()) == list(range(len(labels)))
    again = train_val_test_split(len(labels), groups=labels, seed=seed, fractions=(0.6, 0.2, 0.2))
    np.testing.assert_array_equal(s.test, again.test)


def test_slab_groups_leave_gaps_out() -> None:
    g = slab_groups(10, slab_size=3, gap=1)
    assert g.tolist() == [0, 0, 0, -1, 1, 1, 1, -1, 2, 2]
    s = train_val_test_split(10, groups=g, seed=0, fractions=(0.34, 0.33, 0.33))
    used = np.concatenate([s.train, s.val, s.test])
    assert 3 not in used and 7 not in used
    # neighbouring slices of different parts are at least gap + 1 apart
    part_of = {int(i): k for k, p in enumerate((s.train, s.val, s.test)) for i in p}
    for i in part_of:
        if i + 1 in part_of:
            assert part_of[i] == part_of[i + 1]


def test_groups_from_paths_by_pattern() -> None:
    names = ["P017_s001.png", "dir/P017_s002.png", "P018_s001.png", "other.png"]
    assert groups_from_paths(names, r"^(P\d+)_") == ["P017", "P017", "P018", "other"]


@pytest.mark.data
def test_chest_ct_split_by_patient(shared_data: Path) -> None:
    files = sorted((shared_data / "chest-ct-dicom").glob("*.dcm"))
    by_tag = dicom_groups(files)
    # 45 slices of 27 patients (the ID_NNNN in the file names numbers slices, not patients)
    assert len(set(by_tag)) == 27
    assert len(set(groups_from_paths(files, r"ID_(\d+)"))) == 45
    s = train_val_test_split(len(files), groups=by_tag, seed=0)
    train_patients = {by_tag[i] for i in s.train}
    assert train_patients.isdisjoint({by_tag[i] for i in s.test})
