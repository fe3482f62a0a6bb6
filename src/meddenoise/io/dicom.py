"""DICOM: read with the modality LUT applied (CT in HU), write back as a derived image.

Reading keeps the whole :class:`pydicom.Dataset` (pixel data included) in :attr:`ImageMeta.header`, so
that :func:`write_dicom` can copy every tag, store the new pixels in the source's stored type and
rescale, and mark the result as derived (new UIDs, ``ImageType`` ``DERIVED\\SECONDARY``).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from meddenoise._utils import atomic_path
from meddenoise.io._common import check_pixels, colour_to_grey, float_value_range, reject_source
from meddenoise.io.image import ImageMeta, ImageReadError, ImageWriteError, MedicalImage

__all__ = [
    "DEFAULT_SERIES_SUFFIX",
    "new_uid",
    "read_dicom",
    "read_dicom_series",
    "write_dicom",
    "write_dicom_series",
]

#: Appended to the SeriesDescription of every derived series.
DEFAULT_SERIES_SUFFIX = "[meddenoise]"

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# Tags whose values describe the old pixels and would lie about the new ones.
_STALE_PIXEL_TAGS = (
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "PixelPaddingRangeLimit",
)
_PALETTE_TAGS = (
    0x00281101,
    0x00281102,
    0x00281103,
    0x00281199,
    0x00281201,
    0x00281202,
    0x00281203,
    0x00281221,
    0x00281222,
    0x00281223,
)


# warnings.catch_warnings() swaps process-wide state: two threads (load_dataset reads in a pool) that
# interleave their enter/exit could leave "ignore" installed for good. One lock keeps them nested.
_WARNINGS_LOCK = threading.RLock()


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence warnings (pydicom's chatter about the source file) in a thread-safe way."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def new_uid() -> str:
    """A fresh DICOM UID (pass one as ``series_uid`` to write several files into one new series)."""
    return str(generate_uid())


# --------------------------------------------------------------------------------------------- reading
def _load_dataset(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass  # no 128-byte preamble + "DICM": old-style files still parse with force=True
    except (OSError, EOFError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ImageReadError(path, f"unreadable DICOM ({exc})") from None
    try:
        with quiet_warnings():
            ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many kinds on arbitrary bytes
        raise ImageReadError(path, f"not a DICOM file ({type(exc).__name__}: {exc})") from None
    if not any(kw in ds for kw in _PIXEL_KEYWORDS) and "SOPClassUID" not in ds and "Modality" not in ds:
        raise ImageReadError(path, "not a DICOM file (no 'DICM' marker and no DICOM data elements)")
    return ds


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    return getattr(uid, "name", None) or str(uid or "unknown SOP class")


def _decode(ds: Dataset, path: Path) -> np.ndarray:
    if not any(kw in ds for kw in _PIXEL_KEYWORDS):
        modality = ds.get("Modality", "?")
        raise ImageReadError(
            path, f"DICOM file has no pixel data ({_sop_class_name(ds)}, Modality {modality}): not an image"
        )
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    ts_text = f"'{tsyntax.name}' ({tsyntax})" if tsyntax is not None else "unknown transfer syntax"
    try:
        with quiet_warnings():
            return ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        msg = " ".join(str(exc).split())
        if "missing dependencies" in msg or "no pixel data decoders" in msg.lower():
            raise ImageReadError(path, f"no installed codec can decode {ts_text} pixel data; {msg}") from None
        raise ImageReadError(path, f"cannot decode {ts_text} pixel data: {msg}") from None
    except ValueError as exc:
        msg = " ".join(str(exc).split())
        if "less than expected" in msg or "truncat" in msg.lower():
            raise ImageReadError(path, f"truncated pixel data: {msg}") from None
        raise ImageReadError(path, f"invalid pixel data: {msg}") from None
    except (AttributeError, KeyError, TypeError) as exc:
        raise ImageReadError(path, f"cannot decode pixel data: {exc}") from None


def _pair(item: Dataset) -> tuple[float, float]:
    """(slope, intercept) of one item; an empty value means the default, a slope of 0 is refused."""
    raw_slope, raw_intercept = item.get("RescaleSlope"), item.get("RescaleIntercept")
    slope = 1.0 if raw_slope is None or raw_slope == "" else float(raw_slope)
    intercept = 0.0 if raw_intercept is None or raw_intercept == "" else float(raw_intercept)
    if slope == 0 or not np.isfinite(slope) or not np.isfinite(intercept):
        # slope 0 maps every pixel to the intercept: reading it as 1 would write a file that says 0
        raise ValueError(f"invalid Rescale Slope {raw_slope!r} / Intercept {raw_intercept!r}")
    return slope, intercept


def _frame_rescale(ds: Dataset) -> tuple[float, float] | None:
    """Linear modality LUT: top-level Rescale Slope/Intercept or the shared functional group.

    Raises ``ValueError`` for a slope of 0 (or a non-finite value), ``NotImplementedError`` for
    frames with different LUTs.
    """
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return _pair(ds)
    for group in ds.get("SharedFunctionalGroupsSequence", []) or []:
        for item in group.get("PixelValueTransformationSequence", []) or []:
            return _pair(item)
    per_frame = [
        item
        for group in ds.get("PerFrameFunctionalGroupsSequence", []) or []
        for item in group.get("PixelValueTransformationSequence", []) or []
    ]
    if per_frame:
        pairs = {_pair(item) for item in per_frame}
        if len(pairs) == 1:
            return pairs.pop()
        raise NotImplementedError("frames with different rescale slopes/intercepts")
    if ds.get("Modality") == "RTDOSE" and "DoseGridScaling" in ds:
        return float(ds.DoseGridScaling), 0.0
    return None


def stored_range(ds: Dataset) -> tuple[int, int]:
    """Representable stored values given Bits Stored and Pixel Representation."""
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _lut_table(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Stored values and what a (non-linear) Modality LUT Sequence maps them to."""
    from pydicom.pixels import apply_modality_lut

    lo, hi = stored_range(ds)
    stored = np.arange(lo, hi + 1, dtype=np.int64)
    return stored, np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)


