"""``meddenoise export`` and ``denoise --backend onnx`` end to end on a small image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
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
