"""The noise-level-conditioned network `ffdunet`: the gate, level 0, per-image levels, learning to use sigma."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meddenoise.models import ModelDenoiser, build_model
from meddenoise.models.conditioned import PRESETS, ConditionedUNet, noise_gate
from meddenoise.noise import estimate_noise_std


def _scrambled(model: torch.nn.Module) -> torch.nn.Module:
    """Large random weights, so a residual that leaks through would show."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 1.0)
    return model.eval()


def test_gate_is_zero_at_zero_one_from_sigma0_and_monotone() -> None:
    sigma0 = 1 / 255
    levels = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 100.0]) * sigma0
    gate = noise_gate(levels, sigma0)
    assert gate[0] == 0.0
    assert torch.equal(gate[4:], torch.ones(3))
    assert bool((gate.diff() >= 0).all()) and 0 < float(gate[1]) < float(gate[2]) < float(gate[3]) < 1
    assert float(gate[2]) == pytest.approx(0.5)  # smoothstep's midpoint
    assert torch.equal(noise_gate(torch.tensor([0.0, 1e-6]), 0.0), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("size", [(64, 64), (65, 63), (3, 5)])
def test_level_zero_returns_the_input_exactly(size: tuple[int, int]) -> None:
    model = _scrambled(build_model("ffdunet", preset="fast"))
    x = torch.rand(3, 1, *size)
    with torch.inference_mode():
        assert torch.equal(model(x, sigma=0.0), x)
        assert not torch.equal(model(x, sigma=0.1), x)
        # per image: the image told 0 comes back, the others are denoised
        out = model(x, sigma=torch.tensor([0.0, 0.1, 0.0]))
    assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2]) and not torch.equal(out[1], x[1])


@pytest.mark.parametrize("bf16", [False, True])
def test_model_denoiser_returns_a_clean_image_told_level_zero(bf16: bool, rng: np.random.Generator) -> None:
    denoiser = ModelDenoiser(_scrambled(build_model("ffdunet", preset="fast")), name="ffdunet", bf16=bf16)
    images = rng.random((2, 40, 33), dtype=np.float32)
    np.testing.assert_array_equal(denoiser(images, sigma=0.0), images)


@pytest.mark.parametrize("size", [(65, 63), (3, 5), (17, 130)])
def test_odd_sizes_are_padded_and_cropped(size: tuple[int, int]) -> None:
    model = build_model("ffdunet", preset="quality").eval()
    x = torch.rand(2, 1, *size)
    with torch.inference_mode():
        y = model(x, sigma=0.05)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert model.multiple == 16  # pixel-unshuffle by 2, then 3 down-samplings


def test_a_batch_equals_its_images_one_by_one() -> None:
    model = _scrambled(build_model("ffdunet", channels=(8, 16), blocks=1))
    x = torch.rand(3, 1, 24, 20)
    levels = torch.tensor([0.02, 0.1, 0.3])
    with torch.inference_mode():
        batched = model(x, sigma=levels)
        alone = torch.cat([model(x[i : i + 1], sigma=float(levels[i])) for i in range(3)])
        scalar = model(x, sigma=0.1)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(scalar[1], batched[1], atol=1e-5, rtol=0)
    assert not torch.allclose(scalar[0], batched[0], atol=1e-3)  # the level reaches the network


def test_blind_forward_uses_the_flat_region_estimator(rng: np.random.Generator) -> None:
    model = _scrambled(build_model("ffdunet", channels=(8,), blocks=1))
    images = (0.5 + rng.normal(0, 1, (2, 1, 32, 32)) * np.array([0.02, 0.1])[:, None, None, None]).astype(
        np.float32
    )
    x = torch.from_numpy(images)
    expected = torch.tensor([estimate_noise_std(img[0]) for img in images])
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model(x, sigma=expected))


def test_bad_levels_and_options_are_refused() -> None:
    model = build_model("ffdunet", channels=(8,), blocks=1)
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="one per image"):
        model(x, sigma=torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=">= 0"):
        model(x, sigma=-0.1)
    with pytest.raises(ValueError, match="unknown preset"):
        build_model("ffdunet", preset="huge")
    assert set(PRESETS) == {"fast", "quality"}


def _smooth_batch(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    a = torch.rand(n, 1, 1, generator=generator)
    return (0.25 + 0.5 * (a * xx + (1 - a) * yy)).unsqueeze(1)


def test_trained_network_smooths_more_at_a_higher_level() -> None:
    """A tiny network trained ~1 s on sigma in [0, 0.2] removes more from the same image when told more."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = build_model("ffdunet", channels=(8,), blocks=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(300):
        clean = _smooth_batch(16, 16, generator)
        sigma = torch.rand(16, generator=generator) * 0.2
        noisy = clean + sigma.reshape(-1, 1, 1, 1) * torch.randn(clean.shape, generator=generator)
        loss = ((model(noisy, sigma=sigma) - clean) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    clean = _smooth_batch(8, 16, generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    with torch.no_grad():
        removed = [
            float((model(noisy, sigma=s) - noisy).pow(2).mean().sqrt()) for s in (0.0, 0.01, 0.05, 0.15)
        ]
        error = float((model(noisy, sigma=0.1) - clean).pow(2).mean().sqrt())
    assert removed[0] == 0.0
    assert removed[1] < removed[2] < removed[3], removed
    assert error < 0.5 * float((noisy - clean).pow(2).mean().sqrt())  # it denoises at the true level


def test_model_denoiser_feeds_levels_per_image(rng: np.random.Generator) -> None:
    seen: list[torch.Tensor] = []

    class Spy(ConditionedUNet):
        def forward(self, x, sigma=None):  # type: ignore[no-untyped-def]
            seen.append(torch.as_tensor(sigma).clone())
            return super().forward(x, sigma)

    denoiser = ModelDenoiser(Spy(channels=(8,), blocks=1), name="spy", batch_size=2)
    assert denoiser.uses_sigma
    images = (0.5 + rng.normal(0, 1, (3, 32, 32)) * np.array([0.01, 0.05, 0.1])[:, None, None]).astype(
        np.float32
    )
    denoiser(images, sigma=[0.1, 0.2, 0.3])
    np.testing.assert_allclose(torch.cat(seen).numpy(), [0.1, 0.2, 0.3], rtol=1e-6)
    seen.clear()
    denoiser(images)  # blind: each image's own estimate
    blind = torch.cat(seen).numpy()
    np.testing.assert_allclose(blind, [estimate_noise_std(img) for img in images], rtol=1e-5)
    np.testing.assert_allclose(blind, [0.01, 0.05, 0.1], rtol=0.12)
    seen.clear()
    denoiser(images[0], sigma=0.07)
    np.testing.assert_allclose(torch.cat(seen).numpy(), [0.07], rtol=1e-6)
    with pytest.raises(ValueError, match="one per image"):
        denoiser(images, sigma=[0.1, 0.2])


def test_unconditioned_models_say_they_cannot_use_a_level(rng: np.random.Generator) -> None:
    plain = ModelDenoiser(build_model("dncnn", depth=3, width=8), name="dncnn")
    assert plain.uses_sigma is False
    images = rng.random((2, 16, 16), dtype=np.float32)
    np.testing.assert_array_equal(plain(images, sigma=0.3), plain(images))