def _units(ds: Dataset, rescaled: bool) -> str:
    modality = str(ds.get("Modality", "") or "")
    rescale_type = str(ds.get("RescaleType", "") or "")
    if modality == "CT" and rescale_type in ("", "HU"):
        return "HU"
    if rescale_type and rescale_type != "US":
        return rescale_type
    if modality == "RTDOSE" and "DoseUnits" in ds:
        return str(ds.DoseUnits)
    if modality == "PT" and "Units" in ds:
        return str(ds.Units)
    return "counts" if not rescaled or rescale_type == "US" else "rescaled"


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if not spacing:
        for group in ds.get("SharedFunctionalGroupsSequence", []) or []:
            for item in group.get("PixelMeasuresSequence", []) or []:
                spacing = item.get("PixelSpacing")
    try:
        return (float(spacing[0]), float(spacing[1])) if spacing else None
    except (TypeError, ValueError, IndexError):
        return None


def read_dicom(path: str | Path) -> MedicalImage:
    """Read one DICOM file (single- or multi-frame) in original units; see :func:`meddenoise.io.read_image`."""
    path = Path(path)
    ds = _load_dataset(path)
    raw = _decode(ds, path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
    samples_per_pixel = int(ds.get("SamplesPerPixel", 1) or 1)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    is_float = "PixelData" not in ds
    extra: dict[str, object] = {
        "transfer_syntax": str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""),
        "frames": n_frames,
        "sop_class": _sop_class_name(ds),
    }
    was_colour = False
    rescale = (1.0, 0.0)
    stored_dtype = raw.dtype.newbyteorder("=")
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or stored_dtype.itemsize * 8)
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        with quiet_warnings():
            rgb = apply_color_lut(raw, ds)
        values, was_colour = colour_to_grey(rgb, path)
        bits = 8 if rgb.dtype.itemsize == 1 else 16
        stored_dtype = np.dtype(np.uint8 if bits == 8 else np.uint16)
        value_range = (0.0, float(2**bits - 1))
        extra["colour_source"] = photometric
        units = "counts"
    elif samples_per_pixel > 1:
        values, was_colour = colour_to_grey(raw, path)
        value_range = (0.0, float(2**bits - 1))
        extra["colour_source"] = photometric
        units = "counts"
    elif is_float:
        values = raw.astype(np.float64)
        value_range = float_value_range(values)
        units = _units(ds, rescaled=False)
    else:
        values = raw.astype(np.float64)
        if "ModalityLUTSequence" in ds:
            stored, mapped = _lut_table(ds)
            values = np.interp(values, stored, mapped)  # exact: values are stored integers
            value_range = (float(mapped.min()), float(mapped.max()))
            extra["modality_lut"] = True
            units = _units(ds, rescaled=True)
        else:
            try:
                linear = _frame_rescale(ds)
            except NotImplementedError as exc:
                raise ImageReadError(path, f"unsupported modality LUT: {exc}") from None
            except (ValueError, TypeError) as exc:
                raise ImageReadError(path, f"modality LUT: {exc}") from None
            s_lo, s_hi = stored_range(ds)
            if linear is not None:
                rescale = linear
                values = values * rescale[0] + rescale[1]
            ends = sorted((s_lo * rescale[0] + rescale[1], s_hi * rescale[0] + rescale[1]))
            value_range = (float(ends[0]), float(ends[1]))
            units = _units(ds, rescaled=linear is not None)
    inverted = photometric == "MONOCHROME1"
    if inverted:  # bright = low value: flip within the nominal range so that high means bright
        values = (value_range[0] + value_range[1]) - values
    pixels = check_pixels(values, path)
    meta = ImageMeta(
        format="dicom",
        modality=str(ds.get("Modality", "OT") or "OT"),
        dtype=stored_dtype.name,
        bits=bits,
        units=units,
        value_range=value_range,
        pixel_spacing=_pixel_spacing(ds),
        photometric=photometric,
        inverted=inverted,
        converted_from_colour=was_colour,
        source=path,
        header=ds,
        rescale=rescale,
        extra=extra,
    )
    return MedicalImage(pixels, meta)


