"""meddenoise.evaluation.benchmark and ``meddenoise benchmark``: noise in the image's units, sigma per mapping."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from meddenoise.cli.main import app
from meddenoise.data.intensity import IntensitySpec
from meddenoise.denoiser import Denoiser
from meddenoise.evaluation.benchmark import (
    BenchImage,
    benchmark,
    load_bench_images,
    parse_levels,
    parse_window,
    scoring_range,
)
from meddenoise.methods import DenoiserChoice, build_denoiser


class Recorder(Denoiser):
    """Identity that records the sigma and the input it was given."""

    def __init__(self, name: str = "rec", *, uses_sigma: bool = True) -> None:
        self.name = name
        self.uses_sigma = uses_sigma
        self.sigmas: list[float | None] = []
        self.inputs: list[np.ndarray] = []

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        self.sigmas.append(sigma)
        self.inputs.append(image.copy())
        return image


def _ct_image(shape: tuple[int, int] = (32, 32)) -> BenchImage:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    hu = (-1000 + 1100 * ((yy - 16) ** 2 + (xx - 16) ** 2 < 150)).astype(np.float32)
    return BenchImage("ct", hu, modality="CT", units="HU", dtype="int16", format="dicom")


def _png_image(shape: tuple[int, int] = (32, 32)) -> BenchImage:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    grey = (100 + 50 * np.sin(xx / 5.0) * np.cos(yy / 4.0)).round().astype(np.float32)
    return BenchImage("png", grey, units="intensity", dtype="uint8", format="png", value_range=(0.0, 255.0))


def _choice(rec: Recorder, spec: IntensitySpec, kind: str = "checkpoint") -> DenoiserChoice:
    return DenoiserChoice(rec, spec, rec.name, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "spec", "span"),
    [
        (_ct_image(), IntensitySpec("window", level=0, width=2048), 2048.0),  # the ct model's mapping
        (_ct_image(), IntensitySpec("range"), 4095.0),  # -1024..3071 HU
        (_png_image(), IntensitySpec("range"), 255.0),  # 8-bit PNG: its stored range
    ],
)
def test_a_denoiser_is_told_the_std_on_its_own_scale(
    image: BenchImage, spec: IntensitySpec, span: float
) -> None:
    rec = Recorder()
    benchmark({"rec": _choice(rec, spec)}, [image], "20", seed=0, modes=("told",), progress=False)
    assert rec.sigmas == [pytest.approx(20.0 / span, rel=1e-6)]


def test_blind_runs_are_told_the_estimate_denoise_auto_would_use() -> None:
    """Blind = ``--noise-level auto``: every method gets the std estimated in the image's units, never the true one."""
    from meddenoise.noise import estimate_ct_noise, estimate_noise_std

    model, filt = Recorder("model"), Recorder("filt")
    choices = {
        "model": _choice(model, IntensitySpec("range")),
        "filt": _choice(filt, IntensitySpec("range"), kind="classical"),
    }
    result = benchmark(choices, [_png_image()], "10", seed=0, modes=("blind",), progress=False)
    assert model.sigmas == filt.sigmas and model.sigmas[0] is not None
    assert 0.02 < model.sigmas[0] < 0.06  # ~10/255 estimated from the image, not exactly the true 10/255
    assert model.sigmas[0] != pytest.approx(10 / 255, rel=1e-6)
    assert set(result.methods) == {"noisy", "model (blind)", "filt (blind)"}

    # CT in HU: the CT estimator on the noisy HU image, over the model's own span (2048-HU window)
    hu = (40 + 60 * (np.mgrid[0:96, 0:96][1] > 48)).astype(np.float32)  # two flat tissues
    image = BenchImage("ct", hu, modality="CT", units="HU", dtype="int16", format="dicom")
    ct_model = Recorder("ct")
    benchmark(
        {"ct": _choice(ct_model, IntensitySpec("window", level=0, width=2048))},
        [image],
        "15",
        seed=0,
        modes=("blind",),
        progress=False,
    )
    # the benchmark's draw for level 0 of seed 0, image 0
    draw = np.random.default_rng(np.random.SeedSequence(0).spawn(1)[0].spawn(1)[0]).standard_normal(hu.shape)
    noisy_hu = (hu.astype(np.float64) + 15.0 * draw).astype(np.float32)
    assert ct_model.sigmas[0] == pytest.approx(estimate_ct_noise(noisy_hu) / 2048.0, rel=1e-6)
    assert ct_model.sigmas[0] != pytest.approx(estimate_noise_std(noisy_hu) / 2048.0, rel=1e-3)


