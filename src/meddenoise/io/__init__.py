"""Reading and writing medical images: DICOM, NIfTI, PNG/JPEG/BMP/PGM and TIFF.

:func:`read_image` returns a :class:`MedicalImage` (float32 pixels in original units + :class:`ImageMeta`);
:func:`write_image` writes a result by suffix, as a derived DICOM, a NIfTI with the source's affine, a PNG
or a float TIFF, atomically and never over its source.
"""

from meddenoise.io._common import ColourConversionWarning
from meddenoise.io.dicom import new_uid, read_dicom, read_dicom_series, write_dicom, write_dicom_series
from meddenoise.io.files import (
    ROUND_TRIP_SUFFIXES,
    ExistingOutput,
    OutputExistsError,
    broken_links,
    check_output,
    file_series_uid,
    find_images,
    is_dicom_without_suffix,
    is_supported_image,
    output_name,
    series_uid,
    write_like_source,
    written_dtype,
)
from meddenoise.io.image import ImageMeta, ImageReadError, ImageWriteError, MedicalImage
from meddenoise.io.nifti import NiftiSlices, open_nifti_slices, read_nifti, write_nifti, write_nifti_slices
from meddenoise.io.reader import READ_SUFFIXES, detect_format, read_image
from meddenoise.io.writer import WRITE_SUFFIXES, write_image

__all__ = [
    "READ_SUFFIXES",
    "ROUND_TRIP_SUFFIXES",
    "WRITE_SUFFIXES",
    "ColourConversionWarning",
    "ExistingOutput",
    "ImageMeta",
    "ImageReadError",
    "ImageWriteError",
    "MedicalImage",
    "NiftiSlices",
    "OutputExistsError",
    "broken_links",
    "check_output",
    "detect_format",
    "file_series_uid",
    "find_images",
    "is_dicom_without_suffix",
    "is_supported_image",
    "new_uid",
    "open_nifti_slices",
    "output_name",
    "read_dicom",
    "read_dicom_series",
    "read_image",
    "read_nifti",
    "series_uid",
    "write_dicom",
    "write_dicom_series",
    "write_image",
    "write_like_source",
    "write_nifti",
    "write_nifti_slices",
    "written_dtype",
]
