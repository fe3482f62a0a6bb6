"""``write_image``: write a result by suffix (.png, .tif/.tiff, .dcm, .nii/.nii.gz), never over its source."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from meddenoise._utils import same_path
from meddenoise.io._common import suffix_of, write_failure
from meddenoise.io.dicom import DEFAULT_SERIES_SUFFIX, write_dicom
from meddenoise.io.image import ImageWriteError, MedicalImage
from meddenoise.io.nifti import write_nifti
from meddenoise.io.raster import write_png, write_tiff

__all__ = ["WRITE_SUFFIXES", "write_image"]

WRITE_SUFFIXES = (".png", ".tif", ".tiff", ".dcm", ".nii", ".nii.gz")
DEFAULT_DESCRIPTION = "denoised with meddenoise"


def _default_range(pixels: np.ndarray) -> tuple[float, float]:
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    like: MedicalImage | None = None,
    description: str = DEFAULT_DESCRIPTION,
    bits: int | None = None,
    value_range: tuple[float, float] | None = None,
    series_suffix: str = DEFAULT_SERIES_SUFFIX,
    series_uid: str | None = None,
    derivation: str = "smoothing",
) -> Path:
    """Write ``pixels`` to ``path``, the format chosen by the suffix; atomic; never over ``like``'s source.

    Parameters
    ----------
    path
        ``.png`` (8/16-bit), ``.tif``/``.tiff`` (float32, values unchanged), ``.dcm`` (derived DICOM;
        needs ``like`` read from DICOM), ``.nii``/``.nii.gz`` (float32 with ``like``'s affine and header).
    pixels
        ``(H, W)`` or ``(N, H, W)`` in ``like``'s units (original units, e.g. HU); without ``like``,
        float data are taken as [0, 1] and integer arrays in their dtype's range.
    like
        The image the result derives from (:func:`~meddenoise.io.read_image`): its units, value range,
        bit depth, DICOM dataset or NIfTI header are reused.
    description
        DICOM DerivationDescription: what was done (e.g. ``"median 3x3"``).
    bits
        PNG bit depth (8 or 16); default: 16 when ``like`` has more than 8 bits, else 8.
    value_range
        PNG: the value range mapped onto 0..255 / 0..65535; default ``like.meta.value_range``.
    series_suffix, series_uid
        DICOM: text appended to SeriesDescription; the new SeriesInstanceUID (share one,
        from :func:`~meddenoise.io.new_uid`, between the files of one output series).
    derivation
        DICOM: what the pixels went through, a key of :data:`~meddenoise.io.dicom.DERIVATIONS`:
        ``"smoothing"`` (denoising, DCM 113087), ``"noise"`` (added noise, DCM 113042) or
        ``"conversion"`` (values unchanged, no derivation code).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    suffix = suffix_of(path)
    if suffix not in WRITE_SUFFIXES:
        raise ImageWriteError(
            path, f"cannot write {suffix or 'files without a suffix'}; use one of {', '.join(WRITE_SUFFIXES)}"
        )
    if like is not None and like.meta.source is not None and same_path(like.meta.source, path):
        raise ImageWriteError(path, "refusing to overwrite the input file it was read from")
    arr = np.asarray(pixels)
    if arr.size == 0 or arr.ndim not in (2, 3):
        raise ImageWriteError(path, f"expected a non-empty (H, W) or (N, H, W) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ImageWriteError(path, "pixels hold NaN/Inf")
    try:
        return _write(
            path, suffix, arr, like, description, bits, value_range, series_suffix, series_uid, derivation
        )
    except OSError as exc:  # an unwritable or missing folder, a full disk: one line, not a traceback
        raise write_failure(path, exc) from None


def _write(
    path: Path,
    suffix: str,
    arr: np.ndarray,
    like: MedicalImage | None,
    description: str,
    bits: int | None,
    value_range: tuple[float, float] | None,
    series_suffix: str,
    series_uid: str | None,
    derivation: str,
) -> Path:
    if suffix == ".png":
        if bits is None:
            bits = 16 if like is not None and like.meta.bits > 8 else 8
        if value_range is None:
            value_range = like.meta.value_range if like is not None else _default_range(arr)
        return write_png(path, arr, value_range=value_range, bits=bits)
    if suffix in (".tif", ".tiff"):
        return write_tiff(path, arr)
    if suffix == ".dcm":
        if like is None:
            raise ImageWriteError(path, "writing DICOM needs `like`: the DICOM image the result derives from")
        return write_dicom(
            path,
            arr,
            like=like,
            description=description,
            series_suffix=series_suffix,
            series_uid=series_uid,
            derivation=derivation,
        )
    return write_nifti(path, arr, like=like)