def test_the_noisy_rows_record_what_the_blind_runs_were_told(tmp_path: Path) -> None:
    hu = (40 + 60 * (np.mgrid[0:96, 0:96][1] > 48)).astype(np.float32)  # two flat tissues
    image = BenchImage("ct", hu, modality="CT", units="HU", dtype="int16", format="dicom")
    ct_model = Recorder("ct")
    choices = {"ct": _choice(ct_model, IntensitySpec("window", level=0, width=2048))}
    result = benchmark(choices, [image], "15", seed=0, modes=("told", "blind"), progress=False)
    (noisy_row,) = [r for r in result.rows if r["method"] == "noisy"]
    told, blind = ct_model.sigmas  # told first, then blind
    assert told == pytest.approx(15 / 2048, rel=1e-6)
    assert noisy_row["sigma_read"] == pytest.approx(blind * 2048, rel=1e-6)
    assert noisy_row["sigma_read"] == pytest.approx(15, rel=0.15) and abs(noisy_row["correlation_read"]) < 0.2
    table = result.to_markdown()
    assert f"Blind runs read a noise std of {noisy_row['sigma_read']:.3g} HU" in table
    assert "where 15 was added" in table
    result.save(tmp_path / "out")
    with (tmp_path / "out" / "per_image.csv").open(encoding="utf-8") as handle:
        (csv_row,) = [r for r in csv.DictReader(handle) if r["method"] == "noisy"]
    assert float(csv_row["sigma_read"]) == pytest.approx(noisy_row["sigma_read"])

    told_only = benchmark(choices, [image], "15", seed=0, modes=("told",), progress=False)
    assert all("sigma_read" not in r for r in told_only.rows)
    assert "Blind runs read" not in told_only.to_markdown()


def test_bm3d_is_told_the_true_std(monkeypatch: pytest.MonkeyPatch) -> None:
    import meddenoise.classical.filters as filters

    pytest.importorskip("bm3d")
    told: list[float] = []

    def fake_bm3d(image: np.ndarray, sigma_psd: float, profile: str) -> np.ndarray:
        told.append(sigma_psd)
        return image

    choice = build_denoiser("bm3d")
    monkeypatch.setattr(choice.denoiser, "_bm3d", fake_bm3d)
    assert isinstance(choice.denoiser, filters.BM3DDenoiser)
    benchmark({"bm3d": choice}, [_ct_image()], "50", seed=0, modes=("told",), progress=False)
    # classical filters map CT through the L0/W2048 window: 50 HU is 50/2048 on their scale
    assert told == [pytest.approx(50.0 / 2048.0, rel=1e-6)]


