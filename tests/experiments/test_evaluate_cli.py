"""``meddenoise evaluate`` on real image files, and the method/parameter parsing behind it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from meddenoise.classical import CalibratedDenoiser, MedianDenoiser
from meddenoise.cli.main import app
from meddenoise.experiments.evaluate_methods import parse_param_options, parse_value
from meddenoise.methods import build_denoisers

runner = CliRunner()


@pytest.fixture
def png_folder(tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    camera = data.camera()
    for i, crop in enumerate((camera[:128, :128], camera[128:256, 256:384], camera[300:428, 100:228])):
        Image.fromarray(crop).save(folder / f"img{i}.png")
    return folder


@pytest.mark.integration
def test_evaluate_prints_a_table_and_saves(png_folder, tmp_path):
    out = tmp_path / "result"
    args = ["evaluate", "--data", str(png_folder), "--size", "32", "--methods", "median,tv",
            "--metrics", "ssim,psnr,mae", "--limit", "2", "--seed", "4", "--param", "median.size=5",
            "--out", str(out), "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| method | ssim | psnr | mae | ms / image |" in result.output
    for method in ("noisy", "median", "tv"):
        assert f"| {method} |" in result.output
    payload = json.loads((out / "evaluation.json").read_text())
    assert payload["config"]["n_images"] == 2 and payload["config"]["seed"] == 4
    assert payload["config"]["shapes"] == ["32x32"]
    assert "size=5" in payload["config"]["denoisers"]["median"]
    assert [row["name"] for row in payload["rows"][:2]] == ["img0.png", "img1.png"]
    again = runner.invoke(app, [*args[:-3], "--no-progress"])  # same seed, no --out

    def median_line(output: str) -> str:
        return next(line for line in output.splitlines() if line.startswith("| median |"))

    # Same seed, same scores (the timing column is dropped).
    assert median_line(again.output).rsplit("|", 2)[0] == median_line(result.output).rsplit("|", 2)[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "wiener"], "unknown method 'wiener'"),
        (["--metrics", "fsim"], "unknown metric"),
        (["--noise", "gaussian(p=oops)"], "gaussian"),
        (["--param", "size=5"], "method.param=value"),
        (["--param", "tv.size=5"], "not among the methods"),
    ],
)
@pytest.mark.integration
def test_evaluate_bad_options_give_one_clear_line(png_folder, args, message):
    result = runner.invoke(app, ["evaluate", "--data", str(png_folder), "--methods", "median", *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.integration
def test_evaluate_missing_folder(tmp_path):
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "nope"), "--methods", "median"])
    assert result.exit_code == 2 and "nope" in result.output


def test_parsing_helpers():
    assert parse_value("5") == 5 and parse_value("0.6") == 0.6 and parse_value("true") is True
    assert parse_value("None") is None and parse_value("db4") == "db4"
    assert parse_param_options(["median.size=5", "calibrated-tv.stride=2"]) == {
        "median": {"size": 5},
        "calibrated-tv": {"stride": 2},
    }
    built = {
        k: c.denoiser
        for k, c in build_denoisers(["median", "calibrated-tv"], {"median": {"size": 7}}).items()
    }
    assert isinstance(built["median"], MedianDenoiser) and built["median"].params["size"] == 7
    assert isinstance(built["calibrated-tv"], CalibratedDenoiser)
    with pytest.raises(ValueError, match="twice"):
        build_denoisers(["median", "median"])


@pytest.mark.integration
@pytest.mark.data
def test_evaluate_on_mini_mias(shared_data):
    folder = shared_data / "mini-mias"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    args = [
        "evaluate",
        "--data",
        str(folder),
        "--size",
        "64",
        "--methods",
        "median",
        "--limit",
        "3",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 images, noise `gaussian(p=0.1,sigma=1)`, seed 0" in result.output
    median_ssim = float(result.output.split("| median | ")[1].split(" ")[0])
    noisy_ssim = float(result.output.split("| noisy | ")[1].split(" ")[0])
    assert median_ssim > noisy_ssim
    assert np.isfinite(median_ssim)


@pytest.mark.integration
def test_evaluate_reports_unreadable_files_and_carries_on_unless_strict(png_folder):
    bad = png_folder / "img9.png"
    bad.write_bytes(b"not an image")
    args = [
        "evaluate",
        "--data",
        str(png_folder),
        "--methods",
        "median",
        "--metrics",
        "psnr",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "img9.png" in line] == [
        f"skipped {bad}: not an image file Pillow can identify"
    ]
    assert "| median |" in result.output
    strict = runner.invoke(app, [*args, "--strict"])
    assert (
        strict.exit_code == 2
        and f"{bad}: not an image file" in strict.output
        and "| median |" not in strict.output
    )


@pytest.mark.integration
def test_a_metric_the_image_size_cannot_take_is_left_out_in_one_line(png_folder):
    args = ["evaluate", "--data", str(png_folder), "--size", "64", "--methods", "median", "--no-progress"]
    result = runner.invoke(app, [*args, "--metrics", "ms_ssim,psnr"])
    assert result.exit_code == 0, result.output
    assert "warning: metric ms_ssim left out: MS-SSIM" in result.output and "176x176" in result.output
    assert "| method | psnr | ms / image |" in result.output
    alone = runner.invoke(app, [*args, "--metrics", "ms_ssim"])
    assert alone.exit_code == 2 and "none of the metrics ms_ssim can score these images" in alone.output


@pytest.mark.integration
def test_evaluate_scores_the_ct_measures_in_hu(png_folder, tmp_path):
    from pydicom.data import get_testdata_file

    from meddenoise.io import read_image
    from meddenoise.metrics.ct import TISSUE_BANDS, tissue_mask

    ct = get_testdata_file("CT_small.dcm")
    args = ["evaluate", "--data", ct, "--methods", "median", "--noise", "gaussian(sigma=0.01)",
            "--metrics", "psnr,hu_bias_soft,gradient_ratio", "--out", str(tmp_path / "r"), "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| method | psnr | hu_bias_soft | gradient_ratio |" in result.output
    # the bias is in HU: the mean of 41-HU noise (0.01 of the 4095-HU range) over the soft tissue,
    # hundreds of times larger than on the 0-1 scale
    rows = json.loads((tmp_path / "r" / "evaluation.json").read_text())["summary"]
    noisy_bias = next(r for r in rows if r["method"] == "noisy" and r["metric"] == "hu_bias_soft")["mean"]
    hu = read_image(ct).pixels.astype(np.float64)
    soft_pixels = int(tissue_mask(hu, TISSUE_BANDS["soft"]).sum())
    assert 0.01 < abs(noisy_bias) < 5 * 41 / np.sqrt(soft_pixels)
    refused = runner.invoke(app, ["evaluate", "--data", str(png_folder), "--metrics", "hu_bias_soft",
                                  "--methods", "median", "--no-progress"])  # fmt: skip
    assert refused.exit_code == 2 and "need CT images in HU" in refused.output


@pytest.mark.integration
def test_evaluate_scores_the_noise_texture_against_the_added_noise(tmp_path):
    from pydicom.data import get_testdata_file

    ct = get_testdata_file("CT_small.dcm")
    args = ["evaluate", "--data", ct, "--methods", "median", "--noise", "gaussian(sigma=0.01)",
            "--metrics", "nps_distance,nps_peak_shift", "--out", str(tmp_path / "r"), "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "left out" not in result.output, result.output
    rows = json.loads((tmp_path / "r" / "evaluation.json").read_text())["summary"]
    distance = {r["method"]: r["mean"] for r in rows if r["metric"] == "nps_distance"}
    # the input's error is the added noise itself; a 3x3 median leaves a blotchier, different texture
    assert distance["noisy"] == pytest.approx(0.0, abs=1e-9)
    assert distance["median"] > 0.1
