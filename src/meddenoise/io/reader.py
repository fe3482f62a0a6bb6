"""``read_image``: one call for every supported format, dispatched by suffix and file signature."""

from __future__ import annotations

import os
from pathlib import Path

from meddenoise.io._common import suffix_of
from meddenoise.io.dicom import read_dicom
from meddenoise.io.image import ImageReadError, MedicalImage
from meddenoise.io.nifti import read_nifti
from meddenoise.io.raster import read_pillow, read_tiff

__all__ = ["RASTER_SUFFIXES", "READ_SUFFIXES", "detect_format", "read_image"]

#: Suffixes read with Pillow.
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pnm", ".pbm", ".gif")
TIFF_SUFFIXES = (".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: Every suffix :func:`read_image` recognises (files without a suffix are sniffed for DICOM).
READ_SUFFIXES = RASTER_SUFFIXES + TIFF_SUFFIXES + DICOM_SUFFIXES + NIFTI_SUFFIXES


def detect_format(path: str | Path) -> str:
    """``"dicom"``, ``"nifti"``, ``"tiff"`` or ``"raster"`` from the suffix, else from the file signature."""
    path = Path(path)
    suffix = suffix_of(path)
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix in NIFTI_SUFFIXES:
        return "nifti"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix in RASTER_SUFFIXES:
        return "raster"
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise ImageReadError(path, f"cannot open ({exc.strerror or exc})") from None
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(head) >= 4 and int.from_bytes(head[:4], "little") in (348, 540):
        return "nifti"
    return "raster"


def read_image(path: str | os.PathLike[str], *, slice_axis: int = 2) -> MedicalImage:
    """Read a medical or ordinary image file as float32 pixels in original units plus metadata.

    Parameters
    ----------
    path
        PNG, JPEG, BMP, TIFF (8/16-bit, float; pages become a stack), PGM/PPM, DICOM (``.dcm`` or any
        file with the DICM marker; multi-frame becomes a stack) or NIfTI (``.nii``, ``.nii.gz``).
    slice_axis
        NIfTI only: the volume axis a 3D volume is sliced along into a stack ``(N, H, W)``.

    Returns
    -------
    MedicalImage
        ``pixels`` float32 ``(H, W)`` or ``(N, H, W)`` in original units (HU for CT; MONOCHROME1
        inverted so that high means bright) and ``meta`` (:class:`~meddenoise.io.ImageMeta`).

    Raises
    ------
    ImageReadError
        One line ``"<path>: <reason>"`` for a missing, unreadable, empty, 4D, NaN/Inf-holding,
        truncated or pixel-less file, or a compressed DICOM without an installed codec (named).

    Warns
    -----
    ColourConversionWarning
        When a colour image is converted to grey.
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise ImageReadError(path, "broken symbolic link (or a loop of links)")
        raise ImageReadError(path, "no such file")
    if path.is_dir():
        raise ImageReadError(path, "is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file")
    fmt = detect_format(path)
    if fmt == "dicom":
        return read_dicom(path)
    if fmt == "nifti":
        return read_nifti(path, slice_axis=slice_axis)
    if fmt == "tiff":
        return read_tiff(path)
    return read_pillow(path)