def _slice_position(ds: Dataset) -> tuple[float, float]:
    """Sort key of a slice: position along the slice normal, then Instance Number."""
    position = ds.get("ImagePositionPatient")
    orientation = ds.get("ImageOrientationPatient")
    along = 0.0
    if position is not None and orientation is not None and len(orientation) == 6:
        normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
        along = float(np.dot(normal, np.asarray(position, float)))
    return along, float(ds.get("InstanceNumber", 0) or 0)


def read_dicom_series(paths: Sequence[str | Path]) -> MedicalImage:
    """Read single-frame DICOM files of one series into a stack ``(N, H, W)``, sorted along the slice normal.

    ``meta.header`` is the list of the datasets (in stack order) and ``meta.extra["sources"]`` their
    paths, so that :func:`write_dicom_series` can write each slice back beside its own dataset.
    """
    images = [read_dicom(p) for p in paths]
    if not images:
        raise ImageReadError(Path("."), "no DICOM files given")
    images.sort(key=lambda im: _slice_position(im.meta.header))
    first = images[0]
    for im in images:
        if im.pixels.ndim != 2:
            raise ImageReadError(
                im.meta.source or Path("."), "multi-frame file in a series: read it alone with read_image"
            )
        if im.pixels.shape != first.pixels.shape:
            raise ImageReadError(
                im.meta.source or Path("."),
                f"slice shape {im.pixels.shape} differs from {first.pixels.shape} of {first.meta.source}",
            )
    meta = first.meta.replace(
        header=[im.meta.header for im in images],
        extra={
            **first.meta.extra,
            "sources": [im.meta.source for im in images],
            "metas": [im.meta for im in images],
        },
    )
    return MedicalImage(np.stack([im.pixels for im in images]), meta)


