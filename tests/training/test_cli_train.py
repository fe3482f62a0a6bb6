"""`meddenoise train` and `meddenoise denoise-with` end to end on a temporary folder of PNGs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from training_helpers import make_images
from typer.testing import CliRunner

from meddenoise import provenance
from meddenoise.cli.main import app

runner = CliRunner()


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(make_images(10, size=32, seed=5)):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--data", str(data), "--size", "16", "--model", "gondara-dae", "--model-param", "filters=4",
        "--noise", "gaussian(p=0.1,sigma=1)", "--epochs", "2", "--batch-size", "4", "--out", str(out),
        "--threads", "1", "--quiet", *extra,
    ]  # fmt: skip


@pytest.mark.integration
def test_cli_train_then_resume_with_more_epochs(tmp_path: Path, png_folder: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, _train_args(png_folder, out, "--seed", "7", "--limit", "8"))
    assert result.exit_code == 0, result.output
    assert "on 8 images of 16x16" in result.output and "best epoch" in result.output
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["model_params"], cfg["seed"], cfg["epochs"]) == ({"filters": 4}, 7, 2)
    assert len(json.loads((out / "history.json").read_text())) == 2
    # Running again without --resume is refused; --resume with more epochs continues.
    again = runner.invoke(app, _train_args(png_folder, out, "--seed", "7", "--limit", "8"))
    assert again.exit_code == 2 and "already holds a training run" in again.output
    more = runner.invoke(
        app, [*_train_args(png_folder, out, "--seed", "7", "--limit", "8", "--resume"), "--epochs", "3"]
    )
    assert more.exit_code == 0, more.output
    assert len(json.loads((out / "history.json").read_text())) == 3


@pytest.mark.integration
def test_cli_train_reports_bad_options_in_one_line(tmp_path: Path, png_folder: Path) -> None:
    result = runner.invoke(app, _train_args(png_folder, tmp_path / "run", "--loss", "hinge"))
    assert result.exit_code == 2
    assert "invalid training config" in result.output and "loss" in result.output
    unknown = runner.invoke(app, _train_args(png_folder, tmp_path / "run", "--mode", "gan"))
    assert unknown.exit_code == 2 and "unknown objective kind 'gan'" in unknown.output
    missing = runner.invoke(app, _train_args(tmp_path / "nowhere", tmp_path / "run2"))
    assert missing.exit_code == 2 and "nowhere" in missing.output


@pytest.mark.integration
def test_cli_train_reads_a_config_file(tmp_path: Path, png_folder: Path) -> None:
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"model": "stacked-dae", "model_params": {"channels": [4, 4]},
                                  "pretrain_epochs_per_layer": 1, "epochs": 1, "batch_size": 5}))  # fmt: skip
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(png_folder),
        "--size",
        "16",
        "--config",
        str(config),
        "--out",
        str(out),
        "-q",
    ]
    result = runner.invoke(app, [*args, "--mode", "noise2noise", "--threads", "1"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())
    assert (saved["model"], saved["objective"]["kind"], saved["batch_size"]) == (
        "stacked-dae",
        "noise2noise",
        5,
    )
    assert [r["phase"] for r in json.loads((out / "history.json").read_text())] == [
        "pretrain-layer-0",
        "pretrain-layer-1",
        "train",
    ]


@pytest.mark.integration
def test_denoise_with_a_trained_checkpoint(tmp_path: Path, png_folder: Path) -> None:
    out = tmp_path / "run"
    assert runner.invoke(app, _train_args(png_folder, out)).exit_code == 0
    source = png_folder / "img03.png"
    before = source.read_bytes()
    target = tmp_path / "denoised.png"
    result = runner.invoke(app, ["denoise-with", str(out), str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before
    denoised = np.asarray(Image.open(target))
    assert denoised.shape == (32, 32) and denoised.dtype == np.uint8
    refused = runner.invoke(app, ["denoise-with", str(out), str(source), "-o", str(source)])
    assert refused.exit_code == 2 and "refusing" in refused.output
    bad = runner.invoke(app, ["denoise-with", str(tmp_path / "nothing"), str(source), "-o", str(target)])
    assert bad.exit_code == 2 and "checkpoint not found" in bad.output


@pytest.mark.integration
def test_cli_train_with_an_explicit_validation_folder(tmp_path: Path, png_folder: Path) -> None:
    val_folder = tmp_path / "val"
    val_folder.mkdir()
    for name in ("img08.png", "img09.png"):
        (png_folder / name).rename(val_folder / name)
    out = tmp_path / "run"
    result = runner.invoke(app, _train_args(png_folder, out, "--val-data", str(val_folder), "--augment"))
    assert result.exit_code == 0, result.output
    assert "on 8 images of 16x16, validating on 2" in result.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"]["augment_flips"] and saved["data"]["augment_rot90"]
    assert json.loads((out / "best.json").read_text())["metadata"]["n_val"] == 2


@pytest.mark.integration
def test_cli_precision_is_recorded_and_a_resume_keeps_it_on_another_cpu(
    tmp_path: Path, png_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    monkeypatch.setattr(provenance, "native_bf16", lambda device_type="cpu": False)
    first = runner.invoke(app, _train_args(png_folder, out, "--limit", "8"))  # precision auto → fp32 here
    assert first.exit_code == 0, first.output
    assert "images/s (fp32)" in first.output
    assert json.loads((out / "config.json").read_text())["precision"] == "fp32"
    monkeypatch.setattr(provenance, "native_bf16", lambda device_type="cpu": True)  # "another CPU"
    with caplog.at_level(logging.WARNING, logger="meddenoise.training.trainer"):
        more = runner.invoke(
            app, [*_train_args(png_folder, out, "--limit", "8", "--resume"), "--epochs", "3"]
        )
    assert more.exit_code == 0, more.output
    assert "images/s (fp32)" in more.output
    assert [r.getMessage() for r in caplog.records if "resuming with precision 'fp32'" in r.getMessage()]
    explicit = runner.invoke(
        app, _train_args(png_folder, tmp_path / "bf16", "--limit", "8", "--precision", "fp32")
    )
    assert explicit.exit_code == 0 and "images/s (fp32)" in explicit.output  # explicit wins over the detector
    bad = runner.invoke(app, _train_args(png_folder, tmp_path / "bad", "--precision", "fp16"))
    assert bad.exit_code == 2 and "invalid training config" in bad.output and "precision" in bad.output


@pytest.mark.integration
def test_denoise_with_refuses_an_existing_output_unless_overwrite(tmp_path: Path, png_folder: Path) -> None:
    out = tmp_path / "run"
    assert runner.invoke(app, _train_args(png_folder, out)).exit_code == 0
    target = tmp_path / "denoised.png"
    target.write_bytes(b"precious")
    refused = runner.invoke(app, ["denoise-with", str(out), str(png_folder / "img03.png"), "-o", str(target)])
    assert refused.exit_code == 1 and f"{target}: exists; pass --overwrite" in refused.output
    assert target.read_bytes() == b"precious"
    replaced = runner.invoke(
        app, ["denoise-with", str(out), str(png_folder / "img03.png"), "-o", str(target), "--overwrite"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert np.asarray(Image.open(target)).shape == (32, 32)


@pytest.mark.integration
def test_resume_on_other_data_is_refused_unless_forced(tmp_path: Path, png_folder: Path) -> None:
    out = tmp_path / "run"
    assert runner.invoke(app, _train_args(png_folder, out, "--limit", "8")).exit_code == 0
    fewer = runner.invoke(app, [*_train_args(png_folder, out, "--limit", "6", "--resume"), "--epochs", "3"])
    assert fewer.exit_code == 2
    assert "cannot resume: the training data differ" in fewer.output and "limit: 8 → 6" in fewer.output
    assert len(json.loads((out / "history.json").read_text())) == 2  # nothing trained
    # same file names and sizes, other pixels: the arrays' fingerprint still sees it
    first = png_folder / "img00.png"
    pixels = np.asarray(Image.open(first))
    Image.fromarray(255 - pixels).save(first)
    changed = runner.invoke(app, [*_train_args(png_folder, out, "--limit", "8", "--resume"), "--epochs", "3"])
    assert changed.exit_code == 2 and "the training data differ" in changed.output
    forced = runner.invoke(
        app, [*_train_args(png_folder, out, "--limit", "8", "--resume", "--force-resume"), "--epochs", "3"]
    )
    assert forced.exit_code == 0, forced.output
    assert len(json.loads((out / "history.json").read_text())) == 3


@pytest.mark.integration
def test_train_reports_unreadable_files_and_carries_on_unless_strict(
    tmp_path: Path, png_folder: Path
) -> None:
    bad = png_folder / "img99.png"
    bad.write_bytes(b"not a png at all")
    result = runner.invoke(app, _train_args(png_folder, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "img99.png" in line] == [
        f"skipped {bad}: not an image file Pillow can identify"
    ]
    assert "on 10 images" in result.output and "Traceback" not in result.output
    strict = runner.invoke(app, _train_args(png_folder, tmp_path / "strict", "--strict"))
    assert strict.exit_code == 2 and f"{bad}: not an image file" in strict.output
    assert not (tmp_path / "strict").exists()


@pytest.mark.integration
def test_train_into_an_unwritable_folder_is_one_line(tmp_path: Path, png_folder: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, _train_args(png_folder, blocker / "run"))
    assert result.exit_code == 1 and "cannot write" in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1


@pytest.mark.integration
def test_cli_trains_redcnn_and_the_checkpoint_denoises(tmp_path: Path, png_folder: Path) -> None:
    """RED-CNN, the LDCT baseline, trains from the command line and its checkpoint is a denoiser."""
    from meddenoise.methods import build_denoiser

    out = tmp_path / "redcnn"
    args = _train_args(png_folder, out, "--limit", "4", "--epochs", "1")
    args[args.index("gondara-dae")] = "redcnn"
    args[args.index("filters=4")] = "width=4"
    result = runner.invoke(app, [*args, "--size", "24"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["model"] == "redcnn"
    denoiser = build_denoiser(str(out)).denoiser
    image = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    assert denoiser.denoise_image(image).shape == (24, 24)
