"""NIfTI (.nii, .nii.gz) via nibabel: volumes as stacks of 2D slices, affine and header kept."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from meddenoise._utils import atomic_path
from meddenoise.io._common import check_pixels, float_value_range, reject_source
from meddenoise.io.image import ImageMeta, ImageReadError, ImageWriteError, MedicalImage

__all__ = ["read_nifti", "write_nifti"]


def read_nifti(path: str | Path, *, slice_axis: int = 2) -> MedicalImage:
    """Read a NIfTI image; a 3D volume becomes a stack ``(N, H, W)`` of slices along ``slice_axis``.

    Pixels are the scaled values (``scl_slope``/``scl_inter`` applied). Slice ``k`` is
    ``volume.take(k, axis=slice_axis)`` with the other two axes in their stored order, so
    :func:`write_nifti` puts every voxel back where it was.
    """
    path = Path(path)
    try:
        loaded = nib.load(path)
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError) as exc:
        raise ImageReadError(path, f"cannot read NIfTI ({exc})") from None
    if not isinstance(loaded, nib.nifti1.Nifti1Pair):  # NIfTI-1 and NIfTI-2, single file or pair
        raise ImageReadError(path, f"not a NIfTI image (nibabel read a {type(loaded).__name__})")
    img = loaded
    _check_stored_data(img, path)
    try:
        data = np.asarray(img.get_fdata(dtype=np.float64))  # scl_slope/scl_inter applied
        header = img.header.copy()
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError) as exc:
        raise ImageReadError(path, f"cannot read NIfTI ({exc})") from None
    except MemoryError:
        raise ImageReadError(path, f"volume of shape {img.shape} is too large to read into memory") from None
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim > 3:
        raise ImageReadError(
            path, f"{data.ndim}D NIfTI of shape {data.shape}: only 2D images and 3D volumes are read"
        )
    if data.ndim == 3:
        if not -3 <= slice_axis < 3:
            raise ImageReadError(path, f"slice_axis must be 0, 1 or 2, got {slice_axis}")
        slice_axis %= 3
        stack = np.moveaxis(data, slice_axis, 0)
    else:
        slice_axis = 2
        stack = data
    pixels = check_pixels(stack, path)
    stored = header.get_data_dtype()
    slope, inter = header.get_slope_inter()
    zooms = header.get_zooms()
    in_plane = [ax for ax in range(min(3, len(zooms))) if ax != slice_axis][:2]
    spacing = (float(zooms[in_plane[0]]), float(zooms[in_plane[1]])) if len(in_plane) == 2 else None
    scaled = slope not in (None, 1.0) or inter not in (None, 0.0)
    if stored.kind in "iu" and not scaled:
        info = np.iinfo(stored)
        value_range = (float(info.min), float(info.max))
    else:
        value_range = float_value_range(pixels)
    meta = ImageMeta(
        format="nifti",
        modality="OT",
        dtype=stored.name,
        bits=stored.itemsize * 8,
        units="intensity",
        value_range=value_range,
        pixel_spacing=spacing,
        source=path,
        header=header,
        affine=np.asarray(img.affine, dtype=np.float64),
        slice_axis=slice_axis,
        extra={"volume_shape": tuple(int(s) for s in data.shape), "nifti_class": type(img).__name__},
    )
    return MedicalImage(pixels, meta)


def _stream_length(path: Path) -> int:
    """Bytes of a gzip file once decompressed, reading it through to the end so that its CRC and
    length trailer are checked: nibabel reads only the bytes it needs and never reaches them, so a
    corrupt ``.nii.gz`` would otherwise be read as garbage values without complaint."""
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                total += len(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise ImageReadError(
            path, f"corrupt gzip data ({' '.join(str(exc).split()) or 'truncated'})"
        ) from None
    return total


def _check_stored_data(img: nib.nifti1.Nifti1Pair, path: Path) -> None:
    """Refuse before allocating: colour or complex voxels, and data the header declares but the file
    does not hold (a lying header would otherwise allocate its whole declared size)."""
    header = img.header
    stored = header.get_data_dtype()
    if stored.fields is not None:
        raise ImageReadError(path, "colour (RGB) NIfTI is not read; convert it to grey first")
    if stored.kind == "c":
        raise ImageReadError(
            path, "complex NIfTI is not read: its imaginary part would be lost; save the magnitude first"
        )
    if stored.kind not in "biuf":
        raise ImageReadError(path, f"unsupported NIfTI data type {stored}")
    needed = math.prod(int(n) for n in header.get_data_shape()) * stored.itemsize
    holder = img.file_map["image"]
    image_file = Path(holder.filename) if holder.filename else path
    offset = int(header.get_data_offset()) if image_file.resolve() == path.resolve() else 0
    available = (
        _stream_length(image_file) if image_file.name.lower().endswith(".gz") else image_file.stat().st_size
    )
    if needed > available - offset:
        shape = "x".join(str(int(n)) for n in header.get_data_shape())
        raise ImageReadError(
            path,
            f"header declares {shape} voxels ({needed:,} bytes) but the file holds {max(available - offset, 0):,}",
        )


def write_nifti(path: str | Path, pixels: np.ndarray, *, like: MedicalImage | None = None) -> Path:
    """Write float32 data with ``like``'s affine and header (data type set to float32 explicitly).

    A stack ``(N, H, W)`` goes back along ``like``'s slice axis. Without ``like`` the affine is the
    identity and a stack is stored as ``(H, W, N)``.
    """
    path = Path(path)
    arr = np.asarray(pixels, dtype=np.float32)
    if like is not None:
        reject_source(path, [like.meta.source])
    if arr.ndim not in (2, 3):
        raise ImageWriteError(path, f"expected (H, W) or (N, H, W), got shape {arr.shape}")
    if like is not None and like.meta.format == "nifti":
        if arr.shape != like.pixels.shape:
            raise ImageWriteError(
                path, f"pixels of shape {arr.shape} do not match the source's {like.pixels.shape}"
            )
        volume = np.moveaxis(arr, 0, like.meta.slice_axis or 0) if arr.ndim == 3 else arr
        volume = volume.reshape(like.meta.extra.get("volume_shape", volume.shape))
        header = like.meta.header.copy()
        cls = nib.Nifti2Image if like.meta.extra.get("nifti_class") == "Nifti2Image" else nib.Nifti1Image
        img = cls(volume, like.meta.affine, header=header)
    else:
        volume = np.moveaxis(arr, 0, 2) if arr.ndim == 3 else arr
        img = nib.Nifti1Image(volume, np.eye(4))
    # nibabel would otherwise cast to the header's (often integer) on-disk type with a fitted scaling.
    img.set_data_dtype(np.float32)
    img.header.set_slope_inter(1.0, 0.0)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    return path
