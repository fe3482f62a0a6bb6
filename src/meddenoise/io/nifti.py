"""NIfTI (.nii, .nii.gz) via nibabel: volumes as stacks of 2D slices, affine and header kept."""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener
from nibabel.volumeutils import seek_tell

from meddenoise._utils import atomic_path, same_path
from meddenoise.io._common import check_pixels, float_value_range, reject_source, write_failure
from meddenoise.io.image import ImageMeta, ImageReadError, ImageWriteError, MedicalImage

__all__ = ["NiftiSlices", "open_nifti_slices", "read_nifti", "write_nifti", "write_nifti_slices"]


def read_nifti(path: str | Path, *, slice_axis: int = 2) -> MedicalImage:
    """Read a NIfTI image; a 3D volume becomes a stack ``(N, H, W)`` of slices along ``slice_axis``.

    Pixels are the scaled values (``scl_slope``/``scl_inter`` applied). Slice ``k`` is
    ``volume.take(k, axis=slice_axis)`` with the other two axes in their stored order, so
    :func:`write_nifti` puts every voxel back where it was. :func:`open_nifti_slices` reads the
    same slices one at a time.
    """
    path = Path(path)
    img = _load(path)
    try:
        data = np.asarray(img.get_fdata(dtype=np.float64))  # scl_slope/scl_inter applied
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
    meta = _meta(img, path, slice_axis, lambda: float_value_range(pixels), tuple(int(s) for s in data.shape))
    return MedicalImage(pixels, meta)


def _load(path: Path, *, keep_open: bool = False) -> nib.nifti1.Nifti1Pair:
    """The NIfTI image at ``path`` with its data unread (an array proxy), checked by :func:`_check_stored_data`."""
    loaded = _open(path, keep_open=keep_open)
    _check_stored_data(loaded, path)
    return loaded


def _open(path: Path, *, keep_open: bool) -> nib.nifti1.Nifti1Pair:
    """``keep_open`` (reading slice by slice): sequential slices of a ``.nii.gz`` then decompress the
    stream once in all, not once per slice (nibabel would otherwise reopen it and decompress from its
    start for every slice), and a ``.nii`` is read, not memory-mapped (every mapped page read would
    stay in the process's memory: the whole volume after one pass)."""
    try:
        loaded = nib.load(path, keep_file_open=keep_open, mmap=not keep_open)
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError) as exc:
        raise ImageReadError(path, f"cannot read NIfTI ({exc})") from None
    if not isinstance(loaded, nib.nifti1.Nifti1Pair):  # NIfTI-1 and NIfTI-2, single file or pair
        raise ImageReadError(path, f"not a NIfTI image (nibabel read a {type(loaded).__name__})")
    return loaded


def _meta(
    img: nib.nifti1.Nifti1Pair,
    path: Path,
    slice_axis: int,
    data_range: Callable[[], tuple[float, float]],
    volume_shape: tuple[int, ...],
) -> ImageMeta:
    """The metadata of a NIfTI image; ``data_range`` gives the pixels' nominal range when the stored
    type does not (scaled or float data)."""
    header = img.header.copy()
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
        value_range = data_range()
    return ImageMeta(
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
        extra={"volume_shape": volume_shape, "nifti_class": type(img).__name__},
    )


@dataclass(frozen=True)
class NiftiSlices:
    """A NIfTI volume read one slice at a time (:func:`open_nifti_slices`): memory of one slice, not the volume.

    Attributes
    ----------
    meta
        The metadata :func:`read_nifti` gives the same file (slice axis 2).
    shape
        ``(N, H, W)``: the stack :func:`read_nifti` would return.
    low, high
        The smallest and largest pixel value of the whole volume.
    """

    meta: ImageMeta
    shape: tuple[int, int, int]
    low: float
    high: float

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        """The slices in order, float32 ``(H, W)``, equal to :func:`read_nifti`'s ``pixels[k]``."""
        path = Path(self.meta.source or "")
        return _iter_slices(_open(path, keep_open=True), path)


