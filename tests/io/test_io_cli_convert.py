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


@pytest.mark.parametrize("window", ["abc", "10", "5,1", "1,nan", "a,b"])
def test_convert_names_the_window_option_when_its_value_is_bad(tmp_path: Path, window: str) -> None:
    res = runner.invoke(
        app, ["convert", str(pydicom_sample("CT_small.dcm")), str(tmp_path / "x.png"), "--window", window]
    )
    assert res.exit_code == 1 and "could not convert" not in res.output
    assert res.output.strip().splitlines() == [
        f"error: --window {window!r}: expected a CT window name (lung, mediastinum, soft-tissue, bone, brain, abdomen) "
        "or LOW,HIGH with LOW < HIGH"
    ]
    assert not (tmp_path / "x.png").exists()


def test_unwritable_outputs_are_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    src = str(pydicom_sample("CT_small.dcm"))
    for args in (["convert", src, str(blocker / "x.tif")], ["noise", src, str(blocker / "sub" / "x.tif")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
        assert res.output.strip().splitlines() == [
            f"error: {args[2]}: cannot write: a file stands where the folder {blocker} would be"
        ] or res.output.strip().splitlines() == [
            f"error: {args[2]}: cannot write: a file stands where the folder {Path(args[2]).parent} would be"
        ]


def test_info_describes_a_one_pixel_png(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png")
    res = runner.invoke(app, ["info", str(tmp_path / "one.png")])
    assert res.exit_code == 0, res.output
    assert "n/a (image under 2x2 pixels)" in res.output and "1 x 1" in res.output
