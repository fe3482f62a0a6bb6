"""The in-memory image every reader returns: float32 pixels in original units plus metadata."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImageMeta", "ImageReadError", "ImageWriteError", "MedicalImage"]


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message is one line ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the library said
        super().__init__(f"{self.path}: {self.reason}")


class ImageWriteError(ValueError):
    """An image that cannot be written where or how it was asked; message ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")


@dataclass
class ImageMeta:
    """What a reader learned about an image besides its pixels.

    Attributes
    ----------
    format
        Source format: ``"png"``, ``"jpeg"``, ``"bmp"``, ``"tiff"``, ``"pnm"``, ``"dicom"`` or ``"nifti"``.
    modality
        DICOM modality code (``"CT"``, ``"MR"``, ``"CR"``, ``"US"``, ...); ``"OT"`` (other) when unknown.
    dtype
        Numpy name of the stored sample type, e.g. ``"uint8"``, ``"uint16"``, ``"int16"``, ``"float32"``.
    bits
        Bits per sample actually used (DICOM BitsStored, e.g. 12 for CT; 8/16/32 for raster files).
    units
        Units of :attr:`MedicalImage.pixels`: ``"HU"`` for CT after the modality LUT, ``"counts"`` for other
        DICOM stored values, ``"intensity"`` for raster files and NIfTI.
    value_range
        Nominal ``(low, high)`` range of the pixels in ``units``: what the stored type can hold after the
        modality LUT (e.g. ``(-1024, 3071)`` for 12-bit CT, ``(0, 255)`` for 8-bit PNG). For float data it is
        the data's own min/max (or ``(0, 1)`` when the data lie inside it).
    pixel_spacing
        ``(row, column)`` spacing in mm when the file says so, else ``None``.
    photometric
        Photometric interpretation of the source (``"MONOCHROME1"``, ``"MONOCHROME2"``, ``"RGB"``, ...).
    inverted
        ``True`` when the pixels were inverted on reading (MONOCHROME1: bright = low value) so that
        high means bright; writers undo it.
    converted_from_colour
        ``True`` when a colour source was converted to grey (luma, ITU-R BT.601).
    source
        Path of the file read (``None`` for images built in memory).
    header
        For faithful write-back: the :class:`pydicom.Dataset` (DICOM) or the nibabel header (NIfTI).
    affine
        NIfTI voxel-to-world affine (4x4), else ``None``.
    slice_axis
        NIfTI: the volume axis the stack was taken along.
    rescale
        DICOM: ``(slope, intercept)`` of the linear modality LUT applied (``(1, 0)`` when none).
    extra
        Format-specific details (e.g. the DICOM transfer syntax, the number of frames).
    """

    format: str
    modality: str = "OT"
    dtype: str = "float32"
    bits: int = 32
    units: str = "intensity"
    value_range: tuple[float, float] = (0.0, 1.0)
    pixel_spacing: tuple[float, float] | None = None
    photometric: str = "MONOCHROME2"
    inverted: bool = False
    converted_from_colour: bool = False
    source: Path | None = None
    header: Any = field(default=None, repr=False)
    affine: np.ndarray | None = field(default=None, repr=False)
    slice_axis: int | None = None
    rescale: tuple[float, float] = (1.0, 0.0)
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> ImageMeta:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for reports and sidecar files): every field except ``header``;
        ``affine`` as nested lists, ``source`` as a string, non-JSON ``extra`` values as strings."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "header":
                continue
            value = getattr(self, f.name)
            if f.name == "affine":
                value = None if value is None else np.asarray(value).tolist()
            elif f.name == "source":
                value = None if value is None else str(value)
            elif f.name == "extra":
                value = {
                    k: v if isinstance(v, str | int | float | bool | None) else str(v)
                    for k, v in value.items()
                }
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass
class MedicalImage:
    """Pixels in original units and the metadata needed to interpret and write them back.

    ``pixels`` is float32, ``(H, W)`` for one image or ``(N, H, W)`` for a stack (DICOM multi-frame,
    NIfTI volume sliced along :attr:`ImageMeta.slice_axis`, multi-page TIFF).
    """

    pixels: np.ndarray
    meta: ImageMeta

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    @property
    def is_stack(self) -> bool:
        """Whether the pixels are a stack ``(N, H, W)`` of 2D images."""
        return self.pixels.ndim == 3

    def slices(self) -> np.ndarray:
        """The pixels as a stack ``(N, H, W)`` (a single image becomes ``N = 1``)."""
        return self.pixels[None] if self.pixels.ndim == 2 else self.pixels

    def with_pixels(self, pixels: np.ndarray) -> MedicalImage:
        """The same metadata with new pixels in the same units (e.g. a denoised result)."""
        return MedicalImage(np.asarray(pixels, dtype=np.float32), self.meta)
