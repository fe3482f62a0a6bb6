"""Telling a network which kind of noise it faces: the noise's lag-1 correlation as a second conditioning map.

The model (``ffdunet(correlation_input=True)``), the objective that tells it each sample's correlation
(``tell_correlation``, ``mixed_fraction``), the trainer that hands it over and starts such a model from
one without the input (``grow_from``), and the denoiser that tells it or estimates it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from scipy import ndimage
from torch import nn
from training_helpers import perturbed

from meddenoise.models import build_model
from meddenoise.models.denoiser import ModelDenoiser, told_noise_correlation
from meddenoise.training import TrainConfig, train
from meddenoise.training.checkpoint import CheckpointError, load_checkpoint
from meddenoise.training.objectives import ConditionedConfig
from meddenoise.training.objectives.conditioned import lag1_correlation

SMALL = {"channels": [8, 16], "blocks": 1}


def _blurred_textures(rng: np.random.Generator, shape: tuple[int, ...], width: float) -> np.ndarray:
    """Unit-std Gaussian-blurred white noise: a stand-in for a CT kernel's noise texture."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), (0, width, width))
    return (noise / noise.std(axis=(1, 2), keepdims=True)).astype(np.float32)


def test_lag1_correlation_of_white_and_blurred_noise() -> None:
    rng = np.random.default_rng(0)
    white = rng.standard_normal((4, 64, 64)).astype(np.float32)
    blurred = _blurred_textures(rng, (4, 64, 64), 1.0)
    assert np.all(np.abs(lag1_correlation(white)) < 0.05)
    # Gaussian blur of std 1 px: lag-1 correlation exp(-1/4) = 0.78
    np.testing.assert_allclose(lag1_correlation(blurred), np.exp(-0.25), atol=0.04)
    assert lag1_correlation(np.zeros((1, 8, 8), np.float32))[0] == 0.0


def test_the_objective_tells_0_for_white_noise_and_the_textures_own_correlation() -> None:
    objective = ConditionedConfig(
        sigma_low=0.05,
        sigma_high=0.05 + 1e-6,
        clean_fraction=0.0,
        texture="given",
        white_fraction=0.3,
        mixed_fraction=0.3,
        tell_correlation=True,
    ).build()
    rng = np.random.default_rng(1)
    count = 600
    clean = np.zeros((count, 32, 32), np.float32)
    textures = _blurred_textures(rng, (count, 32, 32), 1.0)
    batch = objective.batch(np.stack([clean, textures]), noise=None, rng=rng)
    assert batch.correlation is not None and batch.correlation.shape == (count,)
    told = batch.correlation
    own = lag1_correlation(textures)
    white = told == 0.0
    texture = np.isclose(told, own, atol=1e-6)
    mixed = ~white & ~texture
    assert (
        abs(white.mean() - 0.3) < 0.06 and abs(texture.mean() - 0.4) < 0.06 and abs(mixed.mean() - 0.3) < 0.06
    )
    # what the network is told is what the noise it gets has: measured on the noise itself
    measured = lag1_correlation((batch.inputs - batch.targets) / 0.05)
    np.testing.assert_allclose(measured, told, atol=0.12)
    assert np.corrcoef(measured[mixed], told[mixed])[0, 1] > 0.9
    # a mixture keeps the std: white and texture add in variance
    np.testing.assert_allclose((batch.inputs - batch.targets)[mixed].std(axis=(1, 2)), 0.05, rtol=0.15)


def test_without_tell_correlation_nothing_is_told_and_fractions_are_checked() -> None:
    objective = ConditionedConfig(texture="given", white_fraction=0.5, clean_fraction=0.0).build()
    rng = np.random.default_rng(2)
    crops = np.stack([np.zeros((4, 16, 16), np.float32), np.ones((4, 16, 16), np.float32)])
    assert objective.batch(crops, noise=None, rng=rng).correlation is None
    with pytest.raises(ValidationError, match="at most 1"):
        ConditionedConfig(texture="given", white_fraction=0.6, mixed_fraction=0.5)
    with pytest.raises(ValidationError, match="texture='given' only"):
        ConditionedConfig(mixed_fraction=0.2)