def test_noise_is_in_the_images_units_and_level_zero_is_the_clean_image() -> None:
    rec = Recorder()
    tissue = _ct_image((64, 64)).pixels + 1040.0  # 40 and 1140 HU: far from the -1024 HU clip
    image = BenchImage("ct", tissue, modality="CT", units="HU", dtype="int16", format="dicom")
    result = benchmark(
        {"rec": _choice(rec, IntensitySpec("range"))},
        [image],
        "0,30",
        seed=3,
        modes=("told",),
        progress=False,
    )
    normalizer = image.fit(image.pixels, IntensitySpec("range"))
    clean_unit = normalizer.forward(image.pixels)
    np.testing.assert_array_equal(rec.inputs[0], clean_unit)  # level 0: the clean input itself
    noise_hu = (rec.inputs[1] - clean_unit) * 4095.0
    assert 25 < float(np.std(noise_hu)) < 35
    zero = next(r for r in result.rows if r["level"] == "0" and r["method"] == "noisy")
    assert zero["psnr"] == np.inf and zero["mae"] == 0.0 and zero["bias"] == 0.0
    ident = next(r for r in result.rows if r["level"] == "30" and r["method"] == "rec (true σ)")
    noisy = next(r for r in result.rows if r["level"] == "30" and r["method"] == "noisy")
    assert ident["psnr"] == pytest.approx(noisy["psnr"], abs=1e-3)  # identity: output = noisy input
    assert noisy["mae"] == pytest.approx(30 * np.sqrt(2 / np.pi), rel=0.1)  # MAE in HU


def test_the_same_seed_gives_the_same_table_and_another_seed_another() -> None:
    choices = {"median": build_denoiser("median")}
    images = [_png_image(), _png_image((40, 36))]

    def table(seed: int) -> list[dict[str, object]]:
        result = benchmark(choices, images, "0,5,2%", seed=seed, progress=False)
        return [{k: v for k, v in row.items() if k != "ms_per_image"} for row in result.summary()]

    assert table(1) == table(1)
    assert table(1) != table(2)


def test_relative_levels_and_windows_parse() -> None:
    levels = parse_levels("0, 10,2%")
    assert [lv.label for lv in levels] == ["0", "10", "2%"]
    assert levels[2].sigma(_png_image()) == pytest.approx(0.02 * 255)
    assert parse_window("40/400") == (40.0, 400.0)
    with pytest.raises(ValueError, match="not a number"):
        parse_levels("ten")
    with pytest.raises(ValueError, match=">= 0"):
        parse_levels("-5")
    assert scoring_range(_ct_image()) == (-1024.0, 3071.0)


def test_clip_keeps_noisy_images_in_the_nominal_range() -> None:
    rec = Recorder()
    image = BenchImage("z", np.zeros((32, 32), np.float32), dtype="uint8", format="png", value_range=(0, 255))
    benchmark(
        {"rec": _choice(rec, IntensitySpec("minmax"))}, [image], "20", seed=0, clip=True, progress=False
    )
    assert np.all(rec.inputs[0] >= 0)  # clipped at 0 grey levels: no value below the image's own minimum


def _png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(2):
        yy, xx = np.mgrid[0:48, 0:48]
        Image.fromarray((120 + 60 * np.sin(xx / 6 + i) * np.cos(yy / 7)).astype(np.uint8)).save(
            folder / f"{i}.png"
        )
    return folder


def test_load_bench_images_keeps_units_and_crops(tmp_path: Path) -> None:
    images = load_bench_images(_png_folder(tmp_path), crop=32, limit=1)
    assert len(images) == 1 and images[0].pixels.shape == (32, 32)
    assert images[0].pixels.max() > 1 and scoring_range(images[0]) == (0.0, 255.0)


runner = CliRunner()


