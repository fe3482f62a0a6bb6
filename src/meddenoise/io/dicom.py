"""DICOM: read with the modality LUT applied (CT in HU), write back as a derived image.

Only image storage SOP classes are read (:data:`IMAGE_STORAGE_SOP_CLASSES`): a segmentation, an RT dose
grid, a report... carry pixel data that are not an image to denoise and are refused by SOP Class UID.

Reading keeps the whole :class:`pydicom.Dataset` (pixel data included) in :attr:`ImageMeta.header`, so
that :func:`write_dicom` can copy every tag, store the new pixels in the source's stored type and
rescale, and mark the result as derived by the rules of its IOD (new UIDs and SeriesNumber, ``ImageType``
``DERIVED``, a Derivation Code Sequence; enhanced multi-frame images also per frame).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
    "DERIVATIONS",
    "IMAGE_STORAGE_SOP_CLASSES",
    "Derivation",
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


#: Image storage SOP classes read as images (PS3.4 B.5): projection and cross-sectional greyscale
#: imaging. Everything else is refused, even with pixel data: segmentations (binary or fractional
#: masks), RT dose grids, parametric maps, presentation states, reports, waveforms, true-colour-only
#: IODs (their grey result would break the IOD) and single-bit bitmaps.
IMAGE_STORAGE_SOP_CLASSES: frozenset[str] = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography
        "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray, For Presentation
        "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray, For Processing
        "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography, For Presentation
        "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography, For Processing
        "1.2.840.10008.5.1.4.1.1.1.3",  # Digital Intra-Oral X-Ray, For Presentation
        "1.2.840.10008.5.1.4.1.1.1.3.1",  # Digital Intra-Oral X-Ray, For Processing
        "1.2.840.10008.5.1.4.1.1.2",  # CT
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
        "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
        "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame (retired)
        "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame
        "1.2.840.10008.5.1.4.1.1.4",  # MR
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
        "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
        "1.2.840.10008.5.1.4.1.1.5",  # Nuclear Medicine (retired)
        "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound (retired)
        "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
        "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
        "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
        "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic
        "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA
        "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic
        "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF
        "1.2.840.10008.5.1.4.1.1.13.1.1",  # X-Ray 3D Angiographic
        "1.2.840.10008.5.1.4.1.1.13.1.2",  # X-Ray 3D Craniofacial
        "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis
        "1.2.840.10008.5.1.4.1.1.13.1.4",  # Breast Projection X-Ray, For Presentation
        "1.2.840.10008.5.1.4.1.1.13.1.5",  # Breast Projection X-Ray, For Processing
        "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine
        "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography
        "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET
        "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
        "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image (portal / simulator radiographs)
    }
)
# The US IOD allows grey only as 8-bit MONOCHROME2 (PS3.3 C.8.5.6.1.2).
_ULTRASOUND_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.3",
        "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.6",
        "1.2.840.10008.5.1.4.1.1.6.1",
    }
)
_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
# Multi-frame functional-group IODs: Image Type value 2 PRIMARY only, Frame Type per frame.
_ENHANCED_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.2.1",
        "1.2.840.10008.5.1.4.1.1.2.2",
        _ENHANCED_MR,
        "1.2.840.10008.5.1.4.1.1.4.4",
        "1.2.840.10008.5.1.4.1.1.12.1.1",
        "1.2.840.10008.5.1.4.1.1.12.2.1",
        "1.2.840.10008.5.1.4.1.1.13.1.1",
        "1.2.840.10008.5.1.4.1.1.13.1.2",
        "1.2.840.10008.5.1.4.1.1.13.1.3",
        "1.2.840.10008.5.1.4.1.1.128.1",
        "1.2.840.10008.5.1.4.1.1.130",
    }
)
# MR Pulse Sequence and Bulk Motion Synchronization attributes that Enhanced MR requires for ORIGINAL or
# MIXED images only and forbids once Image Type value 1 is DERIVED.
_MR_ORIGINAL_ONLY = (
    "PulseSequenceName",
    "MRAcquisitionType",
    "EchoPulseSequence",
    "MultipleSpinEcho",
    "MultiPlanarExcitation",
    "PhaseContrast",
    "VelocityEncodingAcquisitionSequence",
    "TimeOfFlightContrast",
    "ArterialSpinLabelingContrast",
    "SteadyStatePulseSequence",
    "EchoPlanarPulseSequence",
    "SaturationRecovery",
    "SpectrallySelectedSuppression",
    "OversamplingPhase",
    "GeometryOfKSpaceTraversal",
    "RectilinearPhaseEncodeReordering",
    "SegmentedKSpaceTraversal",
    "CoverageOfKSpace",
    "NumberOfKSpaceTrajectories",
    "BulkMotionCompensationTechnique",
    "BulkMotionSignalSource",
)
#: SeriesNumber of a derived series: the source's plus this (minus when that would overflow IS).
SERIES_NUMBER_OFFSET = 1000


@dataclass(frozen=True)
class Derivation:
    """How a derived image was made, as DICOM codes.

    Attributes
    ----------
    code
        ``(CodeValue, CodeMeaning)`` in the DCM scheme, from CID 7203 "Image Derivation"; ``None`` when
        no code applies (a format conversion changes no pixel value): no Derivation Code Sequence.
    pixel_contrast
        Enhanced IODs: Image/Frame Type value 4 (Derived Pixel Contrast) when the source's is ``NONE``.
    """

    code: tuple[str, str] | None
    pixel_contrast: str | None


#: The derivations :func:`write_dicom` records, by name. Denoising is ``smoothing`` (DCM 113087, the
#: CID 7203 code for noise-reducing filters; CID 7203 has no "denoising"); adding simulated noise is a
#: pixel-by-pixel addition of a noise realisation (DCM 113042).
DERIVATIONS: dict[str, Derivation] = {
    "smoothing": Derivation(("113087", "Smoothing"), "FILTERED"),
    "noise": Derivation(("113042", "Pixel by pixel addition"), "ADDITION"),
    "conversion": Derivation(None, None),
}
# CID 7202 "Source Image Purposes of Reference".
_PURPOSE_SOURCE = ("121322", "Source image for image processing operation")


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


def _sop_class_uid(ds: Dataset) -> str | None:
    """SOP Class UID of the dataset, else the one its file meta information names."""
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    return str(uid) if uid else None


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    return getattr(uid, "name", None) or str(uid or "unknown SOP class")


def _check_image_sop_class(ds: Dataset, path: Path) -> None:
    """Refuse objects whose SOP class is not an image storage class meddenoise accepts."""
    uid = _sop_class_uid(ds)
    if uid is None:
        raise ImageReadError(path, "DICOM object without a SOP Class UID: cannot tell whether it is an image")
    if uid not in IMAGE_STORAGE_SOP_CLASSES:
        name = pydicom.uid.UID(uid).name
        label = f"{name} ({uid})" if name != uid else uid
        raise ImageReadError(
            path, f"{label} is not an image storage SOP class: its pixel data are not an image to denoise"
        )


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
    if any(kw in ds for kw in _PIXEL_KEYWORDS):  # objects without pixels keep the "no pixel data" reason
        _check_image_sop_class(ds, path)
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


def _palette_divisor(ds: Dataset) -> int:
    """What maps 16-bit palette entries onto 8 bits: 256 when every entry holds 8 bits in its high byte
    (``0x0100`` steps, the common encoding of an 8-bit palette), else 257 (``0xFFFF`` → 255)."""
    tables = [ds[tag].value for tag in (0x00281201, 0x00281202, 0x00281203) if tag in ds]
    if tables and all(isinstance(t, bytes) and len(t) % 2 == 0 for t in tables):
        entries = np.concatenate([np.frombuffer(t, "<u2") for t in tables])
        if entries.size and not np.any(entries % 256):
            return 256
    return 257


def _set_pixels(ds: Dataset, values: np.ndarray, meta: ImageMeta, path: Path) -> None:
    n_frames = values.shape[0] if values.ndim == 3 else 1
    colour_source = "colour_source" in meta.extra
    if colour_source:  # the grey result replaces RGB/YBR/palette samples
        bits = meta.bits
        if bits > 8 and _sop_class_uid(ds) in _ULTRASOUND_SOP_CLASSES:
            # US allows grey only as 8-bit MONOCHROME2: the grey of a 16-bit palette goes back to 8 bits
            values = values / _palette_divisor(ds)
            bits = 8
        for tag in _PALETTE_TAGS:
            if tag in ds:
                del ds[tag]
        ds.SamplesPerPixel = 1
        ds.BitsAllocated = 8 if bits <= 8 else (16 if bits <= 16 else 32)
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
        ds.PhotometricInterpretation = "MONOCHROME2"
        if "UltrasoundColorDataPresent" in ds:
            ds.UltrasoundColorDataPresent = 0
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


def _code_item(code: tuple[str, str]) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodeMeaning = code
    item.CodingSchemeDesignator = "DCM"
    return item


def _source_reference(sop_class: str, sop_instance: str, frame: int | None = None) -> Dataset:
    ref = Dataset()
    with quiet_warnings():  # the source's own (possibly non-conformant) UIDs, copied as they are
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_instance
    if frame is not None:
        ref.ReferencedFrameNumber = frame
    ref.PurposeOfReferenceCodeSequence = [_code_item(_PURPOSE_SOURCE)]
    return ref


def _functional_groups(ds: Dataset) -> list[Dataset]:
    """Every item of the shared and per-frame functional groups sequences."""
    return [
        *(ds.get("SharedFunctionalGroupsSequence", []) or []),
        *(ds.get("PerFrameFunctionalGroupsSequence", []) or []),
    ]


def _derived_type(values: Sequence[str], *, enhanced: bool, derivation: Derivation) -> list[str]:
    """Image Type / Frame Type of the derived image.

    Classic IODs: ``DERIVED\\SECONDARY`` (created after the examination), the other values kept.
    Enhanced IODs allow only ``PRIMARY`` as value 2, and value 4 (Derived Pixel Contrast) must say how
    the pixels were derived once the source's ``NONE`` (an original image) no longer holds.
    """
    out = ["DERIVED", "PRIMARY" if enhanced else "SECONDARY", *list(values)[2:]]
    if enhanced and derivation.pixel_contrast is not None:
        if len(out) == 3:
            out.append(derivation.pixel_contrast)
        elif len(out) >= 4 and out[3] in ("", "NONE"):
            out[3] = derivation.pixel_contrast
    return out


def _mark_enhanced_derived(
    ds: Dataset,
    *,
    derivation: Derivation,
    source: tuple[str, str] | None,
    source_series: str,
    description: str,
) -> None:
    """Enhanced multi-frame IODs: Frame Type in every functional group, one Derivation Image Sequence
    per frame (pointing at the same frame of the source), Enhanced MR's ORIGINAL-only attributes dropped."""
    for group in _functional_groups(ds):
        for elem in group:
            if elem.VR == "SQ" and elem.keyword.endswith("FrameTypeSequence"):
                for item in elem.value:
                    if "FrameType" in item:
                        item.FrameType = _derived_type(item.FrameType, enhanced=True, derivation=derivation)
        if "DerivationImageSequence" in group:  # the source's own derivation: not this image's
            del group.DerivationImageSequence
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence", []) or [])
    if derivation.code is not None and source is not None and per_frame:
        for frame, group in enumerate(per_frame, start=1):
            item = Dataset()
            item.DerivationDescription = description[:1024]
            item.DerivationCodeSequence = [_code_item(derivation.code)]
            item.SourceImageSequence = [_source_reference(*source, frame=frame)]
            group.DerivationImageSequence = [item]
        # Required once a Derivation Image Sequence references a source: where that source lives.
        instance = Dataset()
        with quiet_warnings():
            instance.ReferencedSOPClassUID, instance.ReferencedSOPInstanceUID = source
        series = Dataset()
        series.SeriesInstanceUID = source_series
        series.ReferencedSOPSequence = [instance]
        study = Dataset()
        study.StudyInstanceUID = ds.get("StudyInstanceUID", "")
        study.ReferencedSeriesSequence = [series]
        ds.SourceImageEvidenceSequence = [study]
        # The per-frame items say it; the enhanced IODs have no top-level copies (DerivationDescription
        # stays: a standard extension that viewers, ours included, show).
        for keyword in ("SourceImageSequence", "DerivationCodeSequence"):
            if keyword in ds:
                delattr(ds, keyword)
    elif "SourceImageEvidenceSequence" in ds:  # evidence of the source's own derivation
        del ds.SourceImageEvidenceSequence
    if _sop_class_uid(ds) == _ENHANCED_MR:
        for keyword in _MR_ORIGINAL_ONLY:
            if keyword in ds:
                delattr(ds, keyword)