def test_a_widened_model_computes_what_the_narrow_one_did_until_trained() -> None:
    narrow = perturbed(build_model("ffdunet", **SMALL), 3)
    wide = build_model("ffdunet", **SMALL, correlation_input=True).eval()
    assert wide.head.weight.shape[1] == narrow.head.weight.shape[1] + 1
    assert wide.can_grow_from(narrow) and not narrow.can_grow_from(wide)
    wide.grow_from(narrow.state_dict())
    x = torch.rand(2, 1, 32, 32)
    expected = narrow(x, sigma=0.05)
    for correlation in (0.0, 0.5, torch.tensor([0.1, 0.9])):
        assert torch.equal(wide(x, sigma=0.05, correlation=correlation), expected)
    assert torch.equal(wide(x, sigma=0.0, correlation=0.7), x)  # told "no noise": the input, exactly
    with pytest.raises(ValueError, match="no correlation input"):
        narrow.grow_from(wide.state_dict())
    with pytest.raises(ValueError, match="same network"):
        narrow.grow_from(narrow.state_dict())


def test_the_correlation_map_changes_the_output_once_it_has_weights() -> None:
    wide = perturbed(build_model("ffdunet", **SMALL, correlation_input=True), 4)
    x = torch.rand(1, 1, 32, 32)
    assert not torch.allclose(wide(x, sigma=0.05, correlation=0.0), wide(x, sigma=0.05, correlation=0.8))
    with pytest.raises(ValueError, match="one per image"):
        wide(torch.rand(3, 1, 32, 32), sigma=0.05, correlation=[0.1, 0.2])


class RecordingCorrelation(nn.Module):
    """A conditioned 'network' that records the noise correlation it is told."""

    uses_sigma = True
    uses_correlation = True
    seen: ClassVar[list[torch.Tensor]] = []

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1))

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor | None = None, *, correlation: torch.Tensor | None = None
    ) -> torch.Tensor:
        assert correlation is not None, "the trainer must hand the objective's correlation to the model"
        RecordingCorrelation.seen.append(correlation.detach().clone())
        return x - self.scale * correlation.view(-1, 1, 1, 1)


def test_the_trainer_hands_each_samples_correlation_to_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meddenoise.models.registry import MODEL_REGISTRY

    monkeypatch.setitem(MODEL_REGISTRY, "recording-correlation", RecordingCorrelation)
    RecordingCorrelation.seen.clear()
    config = TrainConfig(
        model="recording-correlation",
        noise=None,
        objective={
            "kind": "conditioned",
            "sigma_low": 0.01,
            "sigma_high": 0.05,
            "texture": "given",
            "white_fraction": 0.5,
            "tell_correlation": True,
        },
        epochs=1,
        batch_size=8,
        val_fraction=0.0,
        channels_last=False,
    )
    rng = np.random.default_rng(5)
    clean = rng.random((32, 16, 16)).astype(np.float32)
    train(config, clean, out_dir=tmp_path / "run", train_targets=_blurred_textures(rng, (32, 16, 16), 1.5))
    told = torch.cat(RecordingCorrelation.seen)
    assert float((told == 0).float().mean()) > 0.2  # the white-noise samples
    assert float(told.max()) > 0.6  # the textured ones: a blur of 1.5 px


