"""Writers: PNG 8/16, float TIFF, derived DICOM (pixels, kept tags, new UIDs), NIfTI (affine, float values)."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from meddenoise.io import (
    ImageWriteError,
    read_dicom_series,
    read_image,
    write_dicom_series,
    write_image,
)
from meddenoise.io.testdata import pydicom_sample

# Changed on purpose by a derived write; every other tag must survive.
_CHANGED = {
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "ImageType",
    "SeriesNumber",
    "DerivationCodeSequence",
    "DerivationDescription",
    "SeriesDescription",
    "SourceImageSequence",
    "PixelData",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
}


# Enhanced MR attributes the standard requires for ORIGINAL images only (MR Pulse Sequence and Bulk
# Motion Synchronization modules, Type 1C); a DERIVED image must not carry them.
_MR_ORIGINAL_ONLY = {
    *("PulseSequenceName", "MRAcquisitionType", "EchoPulseSequence", "MultiPlanarExcitation"),
    *("PhaseContrast", "TimeOfFlightContrast", "SteadyStatePulseSequence", "EchoPlanarPulseSequence"),
    *("SaturationRecovery", "SpectrallySelectedSuppression", "OversamplingPhase", "CoverageOfKSpace"),
    *("GeometryOfKSpaceTraversal", "RectilinearPhaseEncodeReordering", "SegmentedKSpaceTraversal"),
    *("NumberOfKSpaceTrajectories", "BulkMotionCompensationTechnique"),
}


def _kept_tags_equal(
    source: pydicom.Dataset, derived: pydicom.Dataset, *, top: bool = True, dropped: set[str] | None = None
) -> None:
    for elem in source:
        if (top and elem.keyword in _CHANGED | (dropped or set())) or elem.tag.element == 0:
            continue  # group lengths (element 0): retired, dropped
        assert elem.tag in derived, f"{elem.keyword or elem.tag} lost"
        if elem.VR == "SQ":
            assert len(derived[elem.tag].value) == len(elem.value), f"{elem.keyword} changed"
            for a, b in zip(elem.value, derived[elem.tag].value, strict=True):
                _kept_tags_equal(a, b, top=False)
        else:
            assert derived[elem.tag].value == elem.value, f"{elem.keyword or elem.tag} changed"


def test_png_8_and_16_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    for dtype, hi in ((np.uint8, 255), (np.uint16, 65535)):
        data = rng.integers(0, hi + 1, size=(13, 17), dtype=dtype)
        Image.fromarray(data).save(tmp_path / "in.png")
        img = read_image(tmp_path / "in.png")
        out = write_image(tmp_path / f"out{hi}.png", img.pixels, like=img)
        back = read_image(out)
        assert back.meta.dtype == np.dtype(dtype).name
        np.testing.assert_array_equal(back.pixels, data)


def test_png_without_like_maps_unit_range(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    back = read_image(write_image(tmp_path / "u.png", x))
    np.testing.assert_array_equal(back.pixels, np.rint(x * 255))
    back16 = read_image(write_image(tmp_path / "u16.png", x, bits=16))
    np.testing.assert_array_equal(back16.pixels, np.rint(x.astype(np.float64) * 65535).astype(np.float32))


def test_tiff_float_round_trip_is_exact(tmp_path: Path, rng: np.random.Generator) -> None:
    x = (rng.normal(size=(2, 9, 11)) * 1000).astype(np.float32)
    back = read_image(write_image(tmp_path / "f.tiff", x))
    np.testing.assert_array_equal(back.pixels, x)
    assert back.meta.dtype == "float32"


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # CT, signed 16-bit, rescale to HU
        "MR_small.dcm",
        "MR_small_bigendian.dcm",  # big endian in, little endian out
        "MR_small_jp2klossless.dcm",  # JPEG 2000 in, uncompressed out
        "emri_small_RLE.dcm",  # multi-frame RLE
        "RG3_UNCI.dcm",  # MONOCHROME1 CR, 10 bits stored
        "mlut_18.dcm",  # non-linear Modality LUT Sequence
        "image_dfl.dcm",  # deflated transfer syntax
    ],
)
def test_dicom_identity_round_trip(tmp_path: Path, name: str) -> None:
    src = pydicom_sample(name)
    img = read_image(src)
    out = write_image(tmp_path / name, img.pixels, like=img, description="identity")
    derived = pydicom.dcmread(out)
    source = pydicom.dcmread(src)
    # identical stored values and identical pixels in original units
    np.testing.assert_array_equal(derived.pixel_array, source.pixel_array)
    np.testing.assert_array_equal(read_image(out).pixels, img.pixels)
    assert derived.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert derived.PhotometricInterpretation == source.PhotometricInterpretation
    assert (derived.BitsStored, derived.BitsAllocated) == (source.BitsStored, source.BitsAllocated)
    assert derived.SOPInstanceUID != source.get("SOPInstanceUID")
    assert derived.SeriesInstanceUID != source.get("SeriesInstanceUID")
    assert derived.file_meta.MediaStorageSOPInstanceUID == derived.SOPInstanceUID
    enhanced_mr = source.SOPClassUID == pydicom.uid.EnhancedMRImageStorage
    # enhanced IODs allow only PRIMARY as value 2; the classic ones say SECONDARY (made after the exam)
    assert list(derived.ImageType)[:2] == ["DERIVED", "PRIMARY" if enhanced_mr else "SECONDARY"]
    assert derived.DerivationDescription == "identity"
    assert derived.SeriesDescription.endswith("[meddenoise]")
    if "SOPInstanceUID" in source:
        assert derived.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    if enhanced_mr:
        assert _MR_ORIGINAL_ONLY & set(source.dir()) and not _MR_ORIGINAL_ONLY & set(derived.dir())
    _kept_tags_equal(source, derived, dropped=_MR_ORIGINAL_ONLY if enhanced_mr else None)


def test_dicom_denoised_values_go_back_to_stored_units(tmp_path: Path) -> None:
    img = read_image(pydicom_sample("CT_small.dcm"))
    smoothed = img.pixels + 10.4  # a result in HU, off the integer grid
    derived = pydicom.dcmread(write_image(tmp_path / "d.dcm", smoothed, like=img, description="+10 HU"))
    slope, intercept = float(derived.RescaleSlope), float(derived.RescaleIntercept)
    hu = derived.pixel_array * slope + intercept
    np.testing.assert_array_equal(hu, np.rint(img.pixels.astype(np.float64) + 10.4))


def test_dicom_colour_source_comes_back_grey(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = read_image(pydicom_sample("SC_rgb.dcm"))
    derived = pydicom.dcmread(write_image(tmp_path / "g.dcm", img.pixels, like=img))
    assert derived.PhotometricInterpretation == "MONOCHROME2" and derived.SamplesPerPixel == 1
    np.testing.assert_array_equal(derived.pixel_array, np.rint(img.pixels))


def test_refuses_to_overwrite_source(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src)
    img = read_image(src)
    before = src.read_bytes()
    with pytest.raises(ImageWriteError, match="refusing to overwrite"):
        write_image(src, img.pixels + 1, like=img)
    with pytest.raises(ImageWriteError, match="refusing to overwrite"):
        write_image(tmp_path / "." / "in.png", img.pixels, like=img)
    assert src.read_bytes() == before


def test_dicom_needs_dicom_like_and_matching_shape(tmp_path: Path) -> None:
    img = read_image(pydicom_sample("CT_small.dcm"))
    with pytest.raises(ImageWriteError, match="needs `like`"):
        write_image(tmp_path / "x.dcm", img.pixels)
    with pytest.raises(ImageWriteError, match="do not match"):
        write_image(tmp_path / "x.dcm", img.pixels[:10], like=img)
    with pytest.raises(ImageWriteError, match="cannot write"):
        write_image(tmp_path / "x.jpg", img.pixels, like=img)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_dicom_series_writes_one_file_per_source(tmp_path: Path) -> None:
    # three single-frame slices of one series, made from the multi-frame sample
    source = pydicom.dcmread(pydicom_sample("MR_small.dcm"))
    paths = []
    for k in range(3):
        ds = source.copy()
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = 3 - k
        ds.ImagePositionPatient = [0.0, 0.0, float(10 - k)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelData = (source.pixel_array + k).astype(source.pixel_array.dtype).tobytes()
        path = tmp_path / "in" / f"s{k}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    series = read_dicom_series(paths)
    assert series.pixels.shape == (3, 64, 64)
    assert [p.name for p in series.meta.extra["sources"]] == ["s2.dcm", "s1.dcm", "s0.dcm"]  # by position
    written = write_dicom_series(tmp_path / "out", series.pixels, like=series, description="identity")
    assert sorted(p.name for p in written) == ["s0.dcm", "s1.dcm", "s2.dcm"]
    derived = [pydicom.dcmread(p) for p in written]
    assert len({d.SeriesInstanceUID for d in derived}) == 1
    assert len({d.SOPInstanceUID for d in derived}) == 3
    for p in written:
        np.testing.assert_array_equal(
            pydicom.dcmread(p).pixel_array, pydicom.dcmread(tmp_path / "in" / p.name).pixel_array
        )
    with pytest.raises(ImageWriteError, match="refusing to overwrite"):
        write_dicom_series(tmp_path / "in", series.pixels, like=series, description="x")


def _nifti(tmp_path: Path, data: np.ndarray, **header: object) -> Path:
    affine = np.array([[-0.9, 0, 0, 90], [0, 1.1, 0.05, -126], [0, 0, 1.3, -72], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.header["descrip"] = b"test volume"
    for key, value in header.items():
        img.header[key] = value
    path = tmp_path / "vol.nii.gz"
    nib.save(img, path)
    return path


@pytest.mark.parametrize("slice_axis", [0, 1, 2])
def test_nifti_round_trip_float_exact(tmp_path: Path, rng: np.random.Generator, slice_axis: int) -> None:
    data = rng.normal(size=(6, 7, 5)).astype(np.float32) * 100
    src = _nifti(tmp_path, data)
    img = read_image(src, slice_axis=slice_axis)
    assert img.pixels.shape == np.moveaxis(data, slice_axis, 0).shape
    out = write_image(tmp_path / "out.nii", img.pixels * 0.5, like=img)
    back = nib.load(out)
    np.testing.assert_array_equal(back.affine, nib.load(src).affine)
    assert back.get_data_dtype() == np.float32
    assert back.header["descrip"].tobytes().rstrip(b"\0") == b"test volume"
    np.testing.assert_array_equal(np.asarray(back.dataobj), data * 0.5)


def test_nifti_integer_source_is_written_as_float32(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.integers(0, 1000, size=(5, 6, 4)).astype(np.int16)
    src = _nifti(tmp_path, data)
    img = read_image(src)
    result = img.pixels + 0.25  # would be truncated if nibabel kept the int16 on-disk type
    back = nib.load(write_image(tmp_path / "out.nii.gz", result, like=img))
    assert back.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.moveaxis(np.asarray(back.dataobj), 2, 0), result)


@pytest.mark.parametrize(
    ("volume", "reason"),
    [
        (np.zeros((3, 3, 3, 2), np.float32), "4D"),
        (np.zeros((4, 4, 0), np.float32), "no pixels"),
        (np.full((3, 3, 2), np.inf, np.float32), "NaN/Inf"),
    ],
)
def test_bad_nifti_is_rejected(tmp_path: Path, volume: np.ndarray, reason: str) -> None:
    from meddenoise.io import ImageReadError

    path = tmp_path / "bad.nii"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    with pytest.raises(ImageReadError, match=reason):
        read_image(path)


@pytest.mark.data
def test_chest_ct_dicom_identity_round_trip(shared_data: Path, tmp_path: Path) -> None:
    for src in sorted((shared_data / "chest-ct-dicom").glob("*.dcm")):
        img = read_image(src)
        out = write_image(tmp_path / src.name, img.pixels, like=img, description="identity")
        source, derived = pydicom.dcmread(src), pydicom.dcmread(out)
        np.testing.assert_array_equal(derived.pixel_array, source.pixel_array)
        assert derived.SeriesInstanceUID != source.SeriesInstanceUID
        _kept_tags_equal(source, derived)


def test_series_rejects_multiframe_and_mismatched_slices() -> None:
    from meddenoise.io import ImageReadError

    with pytest.raises(ImageReadError, match="multi-frame"):
        read_dicom_series([pydicom_sample("emri_small.dcm")])
    with pytest.raises(ImageReadError, match="differs"):
        read_dicom_series([pydicom_sample("MR_small.dcm"), pydicom_sample("CT_small.dcm")])