def _iter_slices(img: nib.nifti1.Nifti1Pair, path: Path) -> Iterator[np.ndarray]:
    proxy = img.dataobj
    trailing = (0,) * (len(proxy.shape) - 3)  # a volume stored as (X, Y, Z, 1)
    for index in range(proxy.shape[2]):
        try:
            # float64 scaling, as get_fdata(dtype=float64) applies it to the whole volume
            key = (slice(None), slice(None), index, *trailing)
            values = np.asarray(proxy[key], dtype=np.float64)
        except (OSError, EOFError, ValueError) as exc:
            raise ImageReadError(path, f"cannot read NIfTI ({exc})") from None
        yield values.astype(np.float32)


def open_nifti_slices(path: str | Path) -> NiftiSlices | None:
    """Open a 3D NIfTI volume to be read slice by slice along axis 2 (the stored order of its voxels:
    each slice is one contiguous block of the file, so a ``.nii.gz`` decompresses once per pass).

    One pass over the slices here checks them as :func:`read_nifti` does (no NaN/Inf) and finds the
    volume's extremes. ``None`` for anything that is not a volume of at least two slices of 2x2 pixels
    (a 2D image, a 4D series: :func:`read_nifti` reads or refuses those whole).

    Raises
    ------
    ImageReadError
        As :func:`read_nifti`.
    """
    path = Path(path)
    img = _load(path, keep_open=True)
    shape = tuple(int(n) for n in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3 or shape[2] < 2 or min(shape) < 2:  # the whole-image path says what is wrong
        return None
    low, high, bad = np.inf, -np.inf, 0
    for values in _iter_slices(img, path):
        finite = np.isfinite(values)
        if not finite.all():
            bad += int(np.count_nonzero(~finite))
            continue
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    if bad:
        raise ImageReadError(path, f"image holds {bad} NaN/Inf value(s) (or values beyond float32)")
    # the shape without trailing frames of one, as read_nifti records it (and write_nifti writes it)
    meta = _meta(img, path, 2, lambda: _nominal_range(low, high), shape)
    return NiftiSlices(meta, (shape[2], shape[0], shape[1]), low, high)


def _nominal_range(low: float, high: float) -> tuple[float, float]:
    """:func:`~meddenoise.io._common.float_value_range` from the extremes alone."""
    return float_value_range(np.array([low, high], dtype=np.float32))


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


def write_nifti_slices(path: str | Path, slices: Iterable[np.ndarray], *, like: NiftiSlices) -> Path:
    """Write the slices of a volume as :func:`write_nifti` writes the whole stack: the same file, byte
    for byte, holding one slice at a time.

    The slices (``like.shape[1:]`` each, in order) are the stored blocks of axis 2 one after the other.

    Raises
    ------
    ImageWriteError
        A slice of another shape, or fewer or more slices than ``like`` has (nothing is written).
    """
    path = Path(path)
    meta = like.meta
    if meta.source is not None and same_path(meta.source, path):
        raise ImageWriteError(path, "refusing to overwrite the input file it was read from")
    reject_source(path, [meta.source])
    cls = nib.Nifti2Image if meta.extra.get("nifti_class") == "Nifti2Image" else nib.Nifti1Image
    # a zero-strided stand-in of the volume's shape: nibabel derives the header without the data
    stand_in = np.broadcast_to(np.float32(0), meta.extra["volume_shape"])
    img = cls(stand_in, meta.affine, header=meta.header.copy())
    img.set_data_dtype(np.float32)
    img.header.set_slope_inter(1.0, 0.0)
    img.update_header()  # what nib.save does before writing the header
    header = img.header
    dtype = header.get_data_dtype()  # float32 in the header's byte order
    try:
        with atomic_path(path) as tmp, ImageOpener(str(tmp), "wb") as handle:
            header.write_to(handle)
            seek_tell(handle.fobj, header.get_data_offset(), write0=True)
            count = 0
            for pixels in slices:
                if pixels.shape != like.shape[1:]:
                    raise ImageWriteError(
                        path, f"slice of shape {pixels.shape}, the volume's are {like.shape[1:]}"
                    )
                if not np.isfinite(pixels).all():
                    raise ImageWriteError(path, "pixels hold NaN/Inf")
                # NIfTI voxels are stored in Fortran order: slice k of axis 2 is one block
                handle.write(np.asarray(pixels, dtype=dtype).tobytes(order="F"))
                count += 1
            if count != len(like):
                raise ImageWriteError(path, f"{count} slices written, the volume has {len(like)}")
    except OSError as exc:  # an unwritable or missing folder, a full disk: one line, as write_image says it
        raise write_failure(path, exc) from None
    return path
