"""``meddenoise export`` and ``denoise --backend onnx`` end to end on a small image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from meddenoise._optional import is_available
from meddenoise.cli.main import app

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (is_available("onnx") and is_available("onnxruntime")),
        reason="needs onnx and onnxruntime (pip install 'meddenoise[onnx]')",
    ),
]

runner = CliRunner()


def test_export_then_denoise_with_the_onnx_back_end_and_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:45, :38]
    clean = 20000 + 30000 * (((yy - 22) ** 2 + (xx - 19) ** 2) < 150)
    source = tmp_path / "in" / "slice.png"
    source.parent.mkdir()
    Image.fromarray(np.clip(clean + rng.normal(0, 2000, clean.shape), 0, 65535).astype(np.uint16)).save(
        source
    )

    model_file = tmp_path / "xray.onnx"
    result = runner.invoke(app, ["export", "xray", "-o", str(model_file)])
    assert result.exit_code == 0, result.output
    assert model_file.is_file() and f"wrote {model_file}" in result.output
    again = runner.invoke(app, ["export", "xray", "-o", str(model_file)])
    assert again.exit_code == 2 and "already exists" in again.output
    from meddenoise.denoiser import repeats_above_one
    from meddenoise.methods import build_denoiser

    assert not repeats_above_one(build_denoiser(str(model_file)).denoiser)  # xray's card: told the level

    outputs = {}
    for key, args in {
        "torch": ["--model", "xray"],
        "onnx": ["--model", "xray", "--backend", "onnx"],
        "file": ["--model", str(model_file)],
    }.items():
        out_dir = tmp_path / key
        run = runner.invoke(app, ["denoise", str(source), "-o", str(out_dir), "-q", *args])
        assert run.exit_code == 0, (key, run.output)
        outputs[key] = np.asarray(Image.open(out_dir / "slice.png"), dtype=np.float64)
    assert (
        np.abs(outputs["torch"] - np.asarray(Image.open(source), dtype=np.float64)).mean() > 100
    )  # denoised
    for key in ("onnx", "file"):
        # 1e-4 on [0, 1] is a few of the 65536 levels at most; rounding may move a pixel by one more
        assert np.abs(outputs[key] - outputs["torch"]).max() <= 65535 * 1e-4 + 1, key

    bad = runner.invoke(app, ["denoise", str(source), "-o", str(tmp_path / "x"), "--backend", "tf"])
    assert bad.exit_code == 2 and "unknown back end" in bad.output


def _phantom_ct(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A CT-like slice in HU: air, a body of soft tissue with a fat band and a bright disc."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    body = np.where(xx**2 + yy**2 < (0.45 * size) ** 2, 40.0, -1000.0)
    body = np.where((body > 0) & (np.abs(xx) < 0.1 * size), -100.0, body)
    return np.where((xx - 0.2 * size) ** 2 + yy**2 < (0.1 * size) ** 2, 300.0, body) + rng.normal(
        0, 8, body.shape
    )


def test_the_int8_fast_tier_quantizes_the_middle_of_the_network_and_still_denoises(tmp_path: Path) -> None:
    import onnx
    import pydicom
    from pydicom.data import get_testdata_file

    from meddenoise.methods import build_denoiser
    from meddenoise.models.onnx import QUANTIZED_FLOAT_ENDS, onnx_metadata

    calibration = tmp_path / "calibration"
    calibration.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(calibration / "ct.dcm")
    fast, plain = tmp_path / "ct-int8.onnx", tmp_path / "ct.onnx"
    result = runner.invoke(app, ["export", "ct", "-o", str(fast), "--int8", str(calibration)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["export", "ct", "-o", str(plain)]).exit_code == 0
    assert "int8 convolutions" in onnx_metadata(fast)["meddenoise.quantized"]
    assert "meddenoise.quantized" not in onnx_metadata(plain)
    graph = onnx.load(fast).graph
    convolutions = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    from_int8 = [made_by.get(conv.input[1]) == "DequantizeLinear" for conv in convolutions]
    first, last = QUANTIZED_FLOAT_ENDS
    assert not any(from_int8[:first]) and not any(from_int8[-last:])  # the ends stay float
    assert len(from_int8) > first + last and all(from_int8[first:-last])  # the middle runs in int8
    export = typer.main.get_command(app).commands["export"]  # type: ignore[attr-defined]
    int8_help = next(param.help for param in export.params if param.name == "int8")
    assert f"first {first} and last {last}" in str(int8_help)  # --help says what the file keeps in float32
    # on a phantom it never saw: it denoises, nearly as well as the float32 file (its error at most 10 % larger;
    # on the held-apart CT the two-block ct's int8 file costs 0.04-0.07 dB told, docs/denoise.md)
    rng = np.random.default_rng(1)
    clean = _phantom_ct(rng)
    noisy = clean + rng.normal(0, 30, clean.shape)
    unit = [np.clip((x + 1024) / 2048, 0, 1).astype(np.float32) for x in (clean, noisy)]
    outputs = [build_denoiser(str(f)).denoiser(unit[1], sigma=30 / 2048) for f in (fast, plain)]
    errors = [float(np.abs(out - unit[0]).mean()) for out in outputs]
    assert np.abs(outputs[0] - outputs[1]).max() > 0  # the int8 file computes differently
    # the card inside the file says how strength goes past 1: ct runs again on its output, as shipped
    from meddenoise.denoiser import repeats_above_one

    assert all(repeats_above_one(build_denoiser(str(f)).denoiser) for f in (fast, plain))
    assert errors[0] < 1.1 * errors[1] and errors[0] < 0.6 * np.abs(unit[1] - unit[0]).mean()
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(app, ["export", "ct", "-o", str(tmp_path / "x.onnx"), "--int8", str(empty)])
    assert bad.exit_code == 2 and "no images to calibrate" in bad.output


def test_int8_calibration_reads_at_most_16_images_of_a_big_folder(tmp_path: Path) -> None:
    from meddenoise.models.onnx import onnx_metadata

    rng = np.random.default_rng(0)
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(20):
        Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(folder / f"{k:02d}.png")
    # the third of 21 files: 16 evenly spaced ones (0, 1, 3, 4, ...) are read, so this one never is
    (folder / "01x.png").write_text("not a png")
    result = runner.invoke(app, ["export", "general", "-o", str(tmp_path / "g.onnx"), "--int8", str(folder)])
    assert result.exit_code == 0, result.output
    assert "calibrated on 16 slice(s)" in onnx_metadata(tmp_path / "g.onnx")["meddenoise.quantized"]
