"""Which files are images a denoised copy can be written back for, and writing that copy.

The pipeline asks these questions instead of keeping suffix lists or DICOM sniffing of its own:
:func:`is_supported_image`, :func:`find_images` (a folder's images, recursively), :func:`output_name`
(the name of a file's denoised copy), :func:`series_uid` (DICOM series grouping) and
:func:`write_like_source` (write pixels in the source's format and depth).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from meddenoise._utils import atomic_path
from meddenoise.io._common import suffix_of, write_failure
from meddenoise.io.image import ImageWriteError, MedicalImage
from meddenoise.io.writer import write_image

__all__ = [
    "ROUND_TRIP_SUFFIXES",
    "ExistingOutput",
    "OutputExistsError",
    "broken_links",
    "check_output",
    "file_series_uid",
    "find_images",
    "is_dicom_without_suffix",
    "is_supported_image",
    "output_name",
    "series_uid",
    "write_like_source",
    "written_dtype",
]

#: Suffixes read and written back in the same format (files without a suffix are sniffed for DICOM).
ROUND_TRIP_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".ima", ".png", ".tif", ".tiff", ".nii", ".nii.gz")


#: What to do with an output file that exists already: refuse (the default everywhere), replace it, or
#: (batches) skip the input whose output exists, so that an interrupted run can be resumed.
ExistingOutput = Literal["refuse", "overwrite", "skip"]


class OutputExistsError(ImageWriteError):
    """An output file exists and replacing it was not asked for (``--overwrite`` / ``overwrite=True``)."""


def check_output(target: str | os.PathLike[str], *, overwrite: bool) -> None:
    """The one overwrite rule of every command and of the API: an existing ``target`` is refused
    unless ``overwrite``; a folder (or anything not a file) in its place is refused always.

    Raises
    ------
    OutputExistsError
        ``"<target>: exists; pass --overwrite to replace it"``.
    """
    path = Path(target)
    if path.is_symlink() or path.exists():
        if path.is_dir():
            raise OutputExistsError(path, "is a folder; the output must be a file name")
        if not overwrite:
            raise OutputExistsError(path, "exists; pass --overwrite to replace it")


def is_dicom_without_suffix(path: str | Path) -> bool:
    """Whether ``path`` has no suffix and carries the DICOM ``DICM`` marker at byte 128."""
    path = Path(path)
    if path.suffix:
        return False
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def is_supported_image(path: str | Path) -> bool:
    """Whether ``path`` is an image file that can be read and written back in its own format."""
    path = Path(path)
    return suffix_of(path) in ROUND_TRIP_SUFFIXES or is_dicom_without_suffix(path)


def find_images(folder: str | Path) -> list[Path]:
    """Every supported image under ``folder`` (recursively, sorted), skipping hidden files and folders."""
    root = Path(folder)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and is_supported_image(p)
    )


def broken_links(folder: str | Path) -> list[Path]:
    """Symbolic links under ``folder`` named like supported images that lead nowhere (a missing target or
    a loop of links): :func:`find_images` cannot list them as files, and a batch must not pass over them
    in silence."""
    root = Path(folder)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_symlink()
        and not p.exists()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and suffix_of(p) in ROUND_TRIP_SUFFIXES
    )


def output_name(path: str | Path) -> str:
    """File name of the written copy of ``path``: the same, except extensionless DICOM gains ``.dcm``."""
    path = Path(path)
    return path.name + ".dcm" if is_dicom_without_suffix(path) else path.name


def series_uid(image: MedicalImage) -> str | None:
    """The DICOM SeriesInstanceUID of an image read from DICOM, else ``None``."""
    header = getattr(image.meta, "header", None)
    uid = getattr(header, "SeriesInstanceUID", None) if header is not None else None
    return str(uid) if uid else None


def written_dtype(target: str | Path, source: MedicalImage) -> np.dtype | None:
    """The integer type :func:`write_like_source` stores ``target``'s pixels in, when it only rounds and
    clips onto it (an integer TIFF); ``None`` for formats that convert otherwise.

    A caller holding a large result can produce it in this type directly (``clip(rint(x), min, max)``)
    instead of as float32: half the memory for 16-bit images, and the same file.
    """
    dtype = np.dtype(source.meta.dtype)
    if suffix_of(Path(target)) in (".tif", ".tiff") and np.issubdtype(dtype, np.integer):
        return dtype
    return None


def file_series_uid(path: str | Path) -> str | None:
    """The SeriesInstanceUID of a DICOM file, read from its header alone; ``None`` for anything else."""
    import pydicom

    if not (suffix_of(Path(path)) in (".dcm", ".dicom", ".ima") or is_dicom_without_suffix(path)):
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
    except Exception:  # unreadable: it has no series to report, whatever pydicom raised
        return None
    uid = ds.get("SeriesInstanceUID")
    return str(uid) if uid else None


def write_like_source(
    target: str | Path,
    pixels: np.ndarray,
    source: MedicalImage,
    *,
    description: str,
    series_uid: str | None = None,
) -> Path:
    """Write ``pixels`` (original units) as a copy of ``source``: same format, metadata and depth.

    DICOM becomes a derived image (``series_uid`` puts several files into one new series); an integer
    TIFF keeps its depth (rounded onto the source's grid); everything else goes through
    :func:`~meddenoise.io.write_image`.
    """
    target = Path(target)
    meta = source.meta
    if suffix_of(target) in (".tif", ".tiff") and np.issubdtype(np.dtype(meta.dtype), np.integer):
        import tifffile

        info = np.iinfo(np.dtype(meta.dtype))
        if pixels.dtype == np.dtype(meta.dtype):  # already rounded onto the stored type (written_dtype)
            stored = pixels
        else:
            stored = np.clip(np.rint(pixels), info.min, info.max).astype(meta.dtype)
        try:
            with atomic_path(target) as tmp:
                tifffile.imwrite(tmp, stored, photometric="minisblack")
        except OSError as exc:
            raise write_failure(target, exc) from None
        return target
    return write_image(target, pixels, like=source, description=description, series_uid=series_uid)
