"""A checkpoint from ``meddenoise train`` on CT DICOMs: its intensity travels with it to every entry point.

``denoise --model CKPT``, ``denoise-with CKPT`` and ``meddenoise.denoise(..., model=CKPT)`` give the same
pixels, with the intensity mapping the checkpoint recorded (not the shipped models' CT window); a
checkpoint that records none gets one log line naming the default assumed.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from meddenoise.api import denoise
from meddenoise.cli.main import app
from meddenoise.data import DEFAULT_INTENSITY, IntensitySpec
from meddenoise.io import MedicalImage
from meddenoise.methods import build_denoiser

runner = CliRunner()
WINDOW = IntensitySpec("window", level=40.0, width=400.0)
ASSUMED = "records no intensity mapping; assuming the default 'range'"


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four CT DICOM slices in HU (pydicom's CT_small under four names; the network is tiny)."""
    folder = tmp_path_factory.mktemp("ct")
    for i in range(4):
        shutil.copy(get_testdata_file("CT_small.dcm"), folder / f"slice{i}.dcm")
    return folder


def _train(data: Path, out: Path, intensity: IntensitySpec | None) -> Path:
    config = out.parent / f"{out.name}-config.json"
    cfg: dict[str, object] = {"model": "gondara-dae", "model_params": {"filters": 4}, "epochs": 1}
    if intensity is not None:
        cfg["intensity"] = intensity.to_dict()
    config.write_text(json.dumps(cfg))
    args = ["train", "--data", str(data), "--size", "32", "--config", str(config), "--batch-size", "2",
            "--out", str(out), "--threads", "1", "--quiet"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module", params=[None, WINDOW], ids=["default-intensity", "window-40-400"])
def trained(
    request: pytest.FixtureRequest, ct_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, IntensitySpec]:
    """A run folder and the intensity it was trained with (none given: the default)."""
    run = _train(ct_folder, tmp_path_factory.mktemp("runs") / "run", request.param)
    return run, request.param or DEFAULT_INTENSITY


def _stored(path: Path) -> np.ndarray:
    return np.asarray(pydicom.dcmread(path).pixel_array)


@pytest.mark.integration
def test_three_entry_points_give_the_same_pixels_with_the_recorded_intensity(
    trained: tuple[Path, IntensitySpec], tmp_path: Path
) -> None:
    run, trained_with = trained
    recorded = IntensitySpec.from_dict(json.loads((run / "best.json").read_text())["config"]["intensity"])
    assert recorded == trained_with
    assert build_denoiser(str(run)).intensity == recorded
    source = Path(get_testdata_file("CT_small.dcm"))

    result = runner.invoke(
        app, ["denoise", str(source), "-o", str(tmp_path / "cli"), "--model", str(run), "-q"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["denoise-with", str(run), str(source), "-o", str(tmp_path / "with.dcm")])
    assert result.exit_code == 0, result.output
    api = denoise(source, model=str(run), output=tmp_path / "api.dcm")
    assert isinstance(api, MedicalImage)

    cli_pixels = _stored(tmp_path / "cli" / "CT_small.dcm")
    assert np.array_equal(cli_pixels, _stored(tmp_path / "with.dcm"))
    assert np.array_equal(cli_pixels, _stored(tmp_path / "api.dcm"))
    # the recorded mapping is what was used: naming it explicitly changes nothing, another one does
    explicit = denoise(source, model=str(run), intensity=recorded)
    assert isinstance(explicit, MedicalImage) and np.array_equal(explicit.pixels, api.pixels)
    for other in (IntensitySpec("auto"), WINDOW if recorded != WINDOW else DEFAULT_INTENSITY):
        different = denoise(source, model=str(run), intensity=other)
        assert isinstance(different, MedicalImage) and not np.allclose(different.pixels, api.pixels, atol=1.0)


@pytest.mark.integration
def test_a_checkpoint_without_intensity_assumes_the_default_in_one_line(
    trained: tuple[Path, IntensitySpec], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run, trained_with = trained
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    doc = json.loads((old / "best.json").read_text())
    doc["config"].pop("intensity")
    (old / "best.json").write_text(json.dumps(doc))
    caplog.set_level(logging.WARNING, logger="meddenoise")

    assert build_denoiser(str(old)).intensity == DEFAULT_INTENSITY
    assert [r.getMessage() for r in caplog.records] == [
        f"{old}: checkpoint {ASSUMED} ({DEFAULT_INTENSITY.describe()})"
    ]
    caplog.clear()
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("a.dcm", "b.dcm"):
        shutil.copy(get_testdata_file("CT_small.dcm"), folder / name)
    result = runner.invoke(
        app, ["denoise", str(folder), "-o", str(tmp_path / "out"), "--model", str(old), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert sum(ASSUMED in r.getMessage() for r in caplog.records) == 1  # once per run, not per file
    # the default assumed is what the run used when it was trained with the default, else it differs
    reference = tmp_path / "reference.dcm"
    denoise(folder / "a.dcm", model=str(run), output=reference)
    same = np.array_equal(_stored(tmp_path / "out" / "a.dcm"), _stored(reference))
    assert same == (trained_with == DEFAULT_INTENSITY)


@pytest.mark.integration
def test_evaluate_methods_ct_and_bm3d_work(ct_folder: Path) -> None:
    from meddenoise._optional import is_available

    methods = "ct,median" + (",bm3d" if is_available("bm3d") else "")
    args = ["evaluate", "--data", str(ct_folder), "--size", "32", "--limit", "2", "--methods", methods,
            "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for method in methods.split(","):
        assert f"| {method} |" in result.output
    # the models' mapping loads the data: ct's window, so ct beats the noisy input clearly
    noisy = float(result.output.split("| noisy | ")[1].split(" ")[0])
    assert float(result.output.split("| ct | ")[1].split(" ")[0]) > noisy


@pytest.mark.integration
def test_a_folder_named_ct_does_not_change_model_ct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ct").mkdir()
    (tmp_path / "ct" / "junk.txt").write_text("not a checkpoint")
    monkeypatch.chdir(tmp_path)
    source = Path(get_testdata_file("CT_small.dcm"))
    result = runner.invoke(app, ["denoise", str(source), "-o", "out", "--model", "ct", "-q"])
    assert result.exit_code == 0, result.output
    assert "pretrained ct" in str(pydicom.dcmread(tmp_path / "out" / "CT_small.dcm").DerivationDescription)
    path = runner.invoke(app, ["denoise", str(source), "-o", "out2", "--model", "./ct", "-q"])
    assert path.exit_code == 2 and "checkpoint not found" in path.output
