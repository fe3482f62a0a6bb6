"""Noise texture: a share of the removed fine-grained noise put back, the coarse part left as it was."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recording_blur import RecordingBlur
from scipy import ndimage

from meddenoise.metrics.ct import noise_power_spectrum
from meddenoise.models.texture import TextureKeeping, check_texture, keep_texture


def _smooth(*, conditioned: bool) -> RecordingBlur:
    """The stand-in network: a Gaussian blur of 3.0 px (fine noise gone, coarse mottle left)."""
    return RecordingBlur(conditioned=conditioned, blur=3.0, name="smooth")


def _flat(noise: float = 0.05, seed: int = 0, size: int = 128) -> np.ndarray:
    return (0.5 + np.random.default_rng(seed).normal(0, noise, (size, size))).astype(np.float32)


def _error_nps(error: np.ndarray):  # type: ignore[no-untyped-def]
    rois = [error[r : r + 32, c : c + 32] for r in range(0, 128, 32) for c in range(0, 128, 32)]
    return noise_power_spectrum(rois, pixel_mm=1.0)


def test_the_fine_grain_comes_back_and_the_coarse_mottle_stays_as_it_was() -> None:
    noisy = _flat()
    smooth = ndimage.gaussian_filter(noisy, 3.0)
    before, after = _error_nps(smooth - 0.5), _error_nps(keep_texture(noisy, smooth, 0.7) - 0.5)
    # the smoothed residual is blotchy: its spectrum sits at low frequencies
    assert before.mean_frequency < 0.5 * _error_nps(noisy - 0.5).mean_frequency
    # the texture moves back up, with more noise in all
    assert after.mean_frequency > 2 * before.mean_frequency and after.variance > before.variance
    # ... all of it above the coarse band: the mottle below 0.04 cycles/px is the network's, nearly unchanged
    assert after.band_std(0, 0.04) == pytest.approx(before.band_std(0, 0.04), rel=0.1)
    assert after.band_std(0.15) > 5 * before.band_std(0.15)


def test_nothing_changes_at_zero_or_when_nothing_was_removed() -> None:
    noisy = _flat()
    smooth = ndimage.gaussian_filter(noisy, 3.0)
    assert np.array_equal(keep_texture(noisy, smooth, 0.0), smooth)
    assert np.array_equal(keep_texture(noisy, noisy, 0.8), noisy)  # the network changed nothing


@settings(max_examples=25, deadline=None)
@given(amount=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_the_kept_part_scales_with_the_amount(amount: float, seed: int) -> None:
    noisy = _flat(0.02, seed, size=48)
    smooth = ndimage.gaussian_filter(noisy, 3.0)
    full = keep_texture(noisy, smooth, 1.0).astype(np.float64) - smooth
    part = keep_texture(noisy, smooth, amount).astype(np.float64) - smooth
    np.testing.assert_allclose(part, amount * full, atol=1e-6)  # no clipping: values stay in (0, 1)


def test_values_stay_in_the_unit_range() -> None:
    noisy = _flat(0.4)  # noise well past 0 and 1
    kept = keep_texture(np.clip(noisy, 0, 1), np.full_like(noisy, 0.5), 1.0)
    assert kept.dtype == np.float32 and kept.min() >= 0.0 and kept.max() <= 1.0


@pytest.mark.parametrize("amount", [-0.1, 1.5, float("nan")])
def test_an_amount_outside_zero_to_one_is_refused(amount: float) -> None:
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
        check_texture(amount)
    with pytest.raises(ValueError, match="smooth: texture"):
        TextureKeeping(_smooth(conditioned=False), amount)
    with pytest.raises(ValueError, match="two 2D images of one shape"):
        keep_texture(np.zeros((8, 8)), np.zeros((8, 9)), 0.5)


def test_the_wrapper_tells_the_network_its_levels_and_names_itself() -> None:
    images = np.stack([_flat(0.02), _flat(0.05, 1)])
    conditioned = _smooth(conditioned=True)
    wrapped = TextureKeeping(conditioned, 0.6)
    out = wrapped.denoise_batch(images, sigma=[0.02, 0.05])
    np.testing.assert_allclose(conditioned.told[-1], [0.02, 0.05])
    expected = [keep_texture(x, ndimage.gaussian_filter(x, 3.0), 0.6) for x in images]
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-6)
    assert wrapped.name == "smooth t0.6" and wrapped.texture == 0.6 and wrapped.edge_restore == 0.0
    # blind: the levels are estimated once, by the wrapper, and handed down
    blind = _smooth(conditioned=True)
    TextureKeeping(blind, 0.6).denoise_batch(images)
    assert len(blind.told) == 1 and blind.told[0] is not None and blind.told[0][1] > blind.told[0][0]
