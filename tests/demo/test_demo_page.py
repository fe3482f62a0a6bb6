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


def test_demo_scores_through_the_one_scoring_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meddenoise.evaluation
    from meddenoise.evaluation import bench

    calls: list[tuple[dict[str, object], bench.EvaluationResult]] = []

    def recording_evaluate(*args: object, **kwargs: object) -> bench.EvaluationResult:
        result = bench.evaluate(*args, **kwargs)  # type: ignore[arg-type]
        calls.append((kwargs, result))
        return result

    monkeypatch.setattr(meddenoise.evaluation, "evaluate", recording_evaluate)
    rng = np.random.default_rng(0)
    samples = [("a", "CT", rng.random((24, 24)).astype(np.float32)), ("b", "US", np.full((16, 20), 0.5))]
    result = run_demo(tmp_path / "demo", samples=samples, include_bm3d=False, seed=3)
    assert len(calls) == len(samples)  # one evaluation per sample, every method of it at once
    for (kwargs, scored), (name, _, _) in zip(calls, samples, strict=True):
        assert kwargs["clip_outputs"] is True and kwargs["noisy"] is not None
        rows = [row for row in result.rows if row["sample"] == name]
        assert [row["method"] for row in rows] == ["noisy input", *scored.methods[1:]]
        for row, method in zip(rows, scored.methods, strict=True):
            assert row["PSNR (dB)"] == round(float(scored.values(method, "psnr")[0]), 2)
            assert row["SSIM"] == round(float(scored.values(method, "ssim")[0]), 4)
