"""The demo: noisy samples → models and filters → one self-contained HTML page."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.demo import run_demo


def test_demo_page_has_images_and_a_metrics_table(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    phantom = (0.3 + 0.4 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.1)).astype(np.float32)
    result = run_demo(tmp_path / "demo", samples=[("phantom", "CT", phantom)], include_bm3d=False, seed=1)
    html = result.html.read_text(encoding="utf-8")
    methods = [row["method"] for row in result.rows]
    assert {row["sample"] for row in result.rows} == {"phantom"}
    assert methods[0] == "noisy input" and "median 3x3" in methods and "nlmeans" in methods
    # clean + noisy + one image per method
    assert len(re.findall(r"data:image/png;base64,", html)) == 2 + len(methods) - 1
    assert "<table" in html and "PSNR (dB)" in html and "meddenoise demo" in html
    assert "meddenoise view scans/ denoised/" in html  # how to open one's own comparison in the viewer
    noisy_psnr = result.rows[0]["PSNR (dB)"]
    assert all(row["PSNR (dB)"] > noisy_psnr for row in result.rows[1:])  # every method helps here
    again = run_demo(tmp_path / "again", samples=[("phantom", "CT", phantom)], include_bm3d=False, seed=1)
    assert [r["PSNR (dB)"] for r in again.rows] == [r["PSNR (dB)"] for r in result.rows]  # seeded


@pytest.mark.slow
@pytest.mark.integration
def test_meddenoise_demo_on_the_built_in_samples(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "index.html").is_file()
    assert "Demo page" in result.output