# --------------------------------------------------------------------------------------------- writing
def _to_stored(values: np.ndarray, ds: Dataset, meta: ImageMeta, path: Path) -> np.ndarray:
    """Original units → stored integers (inverse modality LUT), rounded and clipped to Bits Stored."""
    if meta.extra.get("modality_lut"):
        stored, mapped = _lut_table(ds)
        order = np.argsort(mapped, kind="stable")
        sorted_mapped = mapped[order]
        idx = np.clip(np.searchsorted(sorted_mapped, values), 1, len(sorted_mapped) - 1)
        left_closer = np.abs(values - sorted_mapped[idx - 1]) <= np.abs(sorted_mapped[idx] - values)
        return stored[order][np.where(left_closer, idx - 1, idx)]
    slope, intercept = meta.rescale
    out = np.rint((values - intercept) / slope)
    lo, hi = stored_range(ds)
    n_clipped = int(np.count_nonzero((out < lo) | (out > hi)))
    if n_clipped:
        warnings.warn(
            f"{path}: {n_clipped} pixel(s) outside the stored range [{lo}, {hi}] were clipped",
            UserWarning,
            stacklevel=4,
        )
    return np.clip(out, lo, hi).astype(np.int64)


def _set_pixels(ds: Dataset, values: np.ndarray, meta: ImageMeta, path: Path) -> None:
    n_frames = values.shape[0] if values.ndim == 3 else 1
    colour_source = "colour_source" in meta.extra
    if colour_source:  # the grey result replaces RGB/YBR/palette samples
        for tag in _PALETTE_TAGS:
            if tag in ds:
                del ds[tag]
        ds.SamplesPerPixel = 1
        ds.BitsAllocated = 8 if meta.bits <= 8 else (16 if meta.bits <= 16 else 32)
        ds.BitsStored = meta.bits
        ds.HighBit = meta.bits - 1
        ds.PixelRepresentation = 0
        ds.PhotometricInterpretation = "MONOCHROME2"
    if "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    ds.Rows, ds.Columns = int(values.shape[-2]), int(values.shape[-1])
    if n_frames > 1 or "NumberOfFrames" in ds:
        ds.NumberOfFrames = n_frames
    for keyword in _STALE_PIXEL_TAGS:
        if keyword in ds:
            delattr(ds, keyword)

    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        keyword = "FloatPixelData" if "FloatPixelData" in ds else "DoubleFloatPixelData"
        dtype = "<f4" if keyword == "FloatPixelData" else "<f8"
        setattr(ds, keyword, values.astype(dtype).tobytes())
        ds[keyword].is_undefined_length = False
        return
    stored = _to_stored(values, ds, meta, path)
    allocated = int(ds.get("BitsAllocated", 16))
    if allocated == 1:
        from pydicom.pixels import pack_bits

        data = pack_bits(stored.astype(np.uint8))
    else:
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        data = stored.astype(f"<{'i' if signed else 'u'}{allocated // 8}").tobytes()
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if allocated <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False


_WORD_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _prepare_for_little_endian(ds: Dataset) -> None:
    """Parse every element (so each has its dictionary VR for explicit-VR writing) and byte-swap the
    binary words of a big-endian source, which pydicom keeps as raw bytes."""
    big_endian = not getattr(ds, "original_encoding", (None, True))[1]
    with quiet_warnings():  # parsing re-validates the source's values; they are copied as they are
        for elem in ds.iterall():
            size = _WORD_SIZES.get(str(elem.VR))
            if big_endian and size and isinstance(elem.value, bytes) and elem.keyword not in _PIXEL_KEYWORDS:
                elem.value = np.frombuffer(elem.value, f">u{size}").astype(f"<u{size}").tobytes()


