"""The evaluation bench: determinism by seed, pairing, summaries, saving."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from skimage import data

from meddenoise.classical import get_classical
from meddenoise.denoiser import Denoiser
from meddenoise.experiments import NOISY, EvaluationResult, evaluate
from meddenoise.metrics import psnr, ssim
from meddenoise.noise import parse_noise

NOISE = "gaussian(p=0.1,sigma=1)"


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    camera = data.camera().reshape(64, 8, 64, 8).mean(axis=(1, 3)) / 255.0
    return np.stack([camera, camera.T, camera[::-1], camera[:, ::-1]]).astype(np.float32)


class Recorder(Denoiser):
    """Records every input it is given and returns it unchanged (to check the pairing)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[np.ndarray] = []

    def denoise_image(self, image, *, sigma=None):
        self.seen.append(image.copy())
        return image

    def denoise_batch(self, images, *, sigma=None):
        self.seen.extend(img.copy() for img in images)
        return images


def _run(clean, seed, **kwargs):
    methods = {"median": get_classical("median"), "tv": get_classical("tv")}
    return evaluate(methods, clean, NOISE, ["ssim", "psnr", "mae"], seed=seed, progress=False, **kwargs)


def _scores(result):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in result.rows]


def test_same_seed_same_scores_other_seed_other_scores(clean):
    first, again, other = _run(clean, 0), _run(clean, 0), _run(clean, 1)
    assert _scores(first) == _scores(again)
    assert _scores(first) != _scores(other)


def test_every_method_sees_the_same_noisy_images(clean):
    a, b = Recorder("a"), Recorder("b")
    result = evaluate([a, b], clean, NOISE, ["psnr"], seed=3, batch_size=3, progress=False)
    assert len(a.seen) == len(b.seen) == len(clean)
    for x, y in zip(a.seen, b.seen, strict=True):
        np.testing.assert_array_equal(x, y)
    # An identity denoiser scores exactly what the noisy input scores.
    np.testing.assert_array_equal(result.values("a", "psnr"), result.values(NOISY, "psnr"))
    # The noisy images are the noise model's draws from the per-image child seeds.
    children = np.random.SeedSequence(3).spawn(len(clean))
    expected = parse_noise(NOISE)(clean[2], rng=np.random.default_rng(children[2]))
    np.testing.assert_array_equal(a.seen[2], expected)


def test_image_noise_does_not_depend_on_how_many_images(clean):
    full = _run(clean, 5)
    first_two = _run(clean[:2], 5)
    for method in full.methods:
        np.testing.assert_array_equal(full.values(method, "ssim")[:2], first_two.values(method, "ssim"))


def test_rows_and_summary(clean):
    result = _run(clean, 0, image_names=["a", "b", "c", "d"])
    assert result.methods == (NOISY, "median", "tv")
    assert len(result.rows) == 3 * len(clean)
    row = next(r for r in result.rows if r["method"] == "median" and r["name"] == "c")
    denoised = get_classical("median")(
        parse_noise(NOISE)(clean[2], rng=np.random.default_rng(np.random.SeedSequence(0).spawn(4)[2]))
    )
    assert row["ssim"] == pytest.approx(ssim(denoised, clean[2], data_range=1.0))
    assert row["psnr"] == pytest.approx(psnr(denoised, clean[2], data_range=1.0))
    summary = {(s["method"], s["metric"]): s for s in result.summary()}
    vals = result.values("tv", "ssim")
    entry = summary[("tv", "ssim")]
    assert entry["n"] == 4
    assert entry["mean"] == pytest.approx(vals.mean())
    assert entry["std"] == pytest.approx(vals.std(ddof=1))
    assert entry["ci95_low"] < entry["mean"] < entry["ci95_high"]
    # Denoising helps: both filters beat the noisy input on SSIM for every image.
    assert (result.values("median", "ssim") > result.values(NOISY, "ssim")).all()
    diff = result.paired_difference("tv", NOISY, "ssim")
    assert diff["ci95_low"] > 0 and diff["p"] < 0.05
    markdown = result.to_markdown()
    assert "| median |" in markdown and "| noisy |" in markdown and NOISE in markdown


def test_single_image_has_no_interval(clean):
    result = _run(clean[0], 0)
    entry = next(s for s in result.summary() if s["method"] == "median" and s["metric"] == "ssim")
    assert entry["n"] == 1 and math.isnan(entry["ci95_low"])
    assert "| median |" in result.to_markdown()


def test_save_and_load(tmp_path, clean):
    result = _run(clean[:2], 0)
    paths = result.save(tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "per_image.csv",
        "summary.csv",
        "summary.md",
        "evaluation.json",
    }
    payload = json.loads(paths["json"].read_text())
    assert payload["config"]["seed"] == 0 and payload["config"]["noise"] == NOISE
    assert "numpy" in payload["versions"] and "scikit-image" in payload["versions"]
    assert paths["per_image"].read_text().splitlines()[0] == "image,name,method,ssim,psnr,mae,seconds"
    loaded = EvaluationResult.load(tmp_path / "out")
    assert loaded.to_markdown() == result.to_markdown()
    assert not list((tmp_path / "out").glob(".*.tmp*"))  # no temporary files left behind


def test_bad_input_is_refused(clean):
    median = get_classical("median")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate([median], clean, NOISE, ["fsim"], seed=0, progress=False)
    with pytest.raises(ValueError, match="reserved"):
        evaluate({NOISY: median}, clean, NOISE, ["ssim"], seed=0, progress=False)
    with pytest.raises(ValueError, match="called 'median'"):
        evaluate([median, get_classical("median", size=5)], clean, NOISE, ["ssim"], seed=0, progress=False)
    with pytest.raises(ValueError, match="image names"):
        evaluate([median], clean, NOISE, ["ssim"], seed=0, image_names=["x"], progress=False)


def test_images_of_different_shapes(clean):
    images = [clean[0], clean[1][:40, :48], clean[2]]
    result = evaluate([get_classical("median")], images, parse_noise(NOISE), ["ssim"], seed=0, progress=False)
    assert result.config["shapes"] == ["40x48", "64x64"]
    assert result.values("median", "ssim").shape == (3,)
