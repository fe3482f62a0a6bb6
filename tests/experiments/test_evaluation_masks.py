"""Masked scores in the evaluation layer: Score(masked=True), score_images/evaluate(masks=), evaluate --mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.data.normalize import Normalizer
from meddenoise.denoiser import Denoiser
from meddenoise.evaluation import Score, evaluate, score_images, with_masked
from meddenoise.evaluation.masks import masks_for_images
from meddenoise.metrics.masks import MaskRule, body_mask


class _WrongOnTheLeft(Denoiser):
    """Returns its input with the left quarter set to 0: wrong exactly there."""

    name = "left"

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        out = image.copy()
        out[:, : image.shape[1] // 4] = 0.0
        return out


def test_with_masked_pairs_every_maskable_score() -> None:
    scores = with_masked(["ssim", "psnr", "ms_ssim"], data_range=2.0)
    assert [s.name for s in scores] == ["ssim", "ssim_masked", "psnr", "psnr_masked", "ms_ssim"]
    assert all(s.data_range == 2.0 for s in scores)
    with pytest.raises(ValueError, match="cannot be masked"):
        Score("ms_ssim", masked=True)
    with pytest.raises(ValueError, match="give the images' masks"):
        score_images(np.zeros((8, 8)), np.zeros((8, 8)), [Score("mae", masked=True)])


def test_evaluate_scores_inside_the_mask_as_computed_by_hand() -> None:
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.3, 0.7, (3, 16, 24)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
    mask = np.zeros((16, 24), bool)
    mask[:, 6:] = True  # excludes the wrong quarter
    result = evaluate(
        {"left": _WrongOnTheLeft()}, clean, None, with_masked(["mae"]), noisy=noisy, seed=0, progress=False,
        masks=[mask] * 3, mask_name="right part",
    )  # fmt: skip
    by_hand_in = [np.abs(n - c)[mask].mean() for n, c in zip(noisy, clean, strict=True)]
    by_hand_all = [
        np.abs(np.where(np.arange(24) < 6, 0.0, n) - c).mean() for n, c in zip(noisy, clean, strict=True)
    ]
    np.testing.assert_allclose(result.values("left", "mae_masked"), by_hand_in, rtol=1e-6)
    np.testing.assert_allclose(result.values("left", "mae"), by_hand_all, rtol=1e-6)
    assert result.config["mask"] == "right part" and result.config["mask_fraction"] == pytest.approx(0.75)
    assert "inside the right part mask (75%" in result.to_markdown()


def test_a_rule_is_applied_to_each_clean_image_and_thresholds_are_in_image_units() -> None:
    yy, xx = np.mgrid[:32, :32]
    hu = np.where((yy - 16) ** 2 + (xx - 16) ** 2 < 100, 40.0, -1000.0).astype(np.float32)
    normalizer = Normalizer.from_range(-1024, 3071, units="HU")
    unit = normalizer.forward(hu)
    (mask,) = masks_for_images("threshold:-500", [unit], [normalizer.to_dict()])
    assert np.array_equal(mask, hu > -500)
    (body,) = masks_for_images("body", [unit], [normalizer.to_dict()])
    assert np.array_equal(body, body_mask(hu))
    values = score_images(unit, unit * 0.5, [Score("mae", masked=True)], masks=MaskRule("body"))
    assert values["mae"][0] == pytest.approx(0.5 * unit[body].mean())
    with pytest.raises(ValueError, match="unknown mask"):
        masks_for_images("lungs", [unit])


@pytest.mark.integration
def test_evaluate_cli_mask_body_and_file(tmp_path: Path) -> None:
    folder = tmp_path / "pngs"
    folder.mkdir()
    yy, xx = np.mgrid[:40, :40]
    for i in range(2):
        image = np.where((yy - 20) ** 2 + (xx - 20) ** 2 < 150 + 30 * i, 180, 5).astype(np.uint8)
        Image.fromarray(image).save(folder / f"m{i}.png")
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(folder), "--methods", "median", "--mask", "body", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "| method | ssim | ssim_masked | psnr | psnr_masked | ms / image |" in result.output
    assert "inside the body mask" in result.output
    wrong = tmp_path / "mask.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(wrong)
    bad = CliRunner().invoke(
        app, ["evaluate", "--data", str(folder), "--methods", "median", "--mask", str(wrong)]
    )
    assert bad.exit_code == 2 and "does not match" in bad.output
