"""Losses: SSIM agrees with scikit-image, MS-SSIM+L1 and masked per-pixel losses behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from meddenoise.training.losses import get_loss, msssim_l1_loss, ssim


def _pair(rng: np.random.Generator, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    return clean, noisy


@pytest.mark.parametrize(
    ("window", "kwargs"),
    [
        ("gaussian11", {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}),
        ("uniform7", {"win_size": 7, "use_sample_covariance": False}),
    ],
)
def test_ssim_matches_scikit_image(rng: np.random.Generator, window: str, kwargs: dict) -> None:
    clean, noisy = _pair(rng)
    expected = structural_similarity(clean, noisy, data_range=1.0, **kwargs)
    got = ssim(torch.from_numpy(clean)[None, None], torch.from_numpy(noisy)[None, None], window=window)
    assert float(got) == pytest.approx(expected, abs=1e-5)


def test_ssim_loss_data_range_is_scikit_images_and_reaches_the_training_config(
    rng: np.random.Generator,
) -> None:
    # Gondara's Tables II/III read SSIM with data_range=2 (old scikit-image on float images): the loss
    # computed at 2 must be 1 - that reading, and differ from the default reading at 1
    from meddenoise.training import TrainConfig

    clean, noisy = _pair(rng)
    kwargs = {"win_size": 7, "use_sample_covariance": False}
    x, y = torch.from_numpy(clean)[None, None], torch.from_numpy(noisy)[None, None]
    config = TrainConfig(loss="ssim", ssim_window="uniform7").derive(objective={"ssim_data_range": 2.0})
    got = float(config.objective.loss_fn()(y, x))
    assert got == pytest.approx(1 - structural_similarity(clean, noisy, data_range=2.0, **kwargs), abs=1e-5)
    at_one = 1 - structural_similarity(clean, noisy, data_range=1.0, **kwargs)
    assert abs(got - at_one) > 1e-3
    assert float(get_loss("ssim", ssim_window="uniform7")(y, x)) == pytest.approx(at_one, abs=1e-5)


def test_ssim_is_one_for_identical_images_and_differentiable(rng: np.random.Generator) -> None:
    clean, noisy = _pair(rng, 24)
    x = torch.from_numpy(clean)[None, None]
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    y = torch.from_numpy(noisy)[None, None].requires_grad_(True)
    loss = get_loss("ssim")(y, x)
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_ssim_small_images_use_same_padding() -> None:
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x).shape == (2,)
    with pytest.raises(ValueError, match="smaller than"):
        ssim(x, x, padding="valid")


def test_msssim_l1_is_zero_at_identity_and_grows_with_noise(rng: np.random.Generator) -> None:
    clean, noisy = _pair(rng, 32)
    x = torch.from_numpy(clean)[None, None]
    y = torch.from_numpy(noisy)[None, None]
    assert float(msssim_l1_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    worse = torch.clamp(x + 2 * (y - x), 0, 1)
    assert 0 < float(msssim_l1_loss(y, x)) < float(msssim_l1_loss(worse, x))


def test_bce_matches_torch_and_masks_restrict_the_loss() -> None:
    gen = torch.Generator().manual_seed(1)
    pred = torch.rand(2, 1, 8, 8, generator=gen) * 0.98 + 0.01
    target = torch.rand(2, 1, 8, 8, generator=gen)
    assert float(get_loss("bce")(pred, target)) == pytest.approx(
        float(F.binary_cross_entropy(pred, target)), rel=1e-5
    )
    mask = torch.zeros_like(pred)
    mask[0, 0, 3, 4] = 1
    mask[1, 0, 0, 0] = 1
    expected = ((pred - target) ** 2)[mask.bool()].mean()
    assert float(get_loss("mse")(pred, target, mask)) == pytest.approx(float(expected))
    # Changing pixels outside the mask does not change the masked loss.
    other = torch.where(mask.bool(), pred, torch.zeros_like(pred))
    assert float(get_loss("l1")(other, target, mask)) == pytest.approx(
        float(get_loss("l1")(pred, target, mask))
    )
    with pytest.raises(ValueError, match="masked"):
        get_loss("ssim")(pred, target, mask)


def test_unknown_loss() -> None:
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")
