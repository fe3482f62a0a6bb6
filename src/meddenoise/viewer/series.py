"""Series of 2D slices on disk, read one slice at a time, and the pairing of an original tree with its copies.

A :class:`Series` is either one file per slice (a single-frame DICOM series, a folder of PNG/TIFF images)
or one file holding a stack (a NIfTI volume, a multi-frame DICOM, a multi-page TIFF). :func:`pair_trees`
finds, for every series of the original tree, the files that ``meddenoise denoise`` wrote for it: the same
relative path under each denoised tree (extensionless DICOM gains ``.dcm``; see
:func:`meddenoise.io.output_name`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from meddenoise.io import ImageReadError, MedicalImage, detect_format, find_images, output_name, read_image

__all__ = ["Pair", "PairingError", "Series", "pair_trees"]


class PairingError(ValueError):
    """The trees given cannot be paired; the message is one line ``"<path>: <reason>"``."""


class _ImageCache:
    """Images read from disk, the most recently used kept up to a byte budget (thread-safe)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._items: OrderedDict[Path, MedicalImage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> MedicalImage:
        with self._lock:
            if path in self._items:
                self._items.move_to_end(path)
                return self._items[path]
        image = read_image(path)
        with self._lock:
            self._items[path] = image
            self._items.move_to_end(path)
            while len(self._items) > 1 and sum(im.pixels.nbytes for im in self._items.values()) > self.budget:
                self._items.popitem(last=False)
        return image


#: One cache for every series of the process: a few volumes or a few hundred single slices.
_CACHE = _ImageCache(budget_bytes=1536 * 2**20)


@dataclass(frozen=True)
class Series:
    """Slices on disk: one file per slice (``stacked=False``) or one file holding them all.

    Attributes
    ----------
    label
        What the viewer shows as this series' name (its path relative to the tree given).
    paths
        The files, in slice order.
    stacked
        ``True`` when ``paths`` is one file whose pixels are a stack ``(N, H, W)``.
    """

    label: str
    paths: tuple[Path, ...]
    stacked: bool = False

    def _image(self, k: int) -> MedicalImage:
        return _CACHE.get(self.paths[0] if self.stacked else self.paths[k])

    @property
    def n_slices(self) -> int:
        """Number of slices (reads a stacked file)."""
        return int(self._image(0).slices().shape[0]) if self.stacked else len(self.paths)

    def slice(self, k: int) -> np.ndarray:
        """Slice ``k`` as float32 ``(H, W)`` in the image's own units (HU for CT).

        Raises
        ------
        IndexError
            When ``k`` is not a slice of this series.
        """
        if not 0 <= k < self.n_slices:
            raise IndexError(f"{self.label}: no slice {k} (series has {self.n_slices})")
        stack = self._image(k).slices()
        return np.asarray(stack[k if self.stacked else 0], dtype=np.float32)

    def info(self, k: int = 0) -> dict[str, Any]:
        """What matters for comparing: modality, units, descriptions and spacing (of slice ``k``'s file)."""
        image = self._image(min(max(k, 0), len(self.paths) - 1) if not self.stacked else 0)
        meta = image.meta
        header = meta.header[0] if isinstance(meta.header, list) else meta.header
        series_description = derivation = None
        slice_spacing: float | None = None
        if meta.format == "dicom" and header is not None:
            series_description = str(header.get("SeriesDescription", "") or "") or None
            derivation = str(header.get("DerivationDescription", "") or "") or None
            gap = header.get("SpacingBetweenSlices") or header.get("SliceThickness")
            slice_spacing = float(gap) if gap not in (None, "") else None
        elif meta.format == "nifti" and header is not None:
            series_description = bytes(header["descrip"]).rstrip(b"\0").decode("latin-1").strip() or None
            zooms = header.get_zooms()
            if meta.slice_axis is not None and len(zooms) > meta.slice_axis:
                slice_spacing = float(zooms[meta.slice_axis])
        return {
            "label": self.label,
            "path": str(self.paths[0].parent if len(self.paths) > 1 else self.paths[0]),
            "format": meta.format,
            "modality": meta.modality,
            "units": meta.units,
            "dtype": meta.dtype,
            "value_range": [float(meta.value_range[0]), float(meta.value_range[1])],
            "series_description": series_description,
            "derivation_description": derivation,
            "pixel_spacing": list(meta.pixel_spacing) if meta.pixel_spacing else None,
            "slice_spacing": slice_spacing,
        }


@dataclass(frozen=True)
class Pair:
    """An original series, its denoised copies (one per denoised tree) and optionally a clean reference."""

    name: str
    sides: tuple[Series, ...]
    labels: tuple[str, ...]
    reference: Series | None = None

    @property
    def all_sides(self) -> tuple[Series, ...]:
        """The series shown, in order: original, denoised copies, then the reference when there is one."""
        return (*self.sides, self.reference) if self.reference is not None else self.sides


@dataclass
class _Group:
    label: str
    stacked: bool
    files: list[tuple[tuple[float, ...], Path]] = field(default_factory=list)


def _dicom_key(path: Path) -> tuple[str | None, int, tuple[float, float]]:
    """(SeriesInstanceUID, number of frames, sort key along the slice normal) from the header alone."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:  # pydicom raises many kinds on arbitrary bytes
        raise ImageReadError(path, f"unreadable DICOM header ({exc})") from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    along = 0.0
    if position is not None and orientation is not None and len(orientation) == 6:
        normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
        along = float(np.dot(normal, np.asarray(position, float)))
    uid = ds.get("SeriesInstanceUID")
    return (str(uid) if uid else None), frames, (along, float(ds.get("InstanceNumber", 0) or 0))


def _tiff_pages(path: Path) -> int:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return len(tif.pages)


def _group(files: Sequence[Path], root: Path) -> list[_Group]:
    """Group an original tree's files into series: DICOM by folder and series UID, PNG/TIFF by folder."""
    groups: dict[tuple[str, ...], _Group] = {}
    for path in files:
        rel = path.relative_to(root) if path != root else Path(path.name)
        folder = rel.parent.as_posix()
        fmt = detect_format(path)
        key: tuple[str, ...]
        order: tuple[float, ...] = ()
        if fmt == "dicom":
            uid, frames, order = _dicom_key(path)
            key = ("file", rel.as_posix()) if frames > 1 else ("dicom", folder, uid or rel.as_posix())
        elif fmt == "nifti" or (fmt == "tiff" and _tiff_pages(path) > 1):
            key = ("file", rel.as_posix())
        else:
            key = ("folder", folder, path.suffix.lower())
        if key not in groups:
            stacked = key[0] == "file"
            label = rel.as_posix() if stacked else (folder if folder != "." else root.name or rel.as_posix())
            groups[key] = _Group(label, stacked)
        groups[key].files.append(((*order, len(groups[key].files)), path))
    out = []
    for group in groups.values():
        group.files.sort(key=lambda item: item[0])
        out.append(group)
    labels = [g.label for g in out]
    for group in out:  # two DICOM series in one folder: tell them apart
        if labels.count(group.label) > 1:
            group.label = f"{group.label} [{group.files[0][1].name}]"
    return sorted(out, key=lambda g: g.label)


def _counterpart(path: Path, root: Path, tree: Path, *, exact_first: bool) -> Path | None:
    """Where ``meddenoise denoise`` (or a clean reference tree) has the copy of ``path``."""
    if tree.is_file():
        return tree
    rel = path.relative_to(root) if root.is_dir() else Path(path.name)
    names = [rel.name, output_name(path)] if exact_first else [output_name(path), rel.name]
    for name in names:
        candidate = tree / rel.parent / name
        if candidate.is_file():
            return candidate
    return None


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise PairingError(f"{path}: no such file or folder")


def pair_trees(
    originals: Path | str | Sequence[Path | str],
    denoised: Sequence[Path | str],
    *,
    reference: Path | str | None = None,
    labels: Sequence[str] | None = None,
) -> tuple[list[Pair], list[str]]:
    """Pair every series of the original tree(s) with its copy in each denoised tree.

    Parameters
    ----------
    originals
        Files and/or folders given to ``meddenoise denoise`` (a folder is searched recursively).
    denoised
        One or more output folders (or, for a single original file, the output file itself). A folder's
        copy of ``root/a/b.dcm`` is ``out/a/b.dcm``; of a file input ``x.dcm`` it is ``out/x.dcm``.
    reference
        A clean tree with the same layout (same relative paths): shown as another side, and PSNR/SSIM are
        measured against it.
    labels
        Names of the sides (default: ``original``, then the denoised trees' names).

    Returns
    -------
    (pairs, notes)
        The pairs sorted by name, and one line per original series left out (no copy found).

    Raises
    ------
    PairingError
        When a path does not exist, or nothing could be paired.
    """
    roots = [Path(originals)] if isinstance(originals, str | Path) else [Path(p) for p in originals]
    trees = [Path(p) for p in denoised]
    ref_tree = Path(reference) if reference is not None else None
    if not trees:
        raise PairingError("denoised: give at least one denoised file or folder")
    for path in [*roots, *trees, *([ref_tree] if ref_tree is not None else [])]:
        _check_exists(path)
    side_labels = tuple(labels) if labels is not None else ("original", *(t.name or str(t) for t in trees))
    if len(set(side_labels)) < len(side_labels):  # e.g. two trees both called "out"
        side_labels = ("original", *(f"{name} ({i + 1})" for i, name in enumerate(side_labels[1:])))
    others = [*trees, *([ref_tree] if ref_tree is not None else [])]
    pairs: list[Pair] = []
    notes: list[str] = []
    for root in roots:
        if root.is_dir():
            inside = [t.resolve() for t in others if t.is_dir() and t.resolve() != root.resolve()]
            # an output folder inside the input folder (denoise scans/ -o scans/denoised) is not an original
            files = [f for f in find_images(root) if not any(f.resolve().is_relative_to(t) for t in inside)]
            if any(t.is_file() for t in trees):
                raise PairingError(f"{root}: a folder pairs with denoised folders, not with a file")
        else:
            files = [root]
        if not files:
            notes.append(f"{root}: no image files")
            continue
        for group in _group(files, root):
            copies: list[list[Path]] = [[] for _ in trees]
            ref_files: list[Path] = []
            missing: Path | None = None
            for _, path in group.files:
                for i, tree in enumerate(trees):
                    found = _counterpart(path, root, tree, exact_first=False)
                    if found is None:
                        missing = missing or tree / path.name
                    else:
                        copies[i].append(found)
                if ref_tree is not None:
                    found = _counterpart(path, root, ref_tree, exact_first=True)
                    if found is not None:
                        ref_files.append(found)
            if missing is not None:
                notes.append(f"{group.label}: left out, no denoised copy (looked for {missing})")
                continue
            originals_files = tuple(p for _, p in group.files)
            sides = (
                Series(group.label, originals_files, group.stacked),
                *(Series(group.label, tuple(c), group.stacked) for c in copies),
            )
            ref_series = None
            if ref_tree is not None:
                if len(ref_files) == len(originals_files):
                    ref_series = Series(group.label, tuple(ref_files), group.stacked)
                else:
                    notes.append(f"{group.label}: no complete clean reference under {ref_tree}")
            name = group.label if len(roots) == 1 else f"{root.name}/{group.label}"
            pairs.append(Pair(name, sides, side_labels, ref_series))
    if not pairs:
        detail = "; ".join(notes[:3]) if notes else "no image files"
        raise PairingError(f"{roots[0]}: nothing to compare ({detail})")
    return sorted(pairs, key=lambda p: p.name), notes
