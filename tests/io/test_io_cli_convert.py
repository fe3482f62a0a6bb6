"""``meddenoise convert``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.io import read_image
from meddenoise.io.testdata import pydicom_sample

pytestmark = pytest.mark.integration  # every test here drives the command line

runner = CliRunner()


def test_convert_dicom_to_png_tiff_and_derived_dicom(tmp_path: Path) -> None:
    src = pydicom_sample("CT_small.dcm")
    res = runner.invoke(app, ["convert", str(src), str(tmp_path / "ct.png"), "--window", "-160,240"])
    assert res.exit_code == 0, res.output
    png = read_image(tmp_path / "ct.png")
    assert png.meta.bits == 16
    hu = read_image(src).pixels
    expected = np.rint((np.clip(hu, -160, 240) + 160) / 400 * 65535)
    np.testing.assert_array_equal(png.pixels, expected)
    assert runner.invoke(app, ["convert", str(src), str(tmp_path / "ct.tif")]).exit_code == 0
    np.testing.assert_array_equal(read_image(tmp_path / "ct.tif").pixels, hu)
    assert runner.invoke(app, ["convert", str(src), str(tmp_path / "ct.dcm")]).exit_code == 0
    assert pydicom.dcmread(tmp_path / "ct.dcm").DerivationDescription == "format conversion"


def test_convert_refuses_source_and_existing_output(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"keep")
    src = pydicom_sample("MR_small.dcm")
    res = runner.invoke(app, ["convert", str(src), str(target)])
    assert res.exit_code == 1 and "exists" in res.output
    assert target.read_bytes() == b"keep"
    res = runner.invoke(app, ["convert", str(target), str(target), "--overwrite"])
    assert res.exit_code == 1 and "refusing to overwrite" in res.output


def test_convert_stack_slice_and_bad_input(tmp_path: Path) -> None:
    src = pydicom_sample("emri_small.dcm")
    assert runner.invoke(app, ["convert", str(src), str(tmp_path / "s.png"), "--slice", "3"]).exit_code == 0
    assert read_image(tmp_path / "s.png").pixels.shape == (64, 64)
    bad = tmp_path / "bad.dcm"
    bad.write_text("not dicom")
    res = runner.invoke(app, ["convert", str(bad), str(tmp_path / "o.png")])
    assert res.exit_code == 1 and "bad.dcm: not a DICOM file" in res.output
