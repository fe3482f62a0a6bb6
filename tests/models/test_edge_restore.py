"""Edge restoration: the low-passed removed component put back at strong edges only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recording_blur import RecordingBlur
from scipy import ndimage

from meddenoise.metrics.ct import edge_gradient_ratio
from meddenoise.models.edge_restore import EdgeRestoring, check_edge_restore, edge_weight, restore_edges


def _blur(*, conditioned: bool) -> RecordingBlur:
    """The stand-in network: a Gaussian blur of 1.5 px."""
    return RecordingBlur(conditioned=conditioned, blur=1.5, name="blur")


def _step(noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A vertical step 0.2 | 0.8 (64x64) with white noise of std ``noise``."""
    clean = np.repeat([[0.2] * 32 + [0.8] * 32], 64, axis=0)
    return (clean + np.random.default_rng(seed).normal(0, noise, clean.shape)).astype(np.float32)


def test_a_blurred_edge_gets_its_gradient_back() -> None:
    clean, noisy = _step(), _step(0.02)
    blurred = ndimage.gaussian_filter(noisy, 1.5)
    before = edge_gradient_ratio(blurred, clean)
    after = edge_gradient_ratio(restore_edges(noisy, blurred, 0.02, 1.0), clean)
    half = edge_gradient_ratio(restore_edges(noisy, blurred, 0.02, 0.5), clean)
    assert before < 0.9  # the stand-in really blurs
    assert before < half < after <= 1.02
    assert np.array_equal(restore_edges(noisy, blurred, 0.02, 0.0), blurred)


def test_flat_regions_keep_the_networks_output_exactly() -> None:
    noisy = (0.5 + np.random.default_rng(1).normal(0, 0.05, (64, 64))).astype(np.float32)
    smooth = ndimage.gaussian_filter(noisy, 3.0)  # what a denoiser makes of a flat region
    assert not edge_weight(smooth, 0.05).any()
    assert np.array_equal(restore_edges(noisy, smooth, 0.05, 1.0), smooth)
    # next to an edge the weight is 1, far from it 0: only the edge's neighbourhood changes
    weight = edge_weight(ndimage.gaussian_filter(_step(0.02), 1.5), 0.02)
    assert weight[:, 30:34].min() > 0.9 and weight[:, :20].max() == 0 and weight[:, 44:].max() == 0


def test_nothing_changes_without_noise_or_without_a_removed_component() -> None:
    noisy, blurred = _step(0.02), ndimage.gaussian_filter(_step(0.02), 1.5)
    assert np.array_equal(restore_edges(noisy, blurred, 0.0, 1.0), blurred)  # told "no noise"
    assert np.array_equal(restore_edges(noisy, noisy, 0.02, 1.0), noisy)  # the network changed nothing


@settings(max_examples=25, deadline=None)
@given(amount=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_the_restored_part_scales_with_the_amount(amount: float, seed: int) -> None:
    noisy = _step(0.02, seed)
    blurred = ndimage.gaussian_filter(noisy, 1.5)
    full = restore_edges(noisy, blurred, 0.02, 1.0).astype(np.float64) - blurred
    part = restore_edges(noisy, blurred, 0.02, amount).astype(np.float64) - blurred
    np.testing.assert_allclose(part, amount * full, atol=1e-6)  # no clipping: values stay in (0, 1)


@pytest.mark.parametrize("amount", [-0.1, 1.5, float("nan")])
def test_an_amount_outside_zero_to_one_is_refused(amount: float) -> None:
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
        check_edge_restore(amount)
    with pytest.raises(ValueError, match="blur: edge restore"):
        EdgeRestoring(_blur(conditioned=False), amount)


def test_the_wrapper_uses_the_level_the_network_is_told_or_the_estimate() -> None:
    images = np.stack([_step(0.02), _step(0.05, 1)])
    conditioned = _blur(conditioned=True)
    out = EdgeRestoring(conditioned, 0.8).denoise_batch(images, sigma=[0.02, 0.05])
    np.testing.assert_allclose(conditioned.told[-1], [0.02, 0.05])
    expected = [
        restore_edges(x, ndimage.gaussian_filter(x, 1.5), s, 0.8)
        for x, s in zip(images, [0.02, 0.05], strict=True)
    ]
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-6)
    # a blind network is told nothing; the restoration uses each image's estimated level
    blind = _blur(conditioned=False)
    wrapped = EdgeRestoring(blind, 0.8)
    restored = wrapped.denoise_batch(images)
    assert blind.told == [None] and wrapped.name == "blur e0.8"
    assert edge_gradient_ratio(restored[0], _step()) > edge_gradient_ratio(
        ndimage.gaussian_filter(images[0], 1.5), _step()
    )


@settings(max_examples=25, deadline=None)
@given(height=st.integers(1, 9), width=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_the_3x3_maximum_is_scipys(height: int, width: int, seed: int) -> None:
    from meddenoise.models.edge_restore import _maximum3x3

    image = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    assert np.array_equal(_maximum3x3(image), ndimage.maximum_filter(image, size=3))


def _noisy_steps(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A step 0.4 | 0.6 (64x64) under white noise and under correlated noise (a CT kernel's, lag-1 ~0.8),
    both of std 0.05."""
    rng = np.random.default_rng(seed)
    clean = np.repeat([[0.4] * 32 + [0.6] * 32], 64, axis=0)
    correlated = ndimage.gaussian_filter(rng.normal(0, 1, clean.shape), 1.0)
    white = rng.normal(0, 0.05, clean.shape)
    return (clean + white).astype(np.float32), (clean + correlated * (0.05 / correlated.std())).astype(
        np.float32
    )


def test_correlated_only_leaves_white_noise_as_the_network_made_it() -> None:
    white, correlated = _noisy_steps()
    images = np.stack([white, correlated])
    network = _blur(conditioned=True)
    blurred = np.stack([ndimage.gaussian_filter(x, 1.5) for x in images])
    gated = EdgeRestoring(network, 0.8, correlated_only=True)
    out = gated.denoise_batch(images, sigma=0.05)
    # white noise: what the network removed is uncorrelated, so nothing is put back, bit for bit
    assert gated.amount_for(white, blurred[0]) == 0.0
    assert np.array_equal(out[0], blurred[0])
    # a scanner's noise: the whole amount, as without the rule, and it does restore the edge
    assert gated.amount_for(correlated, blurred[1]) == 0.8
    everywhere = EdgeRestoring(network, 0.8).denoise_batch(images, sigma=0.05)
    np.testing.assert_array_equal(out[1], everywhere[1])
    assert not np.array_equal(everywhere[0], blurred[0])  # without the rule white noise would change
    assert not np.array_equal(out[1], blurred[1])
    assert gated.edge_restore_correlated_only and not EdgeRestoring(network, 0.8).edge_restore_correlated_only
