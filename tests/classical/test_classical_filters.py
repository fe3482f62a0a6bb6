"""Classical baselines: each reduces the error of a noisy image, keeps shape/dtype, batches, tunes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from skimage import data

from meddenoise.classical import (
    BM3D_MISSING_MESSAGE,
    CLASSICAL_METHODS,
    DEFAULT_GRIDS,
    CalibratedDenoiser,
    bm3d_available,
    get_classical,
    tune_classical,
)
from meddenoise.metrics import mse

SIGMA = 0.1


@pytest.fixture(scope="module")
def camera_pair() -> tuple[np.ndarray, np.ndarray]:
    # A real photograph shrunk to 64x64 by area averaging, as the project shrinks mammograms.
    clean = (data.camera().reshape(64, 8, 64, 8).mean(axis=(1, 3)) / 255.0).astype(np.float32)
    noisy = np.clip(clean + SIGMA * np.random.default_rng(7).standard_normal(clean.shape), 0, 1)
    return clean, noisy.astype(np.float32)


def _cases() -> list:
    # Every filter blind and with the true sigma; BM3D (~0.5 s per 64x64 image on two idle cores)
    # only once, with sigma given: its blind path is the shared noise_level() code.
    bm3d_mark = pytest.mark.skipif(not bm3d_available(), reason="bm3d not installed")
    cases = [
        pytest.param(name, sigma) for name in CLASSICAL_METHODS if name != "bm3d" for sigma in (None, SIGMA)
    ]
    return [*cases, pytest.param("bm3d", SIGMA, marks=bm3d_mark)]


@pytest.mark.parametrize(("name", "given_sigma"), _cases())
def test_filter_reduces_error_and_keeps_shape(camera_pair, name, given_sigma):
    clean, noisy = camera_pair
    if name == "bm3d":  # a quarter of the image keeps the default tests fast
        clean, noisy = clean[:32, :32], noisy[:32, :32]
    before = noisy.copy()
    denoised = get_classical(name)(noisy, sigma=given_sigma)
    assert denoised.shape == noisy.shape
    assert denoised.dtype == np.float32
    assert np.array_equal(noisy, before), "the input was modified"
    assert denoised.min() >= 0.0 and denoised.max() <= 1.0
    assert mse(denoised, clean) < 0.7 * mse(noisy, clean)


@pytest.mark.parametrize("name", [n for n in CLASSICAL_METHODS if n != "bm3d"])
def test_batch_equals_image_by_image(camera_pair, name):
    _, noisy = camera_pair
    batch = np.stack([noisy[:32, :32], noisy[32:, 32:], noisy[:32, 32:]])
    denoiser = get_classical(name)
    out = denoiser(batch)
    assert out.shape == batch.shape and out.dtype == np.float32
    for i in range(len(batch)):
        np.testing.assert_allclose(out[i], denoiser(batch[i]), atol=1e-6)


def test_known_sigma_is_used(camera_pair):
    _, noisy = camera_pair
    nlmeans = get_classical("nlmeans")
    assert not np.allclose(nlmeans(noisy, sigma=0.02), nlmeans(noisy, sigma=0.2))
    median = get_classical("median", size=5)
    assert np.array_equal(median(noisy, sigma=0.02), median(noisy, sigma=0.2))  # median ignores sigma


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="unknown classical method"):
        get_classical("wiener")
    with pytest.raises(TypeError, match="unknown parameter"):
        get_classical("median", h=3)
    with pytest.raises(ValueError, match="size"):
        get_classical("median", size=0)
    with pytest.raises(ValueError, match="weight_factor"):
        get_classical("tv", weight_factor=-1)
    with pytest.raises(ValueError, match="sigma"):
        get_classical("nlmeans")(np.zeros((16, 16), np.float32), sigma=-0.1)
    assert get_classical("median", size=5).params["size"] == 5


def test_filters_take_keyword_only_parameters_with_the_documented_defaults():
    from meddenoise.classical import MedianDenoiser, NLMeansDenoiser, TVDenoiser

    assert MedianDenoiser.defaults == {"size": 3}
    assert NLMeansDenoiser.defaults == {
        "h": None,
        "h_factor": 0.8,
        "patch_size": 5,
        "patch_distance": 6,
        "fast_mode": True,
    }
    with pytest.raises(TypeError):
        MedianDenoiser(5)  # positional: refused
    tv = TVDenoiser(weight_factor=0.5)
    assert tv.weight_factor == 0.5 and tv.params == {
        "weight": None,
        "weight_factor": 0.5,
        "max_num_iter": 200,
    }
    assert repr(get_classical("median", size=5)) == "MedianDenoiser(size=5)"
    for name in CLASSICAL_METHODS:  # get_classical accepts exactly the constructor's keywords
        if name != "bm3d" or bm3d_available():
            assert get_classical(name).params == get_classical(name).defaults


def test_bm3d_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
    with pytest.raises(
        ImportError, match=r"needs the optional package 'bm3d' \(pip install 'meddenoise\[bm3d\]'"
    ):
        get_classical("bm3d")
    assert "non-commercial" in BM3D_MISSING_MESSAGE


@pytest.mark.skipif(not bm3d_available(), reason="bm3d not installed")
def test_bm3d_threads_and_profile_reach_the_package(monkeypatch, camera_pair):
    import bm3d

    seen: list[object] = []

    def spy(image: np.ndarray, sigma_psd: float, profile: object) -> np.ndarray:
        seen.append(profile)
        return image

    monkeypatch.setattr(bm3d, "bm3d", spy)
    _, noisy = camera_pair
    get_classical("bm3d", threads=1, profile="refilter")(noisy[:16, :16], sigma=SIGMA)
    get_classical("bm3d")(noisy[:16, :16], sigma=SIGMA)
    single, automatic = seen
    assert isinstance(single, bm3d.BM3DProfileRefilter) and single.num_threads == 1
    assert type(automatic) is bm3d.BM3DProfile and automatic.num_threads == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [({"profile": "fast"}, r"bm3d: unknown profile 'fast'; choose from np, "), ({"threads": -1}, r"threads")],
)
def test_bm3d_refuses_an_unknown_profile_or_thread_count(params, message):
    if not bm3d_available():
        pytest.skip("bm3d not installed")
    with pytest.raises(ValueError, match=message):
        get_classical("bm3d", **params)


@pytest.mark.parametrize("spelling", [{"name": "calibrated-tv"}, {"name": "tv", "calibrate": True}])
def test_self_calibration_picks_from_the_grid(camera_pair, spelling):
    clean, noisy = camera_pair
    denoiser = get_classical(**spelling)
    assert isinstance(denoiser, CalibratedDenoiser) and denoiser.name == "calibrated-tv"
    out = denoiser(noisy)
    assert denoiser.last_params is not None
    assert denoiser.last_params["weight_factor"] in DEFAULT_GRIDS["tv"]["weight_factor"]
    # The calibrated filter equals the plain filter with the chosen parameter.
    np.testing.assert_array_equal(out, get_classical("tv", **denoiser.last_params)(noisy))
    assert mse(out, clean) < 0.8 * mse(noisy, clean)


def test_self_calibration_avoids_extreme_strengths(camera_pair):
    _, noisy = camera_pair
    denoiser = get_classical("calibrated-gaussian", grid={"width": [0.3, 1.0, 8.0]})
    denoiser(noisy)
    # A tiny blur leaves the noise, a huge one destroys the image: the J-invariant loss knows both.
    assert denoiser.last_params == {"width": 1.0}


def test_tune_classical_returns_the_best_grid_point(camera_pair):
    clean, noisy = camera_pair
    grid = {"weight": [0.01, 0.08, 0.5]}
    best, scores = tune_classical("tv", clean, noisy, grid, metric="psnr", return_scores=True)
    assert [s[0]["weight"] for s in scores] == grid["weight"]
    assert best == max(scores, key=lambda item: item[1])[0]
    assert best["weight"] == 0.08
    best_mse = tune_classical("tv", clean[None], noisy[None], grid, metric="mse", fixed={"max_num_iter": 50})
    assert best_mse == {"max_num_iter": 50, "weight": 0.08}
    with pytest.raises(ValueError, match="shape"):
        tune_classical("tv", clean, noisy[:10], grid)
    with pytest.raises(ValueError, match="no values"):
        tune_classical("tv", clean, noisy, {"weight": []})
