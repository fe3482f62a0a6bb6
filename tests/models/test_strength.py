"""A network at a denoising strength (AtStrength): told strength x sigma, blended, identity at 0."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from meddenoise.models.denoiser import BatchDenoiser, ModelDenoiser
from meddenoise.models.ensemble import SelfEnsemble
from meddenoise.models.strength import AtStrength


class _Halver(BatchDenoiser):
    """A conditioned stand-in: returns ``x * (1 - sigma)`` and records the levels it was told."""

    name = "halver"
    uses_sigma = True

    def __init__(self) -> None:
        self.levels: list[np.ndarray] = []

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        assert levels is not None
        self.levels.append(levels)
        return (batch * (1 - levels[:, None, None])).astype(np.float32)


def _images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.2, 0.8, (2, 16, 16)).astype(np.float32)


def test_a_conditioned_network_is_told_strength_times_the_level() -> None:
    base = _Halver()
    out = AtStrength(base, 0.5).denoise_batch(_images(), sigma=[0.1, 0.2])
    np.testing.assert_allclose(base.levels[-1], [0.05, 0.1])
    np.testing.assert_allclose(out, _images() * (1 - np.array([0.05, 0.1]))[:, None, None], rtol=1e-6)
    # blind: the level estimated on the images as given, then scaled
    AtStrength(base, 0.25).denoise_batch(_images())
    told = base.levels[-1]
    base.denoise_batch(_images())
    np.testing.assert_allclose(told, 0.25 * base.levels[-1])


def test_a_network_without_a_noise_level_is_blended_and_zero_is_the_input() -> None:
    torch.manual_seed(0)
    net = ModelDenoiser(torch.nn.Conv2d(1, 1, 3, padding=1, bias=False), name="conv", channels_last=False)
    images = _images()
    full = net.denoise_batch(images)
    np.testing.assert_allclose(
        AtStrength(net, 0.3).denoise_batch(images), images + 0.3 * (full - images), atol=1e-6
    )
    assert np.array_equal(AtStrength(net, 0.0).denoise_batch(images), images)
    assert np.array_equal(AtStrength(_Halver(), 0.0).denoise_batch(images, sigma=0.1), images)


def test_it_wraps_a_self_ensemble_and_names_itself() -> None:
    base = _Halver()
    wrapped = AtStrength(SelfEnsemble(base, 2), 0.5)
    assert wrapped.name == "halver x2 s0.5" and wrapped.uses_sigma
    wrapped.denoise_batch(_images(), sigma=0.2)
    assert all(np.allclose(levels, 0.1) for levels in base.levels)  # every copy told half
    with pytest.raises(ValueError, match="halver: strength must be a finite number >= 0, got -1"):
        AtStrength(base, -1)