def _derived_series_number(ds: Dataset) -> int:
    """The source's SeriesNumber moved by :data:`SERIES_NUMBER_OFFSET` (so a viewer lists both series)."""
    try:
        number = int(ds.get("SeriesNumber"))
    except (TypeError, ValueError):
        return SERIES_NUMBER_OFFSET
    moved = number + SERIES_NUMBER_OFFSET
    return moved if moved <= 2**31 - 1 else number - SERIES_NUMBER_OFFSET


def _mark_derived(
    ds: Dataset,
    *,
    description: str,
    series_suffix: str,
    series_uid: str,
    instance_uid: str,
    derivation: Derivation,
) -> None:
    source_sop_class = str(ds.get("SOPClassUID") or SecondaryCaptureImageStorage)
    source_sop_instance = ds.get("SOPInstanceUID")
    source = (source_sop_class, str(source_sop_instance)) if source_sop_instance else None
    source_series = str(ds.get("SeriesInstanceUID", "") or "")
    enhanced = (
        source_sop_class in _ENHANCED_SOP_CLASSES
        or "SharedFunctionalGroupsSequence" in ds
        or "PerFrameFunctionalGroupsSequence" in ds
    )
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = instance_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = _derived_series_number(ds)
    ds.ImageType = _derived_type(
        list(ds.get("ImageType", []) or []), enhanced=enhanced, derivation=derivation
    )
    ds.DerivationDescription = description[:1024]
    if derivation.code is not None:  # after the source's own steps (e.g. lossy compression), which still hold
        steps = [
            i for i in ds.get("DerivationCodeSequence", []) or [] if i.get("CodeValue") != derivation.code[0]
        ]
        ds.DerivationCodeSequence = [*steps, _code_item(derivation.code)]
    old = str(ds.get("SeriesDescription", "") or "")
    keep = max(0, 64 - len(series_suffix) - 1)
    ds.SeriesDescription = f"{old[:keep]} {series_suffix}".strip() if old else series_suffix[:64]
    if source is not None:
        ds.SourceImageSequence = [_source_reference(*source)]
    if enhanced:
        _mark_enhanced_derived(
            ds, derivation=derivation, source=source, source_series=source_series, description=description
        )

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
    derivation: str = "smoothing",
) -> Path:
    """Write ``pixels`` (in ``like``'s units) as a derived DICOM of ``like``'s dataset.

    Every tag of the source is kept except: new SOPInstanceUID and SeriesInstanceUID (``series_uid``, or a
    fresh one: pass the same value for every file of one output series), SeriesNumber moved by
    :data:`SERIES_NUMBER_OFFSET`, ImageType ``DERIVED\\SECONDARY`` (enhanced IODs: ``DERIVED\\PRIMARY``
    and Derived Pixel Contrast), DerivationDescription = ``description``, Derivation Code Sequence from
    ``derivation`` (a key of :data:`DERIVATIONS`), SeriesDescription suffixed with ``series_suffix``,
    SourceImageSequence pointing at the source instance, the pixel module (stored type, Bits Stored and
    rescale of the source; MONOCHROME1 restored) and the transfer syntax (uncompressed Explicit VR Little
    Endian). Colour sources come back as MONOCHROME2 grey (8-bit for ultrasound, the only grey the US IOD
    allows). Enhanced multi-frame images also get Frame Type ``DERIVED`` in every functional group and a
    Derivation Image Sequence per frame; Enhanced MR drops the pulse-sequence attributes it allows for
    original images only.
    """
    path = Path(path)
    if derivation not in DERIVATIONS:
        raise ValueError(f"unknown derivation {derivation!r}; use one of {', '.join(DERIVATIONS)}")
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
        derivation=DERIVATIONS[derivation],
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
    derivation: str = "smoothing",
) -> list[Path]:
    """Write a stack read by :func:`read_dicom_series` as one new derived series, one file per slice.

    Each slice is written beside its own source dataset, named like its source file (or ``names``),
    with one shared new SeriesInstanceUID; ``derivation`` as for :func:`write_dicom`.
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
            derivation=derivation,
        )
        for target, slice_pixels, slice_meta in zip(targets, stack, metas, strict=True)
    ]