def test_training_widens_a_checkpoint_without_the_input_and_refuses_other_mismatches(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    clean = rng.random((16, 32, 32)).astype(np.float32)
    textures = _blurred_textures(rng, (16, 32, 32), 1.0)
    objective = {"kind": "conditioned", "sigma_low": 0.01, "sigma_high": 0.05, "texture": "given"}
    base = TrainConfig(
        model="ffdunet",
        model_params=SMALL,
        noise=None,
        objective=objective,
        epochs=1,
        batch_size=8,
        val_fraction=0.0,
        channels_last=False,
    )
    train(base, clean, out_dir=tmp_path / "narrow", train_targets=textures)
    narrow, _ = load_checkpoint(tmp_path / "narrow")
    wide_config = base.derive(
        model_params={**SMALL, "correlation_input": True},
        objective={**objective, "white_fraction": 0.5, "tell_correlation": True},
        init_from=str(tmp_path / "narrow"),
        epochs=1,
    )
    result = train(wide_config, clean, out_dir=tmp_path / "wide", train_targets=textures)
    head = result.model.head.weight.detach()
    torch.testing.assert_close(head[:, :5], narrow.head.weight.detach(), atol=0.05, rtol=0)  # started there
    assert float(head[:, 5].abs().max()) > 0  # and learnt to use the new input
    with pytest.raises(CheckpointError, match="mismatched"):
        train(
            wide_config.derive(model_params={"channels": [8, 32], "blocks": 1, "correlation_input": True}),
            clean,
            out_dir=tmp_path / "other",
            train_targets=textures,
        )


def test_the_denoiser_tells_its_value_or_estimates_it_per_image() -> None:
    seen: ClassVar[list[torch.Tensor]] = []

    class Recording(nn.Module):
        uses_sigma = True
        uses_correlation = True

        def forward(self, x: torch.Tensor, sigma: torch.Tensor, *, correlation: torch.Tensor) -> torch.Tensor:
            seen.append(correlation)
            return x

    denoiser = ModelDenoiser(Recording(), name="rec", channels_last=False)
    rng = np.random.default_rng(7)
    white = (0.5 + 0.05 * rng.standard_normal((128, 128))).astype(np.float32)
    blurred = (0.5 + 0.05 * _blurred_textures(rng, (1, 128, 128), 1.0)[0]).astype(np.float32)
    denoiser.denoise_batch(np.stack([white, blurred]), sigma=0.05)
    estimated = seen[-1]
    assert float(estimated[0]) < 0.15 and float(estimated[1]) > 0.5
    with told_noise_correlation(denoiser, 0.0) as any_network:
        assert any_network
        denoiser.denoise_batch(np.stack([white, blurred]), sigma=0.05)
    assert seen[-1].tolist() == [0.0, 0.0]
    assert denoiser.correlation is None  # the block's value does not outlive it
    denoiser.denoise_batch(blurred[None], sigma=0.05)
    assert float(seen[-1][0]) > 0.5


def test_onnx_export_takes_the_correlation_and_matches_torch() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from meddenoise.models.onnx import ONNX_CORRELATION, OnnxDenoiser, export_onnx

    wide = perturbed(build_model("ffdunet", **SMALL, correlation_input=True), 8)
    onnx_denoiser = OnnxDenoiser(export_onnx(wide), name="wide")
    assert onnx_denoiser.uses_correlation
    assert ONNX_CORRELATION in {item.name for item in onnx_denoiser.session.get_inputs()}
    torch_denoiser = ModelDenoiser(wide, name="wide", channels_last=False)
    images = np.random.default_rng(9).random((2, 40, 36)).astype(np.float32)
    for correlation in (0.0, 0.8):
        with (
            told_noise_correlation(onnx_denoiser, correlation),
            told_noise_correlation(torch_denoiser, correlation),
        ):
            ours = onnx_denoiser.denoise_batch(images, sigma=0.05)
            expected = torch_denoiser.denoise_batch(images, sigma=0.05)
        np.testing.assert_allclose(ours, expected, atol=1e-5)
    with told_noise_correlation(onnx_denoiser, 0.0):
        white = onnx_denoiser.denoise_batch(images, sigma=0.05)
    assert not np.allclose(white, ours, atol=1e-4)  # the input is used
