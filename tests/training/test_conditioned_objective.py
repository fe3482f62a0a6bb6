"""The noise-level-conditioned objective: per-sample levels, unclipped noise of that std, the level reaches the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from meddenoise.training import TrainConfig, train
from meddenoise.training.objectives import ConditionedConfig

SEEN: list[torch.Tensor] = []


class RecordingConditioned(nn.Module):
    """A one-parameter conditioned 'network' that records the sigma it is given."""

    uses_sigma = True

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        assert sigma is not None, "the trainer must hand the conditioned objective's sigma to the model"
        SEEN.append(sigma.detach().clone())
        return x - self.scale * sigma.view(-1, 1, 1, 1)


def test_levels_are_drawn_per_sample_in_range_with_a_clean_fraction() -> None:
    objective = ConditionedConfig(sigma_low=0.01, sigma_high=0.1, clean_fraction=0.25).build()
    sigma = objective.draw_sigma(4000, np.random.default_rng(0))
    nonzero = sigma[sigma > 0]
    assert sigma.dtype == np.float32 and sigma.shape == (4000,)
    assert abs((sigma == 0).mean() - 0.25) < 0.03
    assert nonzero.min() >= 0.01 and nonzero.max() <= 0.1
    assert abs(float(np.mean(nonzero)) - 0.055) < 0.003  # uniform: the mean is the middle of the range


def test_log_uniform_spends_more_samples_on_low_levels() -> None:
    uniform = ConditionedConfig(sigma_low=0.001, sigma_high=0.1, clean_fraction=0.0).build()
    logu = ConditionedConfig(
        sigma_low=0.001, sigma_high=0.1, clean_fraction=0.0, distribution="log-uniform"
    ).build()
    rng = np.random.default_rng(1)
    assert np.median(logu.draw_sigma(2000, rng)) < 0.02 < np.median(uniform.draw_sigma(2000, rng))


def test_batch_noise_has_each_samples_std_and_is_not_clipped() -> None:
    objective = ConditionedConfig(sigma_low=0.02, sigma_high=0.2, clean_fraction=0.0).build()
    clean = np.full((1, 6, 64, 64), 0.99, np.float32)  # near the top: clipping would show
    batch = objective.batch(clean, noise=None, rng=np.random.default_rng(2))
    assert batch.sigma is not None and batch.sigma.shape == (6,)
    residual = batch.inputs - batch.targets
    np.testing.assert_allclose(residual.std(axis=(1, 2)), batch.sigma, rtol=0.06)
    assert batch.inputs.max() > 1.0  # unclipped
    np.testing.assert_array_equal(batch.targets, clean[0])


def test_clean_samples_come_with_level_zero_and_input_equal_to_target() -> None:
    objective = ConditionedConfig(sigma_high=0.1, clean_fraction=0.5).build()
    clean = np.random.default_rng(3).random((1, 32, 16, 16)).astype(np.float32)
    batch = objective.batch(clean, noise=None, rng=np.random.default_rng(4))
    assert batch.sigma is not None
    zero = batch.sigma == 0
    assert 0 < zero.sum() < 32
    np.testing.assert_array_equal(batch.inputs[zero], batch.targets[zero])
    assert not np.array_equal(batch.inputs[~zero], batch.targets[~zero])


def test_config_refuses_an_empty_range_and_a_zero_log_floor() -> None:
    with pytest.raises(ValidationError):
        ConditionedConfig(sigma_low=0.2, sigma_high=0.1)
    with pytest.raises(ValidationError):
        ConditionedConfig(sigma_low=0.0, distribution="log-uniform")


def test_the_objective_refuses_a_noise_model_and_explicit_targets() -> None:
    objective = ConditionedConfig().build()
    images = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(ValueError, match="noise=None"):
        objective.sources(images, None, noise=lambda x, rng: x, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="clean images only"):
        objective.sources(images, images, noise=None, rng=np.random.default_rng(0))


def test_given_textures_are_scaled_to_each_samples_level_and_keep_their_shape() -> None:
    objective = ConditionedConfig(sigma_low=0.01, sigma_high=0.1, clean_fraction=0.0, texture="given").build()
    rng = np.random.default_rng(6)
    clean = rng.random((8, 32, 32)).astype(np.float32)
    # a texture no white noise has: constant horizontal stripes of std 1
    stripes = np.where(np.arange(32) % 2 == 0, 1.0, -1.0).astype(np.float32)[None, :, None]
    texture = np.broadcast_to(stripes, (8, 32, 32)).copy()
    sources = objective.sources(clean, texture, noise=None, rng=rng)
    assert len(sources) == 2
    batch = objective.batch(np.stack(sources), noise=None, rng=rng)
    assert batch.sigma is not None
    residual = batch.inputs - batch.targets
    # each sample's noise is exactly +-sigma * texture: the stripes, scaled to that sample's level
    np.testing.assert_allclose(np.abs(residual), batch.sigma[:, None, None] * np.abs(texture), rtol=1e-5)
    signs = np.sign(residual[:, 0, 0])
    assert set(signs.tolist()) == {-1.0, 1.0}  # the texture's sign is flipped at random per sample


def test_white_fraction_mixes_white_noise_into_given_textures() -> None:
    objective = ConditionedConfig(
        sigma_low=0.05, sigma_high=0.05 + 1e-6, clean_fraction=0.0, texture="given", white_fraction=0.5
    ).build()
    rng = np.random.default_rng(7)
    clean = np.zeros((2, 400, 16, 16), np.float32)
    clean[1] = 1.0  # a texture of all ones: constant per sample, unlike white noise
    batch = objective.batch(clean, noise=None, rng=rng)
    residual = batch.inputs - batch.targets
    constant = residual.std(axis=(1, 2)) < 1e-6
    assert 0.4 < constant.mean() < 0.6


def test_given_textures_need_targets_and_white_needs_no_white_fraction() -> None:
    objective = ConditionedConfig(texture="given").build()
    images = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(ValueError, match="noise textures"):
        objective.sources(images, None, noise=None, rng=np.random.default_rng(0))
    with pytest.raises(ValidationError):
        ConditionedConfig(white_fraction=0.3)


def test_white_texture_draws_are_unchanged_by_the_texture_option() -> None:
    """The default path draws exactly as before (old runs resume bit-identically)."""
    objective = ConditionedConfig(sigma_low=0.01, sigma_high=0.1, clean_fraction=0.1).build()
    clean = np.random.default_rng(8).random((1, 4, 8, 8)).astype(np.float32)
    batch = objective.batch(clean, noise=None, rng=np.random.default_rng(9))
    rng = np.random.default_rng(9)
    sigma = objective.draw_sigma(4, rng)
    expected = clean[0] + sigma[:, None, None] * rng.standard_normal(clean[0].shape, dtype=np.float32)
    np.testing.assert_array_equal(batch.inputs, expected)


def test_trainer_hands_each_batchs_levels_to_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meddenoise.models.registry import MODEL_REGISTRY

    monkeypatch.setitem(MODEL_REGISTRY, "recording-conditioned", RecordingConditioned)
    SEEN.clear()
    config = TrainConfig(
        model="recording-conditioned",
        noise=None,
        objective={"kind": "conditioned", "sigma_low": 0.01, "sigma_high": 0.05, "clean_fraction": 0.0},
        epochs=2,
        batch_size=4,
        val_fraction=0.25,
        channels_last=False,
    )
    clean = np.random.default_rng(5).random((16, 16, 16)).astype(np.float32)
    train(config, clean, out_dir=tmp_path / "run")
    assert SEEN, "the model was never given a noise level"
    levels = torch.cat(SEEN)
    assert levels.shape[0] >= 2 * 12  # every training sample of both epochs (and validation) had its level
    assert float(levels.min()) >= 0.01 and float(levels.max()) <= 0.05
    assert len(torch.unique(levels)) > 10  # one draw per sample, not one per batch or run


def test_trainer_takes_noise_textures_as_targets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from meddenoise.models.registry import MODEL_REGISTRY

    monkeypatch.setitem(MODEL_REGISTRY, "recording-conditioned", RecordingConditioned)
    SEEN.clear()
    config = TrainConfig(
        model="recording-conditioned",
        noise=None,
        objective={"kind": "conditioned", "sigma_low": 0.01, "sigma_high": 0.05, "texture": "given"},
        epochs=1,
        batch_size=4,
        val_fraction=0.25,
        channels_last=False,
    )
    rng = np.random.default_rng(10)
    clean = rng.random((16, 16, 16)).astype(np.float32)
    textures = rng.standard_normal((16, 16, 16)).astype(np.float32)
    train(config, clean, out_dir=tmp_path / "run", train_targets=textures)
    assert SEEN
    with pytest.raises(ValueError, match="noise textures"):
        train(config, clean, out_dir=tmp_path / "run2")


def test_level_weights_are_the_inverse_power_of_each_level_with_a_floor() -> None:
    objective = ConditionedConfig(level_weight_power=2.0, level_weight_floor=0.01).build()
    sigma = np.array([0.0, 0.005, 0.01, 0.02, 0.1], np.float32)
    weights = objective.level_weights(sigma)
    assert weights is not None and weights.dtype == np.float32
    assert float(weights.mean()) == pytest.approx(1.0, rel=1e-6)
    # clean and sub-floor samples weigh as the floor; above it the ratio is the squared ratio of the levels
    assert weights[0] == weights[1] == weights[2]
    assert weights[2] / weights[3] == pytest.approx(4.0, rel=1e-5)
    assert weights[3] / weights[4] == pytest.approx(25.0, rel=1e-5)
    assert ConditionedConfig().build().level_weights(sigma) is None  # power 0: the plain loss


def test_level_weights_reach_the_batch_mask_and_the_default_batch_has_none() -> None:
    clean = np.random.default_rng(11).random((1, 6, 16, 16)).astype(np.float32)
    plain = (
        ConditionedConfig(sigma_low=0.01, sigma_high=0.1, clean_fraction=0.0)
        .build()
        .batch(clean, noise=None, rng=np.random.default_rng(12))
    )
    assert plain.mask is None
    weighted = ConditionedConfig(
        sigma_low=0.01, sigma_high=0.1, clean_fraction=0.0, level_weight_power=1.3
    ).build()
    batch = weighted.batch(clean, noise=None, rng=np.random.default_rng(12))
    assert batch.mask is not None and batch.sigma is not None and batch.mask.shape == clean[0].shape
    # one weight per sample, constant over its pixels, and the draws are the plain batch's
    np.testing.assert_array_equal(batch.mask, np.broadcast_to(batch.mask[:, :1, :1], batch.mask.shape))
    np.testing.assert_array_equal(batch.inputs, plain.inputs)
    lowest, highest = int(np.argmin(batch.sigma)), int(np.argmax(batch.sigma))
    ratio = float(batch.mask[lowest, 0, 0] / batch.mask[highest, 0, 0])
    assert ratio == pytest.approx(float(batch.sigma[highest] / batch.sigma[lowest]) ** 1.3, rel=1e-4)


def test_the_trainers_loss_is_the_level_weighted_mean_of_the_samples_errors() -> None:
    from meddenoise.training.phases import MainPhase
    from meddenoise.training.trainer import batch_loss

    objective = ConditionedConfig(
        sigma_low=0.005,
        sigma_high=0.2,
        distribution="log-uniform",
        clean_fraction=0.0,
        level_weight_power=2.0,
        level_weight_floor=0.001,
    ).build()
    clean = np.random.default_rng(13).random((1, 8, 32, 32)).astype(np.float32)
    batch = objective.batch(clean, noise=None, rng=np.random.default_rng(14))
    assert batch.sigma is not None and batch.mask is not None
    identity = MainPhase(RecordingConditioned(), epochs=1)  # scale 0: the prediction is the noisy input
    loss = batch_loss(identity, batch, objective, rng=np.random.default_rng(0)).detach()
    per_sample = ((batch.inputs - batch.targets) ** 2).mean(axis=(1, 2))
    weights = batch.mask[:, 0, 0]
    expected = float((weights * per_sample).sum() / weights.sum())
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # each sample's error is about its sigma squared, weighted by its inverse: every level counts alike,
    # so the weighted loss is about 1/mean(1/sigma^2), far under the plain mean of sigma^2
    harmonic = 1.0 / float(np.mean(1.0 / batch.sigma.astype(np.float64) ** 2))
    assert float(loss) == pytest.approx(harmonic, rel=0.15)
    assert float(loss) < 0.5 * float(per_sample.mean())


def test_level_weights_need_a_per_pixel_loss() -> None:
    with pytest.raises(ValidationError, match="per-pixel loss"):
        ConditionedConfig(level_weight_power=1.0, loss="ssim")
    assert ConditionedConfig(level_weight_power=1.0, loss="l1").level_weight_power == 1.0
