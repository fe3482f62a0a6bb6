"""Deterministic train/validation/test splits, optionally by group (patient, volume, slab).

With ``groups`` every group lands wholly in one part, so slices of one patient or neighbouring slices of
one volume never straddle train and test. Negative group ids mark items to leave out (e.g. the gap
slices :func:`slab_groups` puts between slabs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Split",
    "dicom_groups",
    "groups_from_paths",
    "slab_groups",
    "train_val_test_split",
]


@dataclass(frozen=True)
class Split:
    """Index arrays (sorted) of the train, validation and test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, list[int]]:
        return {"train": self.train.tolist(), "val": self.val.tolist(), "test": self.test.tolist()}


def _target_counts(
    n: int, fractions: Sequence[float] | None, counts: Sequence[int] | None
) -> tuple[int, int, int]:
    if counts is not None:
        if fractions is not None:
            raise ValueError("give fractions or counts, not both")
        c = tuple(int(v) for v in counts)
        if len(c) != 3 or min(c) < 0 or sum(c) > n:
            raise ValueError(f"counts must be 3 non-negative numbers summing to at most {n}, got {counts}")
        return c[0], c[1], c[2]
    f = tuple(float(v) for v in (fractions if fractions is not None else (0.8, 0.1, 0.1)))
    if len(f) != 3 or min(f) < 0 or not 0 < sum(f) <= 1 + 1e-9:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to at most 1, got {fractions}")
    n_val, n_test = round(n * f[1]), round(n * f[2])
    n_train = n - n_val - n_test if abs(sum(f) - 1) < 1e-9 else round(n * f[0])
    return max(n_train, 0), n_val, n_test


def train_val_test_split(
    n: int,
    *,
    fractions: Sequence[float] | None = None,
    counts: Sequence[int] | None = None,
    seed: int = 0,
    groups: Sequence[object] | np.ndarray | None = None,
) -> Split:
    """Split ``range(n)`` into train/val/test, the same for the same ``seed``.

    Parameters
    ----------
    n
        Number of items.
    fractions, counts
        Sizes of (train, val, test) as fractions (default ``(0.8, 0.1, 0.1)``) or item counts.
    seed
        Seed of the shuffle.
    groups
        One label per item; items of a group stay together (groups are shuffled and dealt to the part
        furthest below its target). Integer labels < 0 are left out of every part.

    Returns
    -------
    Split
    """
    if groups is None:
        n_train, n_val, n_test = _target_counts(n, fractions, counts)
        order = np.random.default_rng(seed).permutation(n)
        return Split(
            np.sort(order[:n_train]),
            np.sort(order[n_train : n_train + n_val]),
            np.sort(order[n_train + n_val : n_train + n_val + n_test]),
        )
    labels = np.asarray(groups, dtype=object)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} group labels for {n} items")
    keep = np.array([not (isinstance(g, int | np.integer) and g < 0) for g in labels], dtype=bool)
    kept = np.flatnonzero(keep)
    targets = np.asarray(_target_counts(len(kept), fractions, counts), dtype=float)
    unique = sorted({str(g) for g in labels[kept]})
    members: dict[str, list[int]] = {u: [] for u in unique}
    for i in kept:
        members[str(labels[i])].append(int(i))
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    filled = np.zeros(3)
    for gi in rng.permutation(len(unique)):
        idx = members[unique[gi]]
        # deal to the part with the largest remaining relative deficit (ties: train, val, test)
        deficit = np.where(targets > 0, (targets - filled) / np.maximum(targets, 1), -np.inf)
        if np.all(deficit <= 0) and targets.sum() < len(kept):
            continue  # every part has its share: the rest stays out
        part = int(np.argmax(deficit))
        parts[part].extend(idx)
        filled[part] += len(idx)
    return Split(*(np.sort(np.asarray(p, dtype=np.int64)) for p in parts))


def groups_from_paths(paths: Sequence[str | Path], pattern: str) -> list[str]:
    r"""Group label per path: the first capture group of the regular expression ``pattern`` in the file name.

    E.g. ``r"^(P\d+)_"`` for ``P017_slice042.png``. A name without a match is its own group (its stem).
    Beware: the ``ID_NNNN`` in chest-ct-dicom file names numbers images, not patients (45 ids for 27
    patients); group those with :func:`dicom_groups` (PatientID).
    """
    regex = re.compile(pattern)
    labels = []
    for p in paths:
        name = Path(p).name
        m = regex.search(name)
        labels.append(m.group(1) if m else Path(p).stem)
    return labels


def dicom_groups(paths: Sequence[str | Path], *, keyword: str = "PatientID") -> list[str]:
    """Group label per DICOM file from a header tag (default PatientID; StudyInstanceUID, SeriesInstanceUID...).

    Files without the tag are their own group.
    """
    import pydicom

    labels = []
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=[keyword], force=True)
        value = ds.get(keyword)
        labels.append(str(value) if value not in (None, "") else f"file:{Path(p).name}")
    return labels


def slab_groups(n_slices: int, *, slab_size: int, gap: int = 0, offset: int = 0) -> np.ndarray:
    """Group id per slice of a volume: consecutive slabs of ``slab_size`` slices, ``gap`` slices between.

    Gap slices get id ``-1`` (left out of splits) so that no two slices in different parts are closer than
    ``gap + 1``. ``offset`` is added to every id (to keep several volumes' slabs distinct).
    """
    if slab_size < 1 or gap < 0:
        raise ValueError(f"need slab_size >= 1 and gap >= 0, got {slab_size}, {gap}")
    period = slab_size + gap
    position = np.arange(n_slices)
    ids = position // period + offset
    return np.where(position % period < slab_size, ids, -1).astype(np.int64)
