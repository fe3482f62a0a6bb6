"""meddenoise.evaluation: score conventions (data_range, SSIM window), kept outputs, given noisy images."""

from __future__ import annotations

import numpy as np
import pytest

from meddenoise.classical import get_classical
from meddenoise.denoiser import Denoiser
from meddenoise.evaluation import NOISY, Score, evaluate, score_images
from meddenoise.metrics import ssim


@pytest.fixture
def clean(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    base = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)
    return np.stack([base, base[::-1], base.T]).astype(np.float32)


def test_data_range_changes_ssim_as_the_formula_says(clean: np.ndarray) -> None:
    median = {"median": get_classical("median")}
    one = evaluate(median, clean, "gaussian(p=0.1,sigma=1)", ["ssim"], seed=0, progress=False)
    two = evaluate(median, clean, "gaussian(p=0.1,sigma=1)", ["ssim"], seed=0, data_range=2.0, progress=False)
    # larger data_range → larger constants C1, C2 → SSIM closer to 1
    assert np.all(two.values("median", "ssim") > one.values("median", "ssim"))
    assert two.config["data_range"] == 2.0
    kept = evaluate(
        median, clean, "gaussian(p=0.1,sigma=1)", ["ssim"], seed=0, keep_outputs=True, progress=False
    )
    out = kept.output("median")[0]
    assert two.values("median", "ssim")[0] == pytest.approx(ssim(out, clean[0], data_range=2.0))


def test_ssim_window_option(clean: np.ndarray) -> None:
    noisy = np.clip(clean + 0.1, 0, 1)
    seven = score_images(clean, noisy, [Score("ssim")])["ssim"]
    eleven = score_images(clean, noisy, [Score("ssim", win_size=11, gaussian_weights=True)])["ssim"]
    np.testing.assert_allclose(seven, [ssim(n, c, data_range=1.0) for n, c in zip(noisy, clean, strict=True)])
    expected = [
        ssim(n, c, data_range=1.0, win_size=11, gaussian_weights=True)
        for n, c in zip(noisy, clean, strict=True)
    ]
    np.testing.assert_allclose(eleven, expected)
    assert not np.allclose(seven, eleven)
    res = evaluate(
        {},
        clean,
        "gaussian(sigma=0.1)",
        ["ssim", "psnr"],
        seed=1,
        ssim_window=11,
        ssim_gaussian=True,
        progress=False,
    )
    assert "11x11 Gaussian" in res.config["scores"]["ssim"]
    with pytest.raises(ValueError, match="SSIM only"):
        Score("psnr", win_size=7)


def test_kept_outputs_are_the_denoiser_outputs_and_the_noisy_inputs(clean: np.ndarray) -> None:
    median = get_classical("median", size=3)
    res = evaluate(
        {"median": median}, clean, "gaussian(sigma=0.1)", ["psnr"], seed=3, keep_outputs=True, progress=False
    )
    assert set(res.outputs) == {NOISY, "median"}
    noisy = res.output(NOISY)
    np.testing.assert_array_equal(res.output("median"), median(noisy))
    no_keep = evaluate({"median": median}, clean, "gaussian(sigma=0.1)", ["psnr"], seed=3, progress=False)
    assert no_keep.outputs == {}
    with pytest.raises(KeyError, match="keep_outputs=True"):
        no_keep.output("median")


def test_given_noisy_images_several_conventions_and_clipping(clean: np.ndarray) -> None:
    noisy = np.clip(clean + np.float32(0.05), 0, 1).astype(np.float32)
    scores = [Score("ssim", win_size=7), Score("ssim_dr2", metric="ssim", data_range=2.0), Score("psnr")]

    class Brighten(Denoiser):
        def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
            return image + 0.5

    res = evaluate(
        {"up": Brighten()},
        clean,
        None,
        scores,
        seed=0,
        noisy=noisy,
        clip_outputs=True,
        keep_outputs=True,
        progress=False,
    )
    np.testing.assert_array_equal(res.output(NOISY), noisy)
    assert res.output("up").max() <= 1.0 and res.config["noise"] == "given"
    direct = score_images(clean, noisy, scores)
    for name in ("ssim", "ssim_dr2", "psnr"):
        np.testing.assert_array_equal(res.values(NOISY, name), direct[name])
    with pytest.raises(ValueError, match="noise model"):
        evaluate({}, clean, None, ["psnr"], seed=0, progress=False)


def test_per_image_sigma_reaches_the_denoiser(clean: np.ndarray) -> None:
    seen: list[float | None] = []

    class Spy(Denoiser):
        uses_sigma = True

        def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
            seen.append(sigma)
            return image

    evaluate(
        {"spy": Spy()}, clean, "gaussian(sigma=0.1)", ["psnr"], seed=0, sigma=[0.1, 0.2, 0.3], progress=False
    )
    assert seen == [0.1, 0.2, 0.3]
