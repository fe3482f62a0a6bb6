"""``meddenoise noise`` and noise_image: files in, noisy files out, in the files' own units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.io import read_image
from meddenoise.noise import NOISE_MODELS, NoiseSpecError
from meddenoise.noise.files import noise_image

runner = CliRunner()
CT = Path(get_testdata_file("CT_small.dcm"))


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(path)
    return path


@pytest.mark.integration
def test_list_names_every_model_and_its_parameters() -> None:
    result = runner.invoke(app, ["noise", "--list"])
    assert result.exit_code == 0, result.output
    for name, cls in NOISE_MODELS.items():
        assert f"{name}:" in result.output
        for param in cls.params:
            assert param.name in result.output


@pytest.mark.integration
def test_png_gets_the_spec_noise_on_the_unit_scale(png: Path, tmp_path: Path) -> None:
    out = tmp_path / "noisy.png"
    result = runner.invoke(app, ["noise", str(png), str(out), "-n", "gaussian(p=0.1,sigma=1)", "--seed", "3"])
    assert result.exit_code == 0, result.output
    noisy = np.asarray(Image.open(out), dtype=np.float64) / 255
    assert noisy.std() == pytest.approx(0.1, rel=0.1)
    assert noisy.mean() == pytest.approx(128 / 255, abs=0.01)
    # same seed, same file
    again = tmp_path / "again.png"
    runner.invoke(app, ["noise", str(png), str(again), "-n", "gaussian(p=0.1,sigma=1)", "--seed", "3"])
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(out)))


@pytest.mark.integration
def test_lowdose_ct_on_a_dicom_stays_in_hu(tmp_path: Path) -> None:
    out = tmp_path / "lowdose.dcm"
    result = runner.invoke(app, ["noise", str(CT), str(out), "-n", "lowdose-ct(dose=0.05,angles=90)"])
    assert result.exit_code == 0, result.output
    clean, noisy = read_image(CT), read_image(out)
    assert noisy.meta.units == "HU" and noisy.shape == clean.shape
    difference = noisy.pixels - clean.pixels
    assert 1.0 < difference.std() < 200.0 and abs(difference.mean()) < 10.0
    # the simulated scan has the file's pixel size, and says so
    assert "pixel_mm=0.661468" in result.output


@pytest.mark.parametrize(
    ("spec", "message"),
    [("bogus(a=1)", "unknown noise model 'bogus'"), ("gaussian(p=3)", "'p' must be in [0, 1]")],
)
@pytest.mark.integration
def test_bad_spec_is_one_clear_error_line(png: Path, tmp_path: Path, spec: str, message: str) -> None:
    result = runner.invoke(app, ["noise", str(png), str(tmp_path / "x.png"), "-n", spec])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.integration
def test_existing_output_is_kept_without_overwrite(png: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    result = runner.invoke(app, ["noise", str(png), str(out)])
    assert result.exit_code == 1 and "exists" in result.output
    assert out.read_bytes() == b"keep"
    assert runner.invoke(app, ["noise", str(png), str(out), "--overwrite"]).exit_code == 0


@pytest.mark.integration
def test_missing_arguments_and_missing_file(tmp_path: Path) -> None:
    assert runner.invoke(app, ["noise"]).exit_code == 2
    result = runner.invoke(app, ["noise", str(tmp_path / "none.png"), str(tmp_path / "o.png")])
    assert result.exit_code == 1 and "none.png" in result.output


def test_hu_model_needs_a_ct_image(png: Path) -> None:
    with pytest.raises(NoiseSpecError, match="needs a CT image in HU"):
        noise_image(read_image(png), "lowdose-ct(dose=0.5)")
    with pytest.raises(NoiseSpecError, match="cannot be composed"):
        noise_image(read_image(CT), "lowdose-ct(dose=0.5)+gaussian(p=0.1,sigma=1)")


def test_noise_image_default_mapping_uses_the_value_range(png: Path) -> None:
    image = read_image(png)
    noisy = noise_image(image, "saltpepper(amount=0.5,salt=1)", rng=0)
    assert set(np.unique(noisy)) == {128.0, 255.0}