@pytest.mark.integration
def test_cli_scores_a_png_folder_and_refuses_to_overwrite(tmp_path: Path) -> None:
    folder, out = _png_folder(tmp_path), tmp_path / "out"
    args = ["benchmark", "--data", str(folder), "--models", "", "--classical", "median,nlmeans"]
    args += ["--levels", "0,10", "--seed", "1", "--no-progress", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| nlmeans (true σ) |" in result.stdout and "noise std 10 uint8 grey levels" in result.stdout
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["seed"] == 1 and data["config"]["levels"] == ["0", "10"]
    assert data["environment"]["packages"]["numpy"]
    before = (out / "results.json").read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "pass --overwrite" in again.output
    assert (out / "results.json").read_bytes() == before
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


@pytest.mark.integration
def test_cli_on_pydicom_ct_small_in_hu() -> None:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    args = ["benchmark", "--data", str(path), "--models", "", "--classical", "median,nlmeans"]
    result = runner.invoke(app, [*args, "--levels", "0,20", "--window", "40/400", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "noise std 20 HU" in result.stdout and "psnr_window" in result.stdout


def test_card_quality_is_the_benchmark_at_the_card_levels() -> None:
    from meddenoise.experiments.model_cards import measure_quality

    rec = Recorder("model", uses_sigma=False)
    choice = _choice(rec, IntensitySpec("window", level=0, width=2048))
    images = [_ct_image()]
    quality = measure_quality(choice, images, levels="0,10,20", seed=5, ensemble=1)
    assert list(quality.per_sigma) == ["0", "10 HU", "20 HU"]
    assert "noisy" not in quality.per_sigma["0"]  # the clean input is not a noisy row
    assert {"model", "nlmeans", "noisy"} <= set(quality.per_sigma["10 HU"])
    assert "model_told" not in quality.rows  # a blind model is never told the std
    result = benchmark({"model": choice}, images, "0,10,20", seed=5, progress=False)
    # the identity model's row equals the noisy input's, as the benchmark scores it
    assert quality.per_sigma["20 HU"]["model"].psnr == round(result.mean("noisy", "psnr", "20"), 2)
    assert quality.rows["model"].psnr == round(result.mean("model (blind)", "psnr"), 2)
    assert "model_x8" not in quality.rows


def test_a_network_card_scores_its_x8_self_ensemble_beside_it() -> None:
    import torch

    from meddenoise.experiments.model_cards import measure_quality
    from meddenoise.methods import with_ensemble
    from meddenoise.models.denoiser import ModelDenoiser

    torch.manual_seed(0)
    net = ModelDenoiser(torch.nn.Conv2d(1, 1, 3, padding=1), name="conv", channels_last=False)
    choice = DenoiserChoice(net, IntensitySpec("window", level=0, width=2048), "conv", "checkpoint")
    images = [_ct_image()]
    quality = measure_quality(choice, images, levels="0,20", seed=5)
    assert {"model", "model_x8"} <= set(quality.rows) and "model_told_x8" not in quality.rows  # blind net
    result = benchmark({"x8": with_ensemble(choice, 8)}, images, "0,20", seed=5, progress=False)
    assert quality.rows["model_x8"].psnr == round(result.mean("x8 (blind)", "psnr"), 2)
    assert quality.rows["model_x8"].psnr != quality.rows["model"].psnr


def _ct_told_at_20_hu(*options: str) -> Result:
    """``meddenoise benchmark`` of ``ct`` alone, told the true std, on CT_small.dcm at 20 HU, plus ``options``."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    args = ["benchmark", "--data", str(path), "--models", "ct", "--classical", "", "--modes", "told"]
    return runner.invoke(app, [*args, "--levels", "20", "--no-progress", *options])


def _scores_by_row(table: str) -> dict[str, tuple[str, ...]]:
    """The first column's text → the score columns' texts (PSNR, SSIM, MAE, bias) of every row in ``table``."""
    return {
        line.split("|")[1].strip(): tuple(cell.strip() for cell in line.split("|")[2:6])
        for line in table.splitlines()
        if "|" in line
    }


def _psnr_by_row(table: str) -> dict[str, str]:
    """The first column's text → the second's (PSNR) of every table row in ``table``."""
    return {name: scores[0] for name, scores in _scores_by_row(table).items()}


@pytest.mark.integration
def test_cli_scores_a_model_beside_its_self_ensemble() -> None:
    result = _ct_told_at_20_hu("--ensemble", "1,2")
    assert result.exit_code == 0, result.output
    assert "| ct (true σ) |" in result.stdout and "| ct x2 (true σ) |" in result.stdout
    bad = _ct_told_at_20_hu("--ensemble", "eight")
    assert bad.exit_code == 2 and "--ensemble: 'eight' is not a whole number" in bad.output


@pytest.mark.integration
def test_cli_scores_a_model_at_each_strength() -> None:
    result = _ct_told_at_20_hu("--strength", "1,0")
    assert result.exit_code == 0, result.output
    rows = _psnr_by_row(result.stdout)
    # strength 0 returns the input: its row is the noisy input's; strength 1 is the model as trained
    assert rows["ct s0 (true σ)"] == rows["noisy"] != rows["ct (true σ)"]
    bad = _ct_told_at_20_hu("--strength", "half")
    assert bad.exit_code == 2 and "--strength: 'half' is not a number" in bad.output


@pytest.mark.integration
def test_cli_scores_edge_restorations_side_by_side_and_ct_leaves_white_noise_alone(tmp_path: Path) -> None:
    result = _ct_told_at_20_hu(
        "--edge-restore", "0,default,1", "--models", "ct,mri", "--out", str(tmp_path / "out")
    )
    assert result.exit_code == 0, result.output
    assert {"ct e0 (true σ)", "ct (true σ)", "ct e1 (true σ)"} <= set(_scores_by_row(result.stdout))
    with (tmp_path / "out" / "per_image.csv").open(encoding="utf-8") as handle:
        scores = {row["method"]: (row["psnr"], row["mae"]) for row in csv.DictReader(handle)}
    # the benchmark's noise is white: ct restores edges on a scanner's (correlated) noise only, so its
    # amounts give one output to full precision; mri's restoration acts on any noise, so they differ
    assert scores["ct e0 (true σ)"] == scores["ct (true σ)"] == scores["ct e1 (true σ)"]
    assert len({scores["mri e0 (true σ)"], scores["mri (true σ)"], scores["mri e1 (true σ)"]}) == 2
    bad = _ct_told_at_20_hu("--edge-restore", "some")
    assert bad.exit_code == 2 and "--edge-restore: 'some' is not a number" in bad.output


@pytest.mark.integration
def test_cli_scores_a_model_with_and_without_noise_texture() -> None:
    result = _ct_told_at_20_hu("--texture", "default,0,0.5")
    assert result.exit_code == 0, result.output
    rows = _psnr_by_row(result.stdout)
    # white noise: putting half the fine noise back costs PSNR, but leaves it above the noisy input's
    assert rows["noisy"] < rows["ct t0.5 (true σ)"] < rows["ct t0 (true σ)"]
    # ct's own texture (auto) puts nothing back at 20 HU, under its ramp
    assert rows["ct (true σ)"] == rows["ct t0 (true σ)"]
    bad = _ct_told_at_20_hu("--texture", "grain")
    assert bad.exit_code == 2 and "--texture: 'grain' is not a number" in bad.output


@pytest.mark.parametrize("mode", ["told", "blind"])
def test_the_noise_tails_past_a_percentile_mapping_reach_the_denoiser(mode: str) -> None:
    """Percentiles fitted to the noisy image cut off the noise's own tails: the denoiser must see them
    (past 0 and 1 on its scale), as `denoise` does, so that they are scored with its output."""
    yy, xx = np.mgrid[0:64, 0:64]
    plateau = (1000.0 * ((yy - 32) ** 2 + (xx - 32) ** 2 < 400)).astype(np.float32)
    image = BenchImage("mr", plateau, modality="MR", units="", dtype="float32", format="nifti")
    rec = Recorder()
    spec = IntensitySpec("percentile", low=0.5, high=99.5)
    benchmark({"rec": _choice(rec, spec)}, [image], "5%", seed=0, modes=(mode,), progress=False)
    seen = rec.inputs[0]
    assert (seen < 0).mean() > 0.003 and (seen > 1).mean() > 0.003  # the tails, unclipped
