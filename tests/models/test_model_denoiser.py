"""ModelDenoiser against a direct forward pass; channels_last and bf16; FLOP counts; overfit sanity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meddenoise.denoiser import Denoiser
from meddenoise.models import build_model
from meddenoise.models._common import input_layer
from meddenoise.models.denoiser import ModelDenoiser
from meddenoise.models.flops import count_flops

SMALL = {"rednet": {"depth": 4, "width": 8}, "dncnn": {"depth": 4, "width": 8}}


def direct(model: torch.nn.Module, images: np.ndarray, **kwargs: object) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(images)[:, None], **kwargs)[:, 0].clamp(0, 1).numpy()


@pytest.mark.parametrize("name", ["gondara-dae", "conv-ae-transpose", "dncnn", "rednet"])
def test_model_denoiser_equals_a_direct_forward_pass(name: str, rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    model = build_model(name, **SMALL.get(name, {}))
    images = rng.random((5, 37, 29), dtype=np.float32)
    expected = direct(model, images)
    before = images.copy()
    for channels_last in (False, True):
        denoiser = ModelDenoiser(model, name=name, batch_size=2, channels_last=channels_last)
        assert isinstance(denoiser, Denoiser) and denoiser.name == name
        batch = denoiser(images)
        assert batch.dtype == np.float32 and batch.shape == images.shape
        np.testing.assert_allclose(batch, expected, atol=1e-6, rtol=0)
        np.testing.assert_allclose(denoiser(images[3]), expected[3], atol=1e-6, rtol=0)
    np.testing.assert_array_equal(images, before)  # input untouched


def test_model_denoiser_restores_training_mode_and_handles_dense_ae(rng: np.random.Generator) -> None:
    model = build_model("dense-ae")
    model.train()
    images = rng.random((3, 28, 28), dtype=np.float32)
    out = ModelDenoiser(model, name="dense-ae")(images)
    assert model.training
    np.testing.assert_allclose(out, direct(model, images), atol=1e-6)
    with pytest.raises(ValueError, match="28x28"):
        ModelDenoiser(model, name="dense-ae")(rng.random((32, 32), dtype=np.float32))


def test_bf16_autocast_is_close_to_fp32(rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    model = build_model("gondara-dae", filters=16)
    images = rng.random((2, 32, 32), dtype=np.float32)
    fp32 = ModelDenoiser(model, name="g")(images)
    bf16 = ModelDenoiser(model, name="g", bf16=True)(images)
    assert bf16.dtype == np.float32
    assert 0 < np.abs(bf16 - fp32).max() < 2e-2


def test_under_bf16_autocast_input_layer_reads_the_image_in_float32(rng: np.random.Generator) -> None:
    # near 0.5 with 0.3 % noise: bf16's steps of 2^-9 there would round much of the noise away
    image = torch.from_numpy(0.5 + 0.003 * rng.standard_normal((1, 1, 32, 32), dtype=np.float32))
    head = torch.nn.Conv2d(1, 8, 3, padding=1, bias=False).eval()
    with torch.inference_mode():
        exact = head(image).to(torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            read = input_layer(head, image)
            rounded = head(image)
            training = input_layer(head.train(), image)
    assert read.dtype == torch.bfloat16 and torch.equal(read, exact)
    assert not torch.equal(rounded, exact)  # what plain autocast would have given the next layer
    assert torch.equal(training, rounded)  # training keeps plain autocast (recorded runs reproduce)


def test_sigma_reaches_noise_conditioned_models_only(rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    model = build_model("unet", channels=(8, 16), blocks=1, noise_conditioned=True)
    denoiser = ModelDenoiser(model, name="unet")
    assert denoiser.uses_sigma
    images = rng.random((2, 24, 24), dtype=np.float32)
    np.testing.assert_allclose(denoiser(images, sigma=0.2), direct(model, images, sigma=0.2), atol=1e-6)
    assert not np.allclose(denoiser(images, sigma=0.01), denoiser(images, sigma=0.3))
    plain = ModelDenoiser(build_model("gondara-dae", filters=8), name="g")
    assert not plain.uses_sigma
    np.testing.assert_array_equal(plain(images, sigma=0.3), plain(images))


def test_model_denoiser_rejects_bad_input() -> None:
    denoiser = ModelDenoiser(build_model("gondara-dae", filters=8), name="g")
    with pytest.raises(ValueError, match="NaN"):
        denoiser(np.full((8, 8), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        ModelDenoiser(build_model("gondara-dae", filters=8), name="g", batch_size=0)


def test_flop_counts_follow_the_layer_arithmetic() -> None:
    # Gondara Fig. 5 at 64x64, literal upsampling: per output pixel 9*Cin*Cout multiply-adds per conv
    unfused = build_model("gondara-dae", fused_upsample=False)
    macs = 9 * (1 * 64 * 64**2 + 64 * 64 * 32**2 + 64 * 64 * 16**2 + 64 * 64 * 32**2 + 64 * 1 * 64**2)
    assert count_flops(unfused, (2, 1, 64, 64)) == 2 * macs
    assert count_flops(unfused, (2, 1, 64, 64), per_image=False) == 4 * macs
    assert count_flops(build_model("gondara-dae"), (1, 1, 64, 64)) < 0.8 * 2 * macs  # fused decoder
    assert count_flops(build_model("dense-ae"), (1, 1, 28, 28)) == 2 * (784 * 64 + 64 * 784)
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(unfused, (64, 64))


@pytest.mark.parametrize("name", ["gondara-dae", "dncnn", "conv-ae-transpose"])
def test_a_model_overfits_one_image(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, **SMALL.get(name, {}))
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    clean = (0.3 + 0.4 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.1).float())[None, None]
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(noisy), clean)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
