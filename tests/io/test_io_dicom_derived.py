"""Derived DICOM by the rules of its IOD, and non-image SOP classes refused.

Oracles: the DICOM standard's codes and rules written out here (DCM 113087 Smoothing and 113042
Pixel by pixel addition from CID 7203; Enhanced CT/MR Image Type value 2 PRIMARY; the US IOD's
8-bit MONOCHROME2), pydicom's own palette lookup for the ultrasound grey, and the source file itself
for what a derived image must point at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.io import ImageReadError, read_image, write_image
from meddenoise.io.testdata import pydicom_sample

SMOOTHING = ("113087", "DCM", "Smoothing")
ADDITION = ("113042", "DCM", "Pixel by pixel addition")


def _codes(items: pydicom.Sequence) -> list[tuple[str, str, str]]:
    return [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in items]


def _write(
    tmp_path: Path, name: str, *, derivation: str = "smoothing", src: Path | None = None
) -> pydicom.Dataset:
    image = read_image(src or pydicom_sample(name))
    out = write_image(
        tmp_path / f"out_{name}", image.pixels, like=image, description="d", derivation=derivation
    )
    return pydicom.dcmread(out)


# ------------------------------------------------------------------------------ non-image SOP classes
@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("liver.dcm", "Segmentation Storage"),
        ("liver_1frame.dcm", "Segmentation Storage"),
        ("rtdose.dcm", "RT Dose Storage"),
        ("rtdose_1frame.dcm", "RT Dose Storage"),
    ],
)
def test_segmentations_and_dose_grids_are_refused_in_one_line(name: str, label: str) -> None:
    path = pydicom_sample(name)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {label} (")
    assert "not an image storage SOP class" in message and "\n" not in message


@pytest.mark.parametrize(
    "sop_class",
    [
        "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
        "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
        "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
        "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Colour SC: a grey result breaks the IOD
        "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
        "1.2.3.4",  # not a DICOM class at all
    ],
)
def test_refusal_is_by_sop_class_not_by_pixels(tmp_path: Path, sop_class: str) -> None:
    ds = pydicom.dcmread(pydicom_sample("CT_small.dcm"))  # CT pixels, only the class says otherwise
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    with pytest.raises(
        ImageReadError, match=rf"x\.dcm: .*\({sop_class}\)|x\.dcm: {sop_class} is not an image"
    ):
        read_image(tmp_path / "x.dcm")


def test_an_object_without_sop_class_is_refused(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_sample("CT_small.dcm"))
    del ds.SOPClassUID
    del ds.file_meta.MediaStorageSOPClassUID
    ds.save_as(tmp_path / "x.dcm")
    with pytest.raises(ImageReadError, match="without a SOP Class UID"):
        read_image(tmp_path / "x.dcm")
    # the class named only by the file meta information is enough
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    ds.save_as(tmp_path / "y.dcm")
    assert read_image(tmp_path / "y.dcm").meta.modality == "CT"


@pytest.mark.integration
def test_convert_and_denoise_refuse_a_segmentation_and_carry_on(tmp_path: Path) -> None:
    runner = CliRunner()
    seg = pydicom_sample("liver_1frame.dcm")
    res = runner.invoke(app, ["convert", str(seg), str(tmp_path / "seg.dcm")])
    assert res.exit_code == 1 and "Segmentation Storage" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "seg.dcm").exists()
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(seg, folder / "seg.dcm")
    shutil.copy(pydicom_sample("CT_small.dcm"), folder / "ct.dcm")
    out = tmp_path / "out"
    res = runner.invoke(app, ["denoise", str(folder), "-o", str(out), "--method", "median", "-q"])
    assert res.exit_code == 1 and "Segmentation Storage" in res.output
    assert (out / "ct.dcm").is_file() and not (out / "seg.dcm").exists()


# ------------------------------------------------------------------------------ every derived image
def test_series_number_and_derivation_code(tmp_path: Path) -> None:
    source = pydicom.dcmread(pydicom_sample("CT_small.dcm"))
    derived = _write(tmp_path, "CT_small.dcm")
    assert int(derived.SeriesNumber) == int(source.SeriesNumber) + 1000
    assert _codes(derived.DerivationCodeSequence) == [SMOOTHING]
    purpose = derived.SourceImageSequence[0].PurposeOfReferenceCodeSequence
    assert _codes(purpose) == [("121322", "DCM", "Source image for image processing operation")]
    assert _codes(_write(tmp_path, "CT_small.dcm", derivation="noise").DerivationCodeSequence) == [ADDITION]
    assert "DerivationCodeSequence" not in _write(tmp_path, "CT_small.dcm", derivation="conversion")
    with pytest.raises(ValueError, match="unknown derivation"):
        _write(tmp_path, "CT_small.dcm", derivation="magic")


def test_a_lossy_source_keeps_its_own_derivation_step(tmp_path: Path) -> None:
    source = pydicom.dcmread(pydicom_sample("693_UNCI.dcm"))
    assert "113040" in [i.CodeValue for i in source.DerivationCodeSequence]  # lossy compression
    derived = _write(tmp_path, "693_UNCI.dcm")
    assert _codes(derived.DerivationCodeSequence) == [*_codes(source.DerivationCodeSequence), SMOOTHING]


@pytest.mark.parametrize(
    ("number", "expected"), [("7", 1007), (str(2**31 - 1), 2**31 - 1 - 1000), (None, 1000)]
)
def test_series_number_differs_from_the_source(tmp_path: Path, number: str | None, expected: int) -> None:
    ds = pydicom.dcmread(pydicom_sample("CT_small.dcm"))
    if number is None:
        del ds.SeriesNumber
    else:
        ds.SeriesNumber = number
    ds.save_as(tmp_path / "src.dcm")
    assert int(_write(tmp_path, "x.dcm", src=tmp_path / "src.dcm").SeriesNumber) == expected


# ------------------------------------------------------------------------------ enhanced multi-frame
def test_enhanced_ct_is_derived_frame_by_frame(tmp_path: Path) -> None:
    source = pydicom.dcmread(pydicom_sample("eCT_Supplemental.dcm"))
    derived = _write(tmp_path, "eCT_Supplemental.dcm")
    # value 2 PRIMARY is the only one Enhanced CT allows; the source's pixel contrast (RCBF) still holds
    assert list(derived.ImageType) == ["DERIVED", "PRIMARY", *list(source.ImageType)[2:]]
    frame_types = [
        item.FrameType
        for group in [*derived.SharedFunctionalGroupsSequence, *derived.PerFrameFunctionalGroupsSequence]
        for item in group.get("CTImageFrameTypeSequence", [])
    ]
    assert frame_types and all(list(t)[:2] == ["DERIVED", "PRIMARY"] for t in frame_types)
    frames = derived.PerFrameFunctionalGroupsSequence
    assert len(frames) == int(source.NumberOfFrames)
    for number, group in enumerate(frames, start=1):
        (item,) = group.DerivationImageSequence
        assert _codes(item.DerivationCodeSequence) == [SMOOTHING]
        (ref,) = item.SourceImageSequence
        assert (ref.ReferencedSOPInstanceUID, ref.ReferencedFrameNumber) == (source.SOPInstanceUID, number)
    (study,) = derived.SourceImageEvidenceSequence
    assert study.StudyInstanceUID == source.StudyInstanceUID
    (series,) = study.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == source.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert "SourceImageSequence" not in derived  # per frame only: the enhanced IOD has no top-level one


def test_an_original_enhanced_image_gets_a_derived_pixel_contrast(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_sample("eCT_Supplemental.dcm"))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType = ds.ImageType
    ds.save_as(tmp_path / "orig.dcm")
    assert list(_write(tmp_path, "o.dcm", src=tmp_path / "orig.dcm").ImageType) == [
        "DERIVED",
        "PRIMARY",
        "AXIAL",
        "FILTERED",
    ]
    noisy = _write(tmp_path, "n.dcm", src=tmp_path / "orig.dcm", derivation="noise")
    assert (
        list(noisy.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType)[3] == "ADDITION"
    )


def test_enhanced_mr_drops_attributes_only_original_images_may_carry(tmp_path: Path) -> None:
    source = pydicom.dcmread(pydicom_sample("emri_small.dcm"))
    derived = _write(tmp_path, "emri_small.dcm")
    assert list(derived.ImageType) == ["DERIVED", "PRIMARY", "T1", "FILTERED"]
    for keyword in (
        "PulseSequenceName",
        "EchoPulseSequence",
        "CoverageOfKSpace",
        "BulkMotionCompensationTechnique",
    ):
        assert keyword in source and keyword not in derived
    assert derived.MagneticFieldStrength == source.MagneticFieldStrength  # the rest is kept


# ------------------------------------------------------------------------------ ultrasound
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("name", "divisor"), [("OBXXXX1A.dcm", 256), ("gdcm-US-ALOKA-16.dcm", 257)])
def test_palette_ultrasound_is_written_as_8_bit_grey(tmp_path: Path, name: str, divisor: int) -> None:
    source = pydicom.dcmread(pydicom_sample(name))
    rgb = apply_color_lut(source.pixel_array, source).astype(np.float64)
    derived = _write(tmp_path, name)
    # the only grey the US IOD allows
    assert derived.PhotometricInterpretation == "MONOCHROME2" and derived.SamplesPerPixel == 1
    assert (derived.BitsAllocated, derived.BitsStored, derived.HighBit) == (8, 8, 7)
    assert "RedPaletteColorLookupTableData" not in derived
    assert derived.get("UltrasoundColorDataPresent", 0) == 0
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_array_equal(derived.pixel_array, np.clip(np.rint(luma / divisor), 0, 255))
