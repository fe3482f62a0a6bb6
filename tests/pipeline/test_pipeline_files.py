"""The file pipeline end to end on real files: DICOM series out, NIfTI round trip, images, bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file

from meddenoise.data import IntensitySpec
from meddenoise.denoiser import Denoiser
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline import (
    DenoiseOptions,
    OutputConflictError,
    denoise_files,
    denoise_pixels,
    plan_jobs,
)


class Identity(Denoiser):
    name = "identity"

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        return image.copy()


MEDIAN = DenoiserResolver(method="median")
QUIET = {"show_progress": False}


def _sample(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(path)


def test_dicom_in_dicom_out_keeps_tags_and_makes_one_new_series(tmp_path: Path) -> None:
    src = tmp_path / "in" / "series"
    src.mkdir(parents=True)
    # two files of one input series (CT_small under two names; distinct SOP instances)
    for i in range(2):
        ds = pydicom.dcmread(_sample("CT_small.dcm"))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        ds.InstanceNumber = i + 1
        ds.save_as(src / f"slice{i}.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    summary = denoise_files([tmp_path / "in"], out, resolver=MEDIAN, **QUIET)
    assert summary.ok and len(summary.done) == 2
    written = sorted((out / "series").glob("*.dcm"))
    assert [p.name for p in written] == ["slice0.dcm", "slice1.dcm"]  # the tree is mirrored
    sources = [pydicom.dcmread(src / p.name) for p in written]
    results = [pydicom.dcmread(p) for p in written]
    assert results[0].SeriesInstanceUID == results[1].SeriesInstanceUID != sources[0].SeriesInstanceUID
    assert len({r.SOPInstanceUID for r in results} | {s.SOPInstanceUID for s in sources}) == 4
    for before, after in zip(sources, results, strict=True):
        assert "DERIVED" in after.ImageType
        for keyword in (
            "PatientID",
            "StudyInstanceUID",
            "Modality",
            "Rows",
            "Columns",
            "BitsStored",
            "RescaleSlope",
            "RescaleIntercept",
            "PixelSpacing",
            "ImagePositionPatient",
        ):
            assert after.get(keyword) == before.get(keyword), keyword
        hu_before = before.pixel_array * float(before.RescaleSlope) + float(before.RescaleIntercept)
        hu_after = after.pixel_array * float(after.RescaleSlope) + float(after.RescaleIntercept)
        assert after.pixel_array.dtype == before.pixel_array.dtype
        # a 3x3 median moves single pixels but keeps the HU scale
        assert abs(float(np.median(hu_after)) - float(np.median(hu_before))) < 20
        assert np.corrcoef(hu_before.ravel(), hu_after.ravel())[0, 1] > 0.95


@pytest.mark.data
@pytest.mark.parametrize("resolver", [MEDIAN, DenoiserResolver(model="ct")], ids=["median", "ct-model"])
def test_chest_ct_dicom_out_in_hu(shared_data: Path, tmp_path: Path, resolver: DenoiserResolver) -> None:
    files = sorted((shared_data / "chest-ct-dicom").glob("*.dcm"))[:2]
    summary = denoise_files(files, tmp_path, resolver=resolver, **QUIET)
    assert summary.ok, [r.reason for r in summary.failed]
    for source in files:
        before, after = pydicom.dcmread(source), pydicom.dcmread(tmp_path / source.name)
        hu_before = before.pixel_array * float(before.RescaleSlope) + float(before.RescaleIntercept)
        hu_after = after.pixel_array * float(after.RescaleSlope) + float(after.RescaleIntercept)
        assert after.SeriesInstanceUID != before.SeriesInstanceUID
        assert after.PatientID == before.PatientID and after.StudyInstanceUID == before.StudyInstanceUID
        # outside the model window (-1024..1024 HU, and its floor noise margin of 204.8 HU under it)
        # nothing was touched
        outside = (hu_before > 1024) | (hu_before < -1024 - 204.8)
        np.testing.assert_array_equal(hu_after[outside], hu_before[outside])
        inside = ~outside
        assert np.abs(hu_after[inside] - hu_before[inside]).mean() < 40


def test_identity_round_trip_is_exact_for_every_intensity_method(rng: np.random.Generator) -> None:
    stored = rng.integers(0, 4096, size=(3, 40, 50)).astype(np.float32) - 1024  # 12-bit CT in HU
    for spec in (
        IntensitySpec("window", level=40, width=400),
        IntensitySpec("percentile"),
        IntensitySpec("range"),
    ):
        out, report = denoise_pixels(
            stored,
            Identity(),
            intensity=spec,
            modality="CT",
            units="HU",
            original_dtype="int16",
            options=DenoiseOptions(tile=32, overlap=8),
        )
        np.testing.assert_array_equal(np.rint(out), stored)
        assert report.tiles > 3


def test_nifti_volume_round_trip_keeps_affine_and_header(tmp_path: Path, rng: np.random.Generator) -> None:
    volume = (1000 + 50 * rng.normal(size=(48, 40, 6))).astype(np.int16)
    affine = np.array([[0.9, 0, 0, -20], [0, 1.1, 0, 30], [0, 0, 2.5, -5], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(volume, affine), tmp_path / "vol.nii.gz")
    summary = denoise_files([tmp_path / "vol.nii.gz"], tmp_path / "out", resolver=MEDIAN, **QUIET)
    assert summary.ok, [r.reason for r in summary.failed]
    result = nib.load(tmp_path / "out" / "vol.nii.gz")
    np.testing.assert_allclose(result.affine, affine)
    assert result.shape == volume.shape
    # the writer stores denoised values as float32 (no re-quantisation); the geometry is the source's
    np.testing.assert_allclose(result.header.get_zooms(), (0.9, 1.1, 2.5), rtol=1e-6)
    assert result.header["qform_code"] == nib.load(tmp_path / "vol.nii.gz").header["qform_code"]
    data = np.asarray(result.dataobj)
    assert data.std() < volume.std()  # denoised
    assert abs(float(data.mean()) - float(volume.mean())) < 5


def test_png_and_tiff_keep_their_format_and_depth(tmp_path: Path, rng: np.random.Generator) -> None:
    Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "b.tif", rng.integers(0, 65536, (40, 30), dtype=np.uint16))
    summary = denoise_files(
        [tmp_path / "a.png", tmp_path / "b.tif"], tmp_path / "out", resolver=MEDIAN, **QUIET
    )
    assert summary.ok, [r.reason for r in summary.failed]
    with Image.open(tmp_path / "out" / "a.png") as png:
        assert png.mode == "L" and png.size == (30, 40)
    assert tifffile.imread(tmp_path / "out" / "b.tif").dtype == np.uint16


def test_bad_inputs_are_reported_while_the_rest_completes(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(_sample("MR_small.dcm"), folder / "good.dcm")
    (folder / "notes.dcm").write_text("this is a text file, not DICOM\n")
    (folder / "corrupt.dcm").write_bytes(_sample("CT_small.dcm").read_bytes()[:3000])
    (folder / "README.txt").write_text("ignored: not an image suffix\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    seen = []
    summary = denoise_files(
        [folder, empty, tmp_path / "missing.dcm"],
        tmp_path / "out",
        resolver=MEDIAN,
        on_result=seen.append,
        **QUIET,
    )
    assert [r.source.name for r in summary.done] == ["good.dcm"]
    reasons = {r.source.name: r.reason for r in summary.failed}
    assert set(reasons) == {"notes.dcm", "corrupt.dcm", "empty", "missing.dcm"}
    assert "no image files" in reasons["empty"] and "no such file" in reasons["missing.dcm"]
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert len(seen) == 5 and not summary.ok
    assert (tmp_path / "out" / "good.dcm").is_file()
    assert not (tmp_path / "out" / "notes.dcm").exists()


def test_refuses_when_an_output_would_land_on_an_input(tmp_path: Path) -> None:
    shutil.copy(_sample("MR_small.dcm"), tmp_path / "a.dcm")
    before = (tmp_path / "a.dcm").read_bytes()
    with pytest.raises(OutputConflictError, match="overwrite the input"):
        denoise_files([tmp_path], tmp_path, resolver=MEDIAN, **QUIET)
    with pytest.raises(OutputConflictError, match="overwrite the input"):
        plan_jobs([tmp_path / "a.dcm"], tmp_path)
    assert (tmp_path / "a.dcm").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm"]
    (tmp_path / "sub").mkdir()
    shutil.copy(_sample("MR_small.dcm"), tmp_path / "sub" / "a.dcm")
    with pytest.raises(OutputConflictError, match="both"):
        plan_jobs([tmp_path / "a.dcm", tmp_path / "sub" / "a.dcm"], tmp_path / "out")


def test_existing_outputs_are_decided_per_job_when_the_batch_is_planned(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.full((8, 8), 7, np.uint8)).save(tmp_path / name)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"from an interrupted run")
    inputs = [tmp_path / n for n in ("a.png", "b.png", "c.png")]
    with pytest.raises(OutputConflictError, match=r"b\.png: output exists; pass --overwrite"):
        plan_jobs(inputs, out)  # the default refuses, before anything is written
    jobs, results = plan_jobs(inputs, out, existing="skip")
    assert [j.source.name for j in jobs] == ["a.png", "c.png"]
    assert [(r.source.name, r.ok, r.skipped) for r in results] == [("b.png", True, True)]
    jobs, results = plan_jobs(inputs, out, existing="overwrite")
    assert [j.source.name for j in jobs] == ["a.png", "b.png", "c.png"] and results == []
    summary = denoise_files(inputs, out, resolver=MEDIAN, existing="skip", **QUIET)
    assert [r.source.name for r in summary.done] == ["a.png", "c.png"]
    assert [r.source.name for r in summary.skipped] == ["b.png"] and summary.ok
    assert (out / "b.png").read_bytes() == b"from an interrupted run"
    (out / "c.png").unlink()
    (out / "c.png").mkdir()  # a folder in the way is refused whatever the policy
    with pytest.raises(OutputConflictError, match="a folder stands where the output file would go"):
        plan_jobs(inputs, out, existing="overwrite")


def test_batch_reasons_are_in_the_tools_words() -> None:
    from meddenoise.io import ImageReadError
    from meddenoise.pipeline.batch import _one_line

    assert _one_line(
        MemoryError("Unable to allocate 5.4 TiB for an array with shape (3000, 30000, 30000)")
    ) == ("not enough memory to process this image")
    promotion = np.exceptions.DTypePromotionError(
        "The DTypes <class 'numpy.dtypes.VoidDType'> and <class ...>"
    )
    assert _one_line(promotion) == "unsupported pixel data type"
    source = Path("scan.dcm")
    assert (
        _one_line(ImageReadError(source, "empty\nfile"), source) == "empty file"
    )  # the line names it already


def test_a_resumed_batch_continues_the_derived_series_it_began(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for i in range(3):
        ds = pydicom.dcmread(_sample("CT_small.dcm"))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        ds.InstanceNumber = i + 1
        ds.save_as(folder / f"im{i}.dcm")
    out = tmp_path / "out"
    denoise_files([folder], out, resolver=MEDIAN, **QUIET)
    first = {p.name: pydicom.dcmread(p).SeriesInstanceUID for p in sorted(out.iterdir())}
    assert len(set(first.values())) == 1
    (out / "im1.dcm").unlink()  # as if the run had been killed before writing it
    summary = denoise_files([folder], out, resolver=MEDIAN, existing="skip", **QUIET)
    assert [r.source.name for r in summary.done] == ["im1.dcm"]
    assert pydicom.dcmread(out / "im1.dcm").SeriesInstanceUID == first["im0.dcm"]