def _mark_derived(
    ds: Dataset, *, description: str, series_suffix: str, series_uid: str, instance_uid: str
) -> None:
    source_sop_class = ds.get("SOPClassUID") or SecondaryCaptureImageStorage
    source_sop_instance = ds.get("SOPInstanceUID")
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = instance_uid
    ds.SeriesInstanceUID = series_uid
    image_type = list(ds.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY", *image_type[2:]]
    ds.DerivationDescription = description[:1024]
    old = str(ds.get("SeriesDescription", "") or "")
    keep = max(0, 64 - len(series_suffix) - 1)
    ds.SeriesDescription = f"{old[:keep]} {series_suffix}".strip() if old else series_suffix[:64]
    if source_sop_instance:
        ref = Dataset()
        with quiet_warnings():  # the source's own (possibly non-conformant) UIDs, copied as they are
            ref.ReferencedSOPClassUID = source_sop_class
            ref.ReferencedSOPInstanceUID = source_sop_instance
        ds.SourceImageSequence = [ref]

    file_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    file_meta.MediaStorageSOPInstanceUID = instance_uid
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = file_meta


def write_dicom(
    path: str | Path,
    pixels: np.ndarray,
    *,
    like: MedicalImage,
    description: str,
    series_suffix: str = DEFAULT_SERIES_SUFFIX,
    series_uid: str | None = None,
) -> Path:
    """Write ``pixels`` (in ``like``'s units) as a derived DICOM of ``like``'s dataset.

    Every tag of the source is kept except: new SOPInstanceUID and SeriesInstanceUID (``series_uid``, or a
    fresh one: pass the same value for every file of one output series), ImageType ``DERIVED\\SECONDARY``,
    DerivationDescription = ``description``, SeriesDescription suffixed with ``series_suffix``,
    SourceImageSequence pointing at the source instance, the pixel module (stored type, Bits Stored and
    rescale of the source; MONOCHROME1 restored) and the transfer syntax (uncompressed Explicit VR Little
    Endian). Colour sources come back as MONOCHROME2 grey.
    """
    path = Path(path)
    meta = like.meta
    if meta.format != "dicom" or not isinstance(meta.header, Dataset):
        raise ImageWriteError(
            path, "writing DICOM needs `like` read from one DICOM file (use write_dicom_series)"
        )
    reject_source(path, [meta.source])
    values = np.asarray(pixels, dtype=np.float64)
    n_frames = int(meta.extra.get("frames", 1))
    expected = like.pixels.shape
    if values.shape != expected:
        raise ImageWriteError(path, f"pixels of shape {values.shape} do not match the source's {expected}")
    if not np.isfinite(values).all():
        raise ImageWriteError(path, "pixels hold NaN/Inf")
    if meta.inverted:
        values = (meta.value_range[0] + meta.value_range[1]) - values
    if n_frames == 1 and values.ndim == 3:
        values = values[0]
    ds = copy.deepcopy(meta.header)
    _prepare_for_little_endian(ds)
    _set_pixels(ds, values, meta, path)
    _mark_derived(
        ds,
        description=description,
        series_suffix=series_suffix,
        series_uid=series_uid or new_uid(),
        instance_uid=new_uid(),
    )
    with atomic_path(path) as tmp:
        pydicom.dcmwrite(tmp, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return path


def write_dicom_series(
    folder: str | Path,
    pixels: np.ndarray,
    *,
    like: MedicalImage,
    description: str,
    series_suffix: str = DEFAULT_SERIES_SUFFIX,
    names: Sequence[str] | None = None,
) -> list[Path]:
    """Write a stack read by :func:`read_dicom_series` as one new derived series, one file per slice.

    Each slice is written beside its own source dataset, named like its source file (or ``names``),
    with one shared new SeriesInstanceUID.
    """
    folder = Path(folder)
    metas = like.meta.extra.get("metas")
    if not isinstance(like.meta.header, list) or metas is None:
        raise ImageWriteError(folder, "`like` must come from read_dicom_series")
    stack = np.asarray(pixels, dtype=np.float32)
    if stack.shape != like.pixels.shape:
        raise ImageWriteError(
            folder, f"pixels of shape {stack.shape} do not match the series' {like.pixels.shape}"
        )
    names = list(names) if names is not None else [Path(m.source).name for m in metas]
    if len(names) != len(metas):
        raise ImageWriteError(folder, f"{len(names)} names for {len(metas)} slices")
    series_uid = new_uid()
    targets = [folder / name for name in names]
    for target in targets:
        reject_source(target, [m.source for m in metas])
    return [
        write_dicom(
            target,
            slice_pixels,
            like=MedicalImage(np.zeros_like(slice_pixels), slice_meta),
            description=description,
            series_suffix=series_suffix,
            series_uid=series_uid,
        )
        for target, slice_pixels, slice_meta in zip(targets, stack, metas, strict=True)
    ]
