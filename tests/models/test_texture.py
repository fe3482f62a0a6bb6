"""Noise texture: a share of the removed fine-grained noise put back, the coarse part left as it was."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recording_blur import RecordingBlur
from scipy import ndimage

from meddenoise.denoiser import repeated_passes, told_noise_correlation
from meddenoise.metrics.ct import noise_power_spectrum
from meddenoise.models.texture import (
    AUTO_TEXTURE_AMOUNT,
    AUTO_TEXTURE_CORRELATION,
    AUTO_TEXTURE_FULL_HU,
    AUTO_TEXTURE_START_HU,
    BLEND_TEXTURE_AMOUNT,
    BLEND_TEXTURE_CORRELATED_AMOUNT,
    BLEND_TEXTURE_CORRELATED_BETWEEN,
    BLEND_TEXTURE_FULL_HU,
    BLEND_TEXTURE_START_HU,
    SCANNER_NOISE_CORRELATION,
    TextureKeeping,
    TextureRamp,
    auto_texture_ramp,
    blend_texture_ramp,
    check_texture,
    correlation_gate,
    keep_texture,
    parse_texture,
    removed_correlation,
    texture_suffix,
)


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


@settings(max_examples=50, deadline=None)
@given(low=st.floats(0.0, 0.2), high=st.floats(0.0, 0.2))
def test_a_ramp_never_puts_back_less_at_a_higher_noise_level(low: float, high: float) -> None:
    ramp = TextureRamp(start=0.01, full=0.03, amount=0.7)
    low, high = sorted((low, high))
    assert 0.0 <= ramp.at(low) <= ramp.at(high) <= 0.7
    assert ramp.at(min(low, 0.01)) == 0.0 and ramp.at(max(high, 0.03)) == 0.7


def test_the_auto_ramp_is_the_hu_levels_on_the_windows_scale() -> None:
    # the ct model's L0/W2048 window: 1 on its scale is 2048 HU; its own ramp, without the scanner's
    ramp = replace(auto_texture_ramp(2048.0), scanner=None)
    assert ramp.at(AUTO_TEXTURE_START_HU / 2048) == 0.0
    assert ramp.at(AUTO_TEXTURE_FULL_HU / 2048) == AUTO_TEXTURE_AMOUNT == 0.7
    assert ramp.at(40 / 2048) == pytest.approx(0.35)  # halfway between 30 and 50 HU
    narrow = replace(auto_texture_ramp(400.0), scanner=None)
    assert narrow.at(40 / 400) == pytest.approx(0.35)  # the same HU on a narrower window
    # with the scanner's blend (a scanner's noise): the most either puts back at the level
    scanner = auto_texture_ramp(2048.0)
    assert scanner.at(AUTO_TEXTURE_START_HU / 2048) == BLEND_TEXTURE_CORRELATED_AMOUNT
    assert scanner.at(BLEND_TEXTURE_START_HU / 2048) == 0.0 and scanner.largest == 0.7
    with pytest.raises(ValueError, match="start < full"):
        TextureRamp(start=0.03, full=0.01, amount=0.5)
    with pytest.raises(ValueError, match="texture ramp"):
        TextureRamp(start=0.0, full=0.01, amount=1.5)


@pytest.mark.parametrize(
    ("text", "expected"), [("auto", "auto"), (" AUTO ", "auto"), ("0.5", 0.5), (0.25, 0.25)]
)
def test_a_setting_is_auto_or_an_amount(text: str | float, expected: str | float) -> None:
    assert parse_texture(text) == expected


@pytest.mark.parametrize("text", ["bogus", "2", -1.0])
def test_a_setting_that_is_neither_is_refused_in_one_line(text: str | float) -> None:
    with pytest.raises(ValueError, match=r"^texture.*\[0, 1\]"):
        parse_texture(text)


def test_a_ramp_gives_each_image_the_amount_at_its_own_level() -> None:
    images = np.stack([_flat(0.02), _flat(0.05, 1), _flat(0.03, 2)])
    ramp = TextureRamp(start=0.025, full=0.045, amount=0.6)
    wrapped = TextureKeeping(_smooth(conditioned=True), ramp)
    out = wrapped.denoise_batch(images, sigma=[0.02, 0.05, 0.035])
    amounts = [0.0, 0.6, 0.3]  # below the ramp, above it, halfway
    expected = [
        keep_texture(x, ndimage.gaussian_filter(x, 3.0), a) for x, a in zip(images, amounts, strict=True)
    ]
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-6)
    assert wrapped.name == "smooth tauto" and wrapped.texture_auto and wrapped.texture == 0.6
    assert [wrapped.texture_at(s) for s in (0.02, 0.05, 0.035)] == pytest.approx(amounts)
    assert wrapped.texture_at(None) is None  # not told: the wrapper estimates the level itself
    assert not TextureKeeping(_smooth(conditioned=True), 0.4).texture_auto


def test_a_ramp_reads_the_level_even_for_a_network_that_takes_none() -> None:
    quiet, loud = _flat(0.005), _flat(0.08, 1)
    ramp = TextureRamp(start=0.02, full=0.04, amount=0.5)
    blind = _smooth(conditioned=False)
    out = TextureKeeping(blind, ramp).denoise_batch(np.stack([quiet, loud]))
    assert blind.told == [None]  # the network itself is told nothing
    smooth = [ndimage.gaussian_filter(x, 3.0) for x in (quiet, loud)]
    np.testing.assert_allclose(out[0], smooth[0], atol=1e-6)  # estimated ~0.005: below the ramp
    np.testing.assert_allclose(out[1], keep_texture(loud, smooth[1], 0.5), atol=1e-6)  # ~0.08: above it


def _correlated(noise: float = 0.05, seed: int = 0, size: int = 128) -> np.ndarray:
    """Noise like a CT kernel's: white noise blurred by a Gaussian of 1 px, scaled back to ``noise``."""
    blurred = ndimage.gaussian_filter(np.random.default_rng(seed).normal(0, 1, (size, size)), 1.0)
    return (0.5 + noise * blurred / blurred.std()).astype(np.float32)


def test_the_removed_components_correlation_tells_white_noise_from_a_kernels() -> None:
    white, kernel = _flat(0.05), _correlated(0.05)
    flat = np.full_like(white, 0.5)
    assert abs(removed_correlation(white, flat)) < 0.03
    assert removed_correlation(kernel, flat) > 0.7
    assert removed_correlation(flat, flat) == 0.0  # nothing removed


@settings(max_examples=40, deadline=None)
@given(low=st.floats(-1, 1), high=st.floats(-1, 1))
def test_the_gate_never_lets_less_through_at_a_higher_correlation(low: float, high: float) -> None:
    low, high = sorted((low, high))
    assert 0.0 <= correlation_gate(low) <= correlation_gate(high) <= 1.0


def test_a_gated_ramp_keeps_the_texture_of_correlated_noise_only() -> None:
    ramp = TextureRamp(start=0.01, full=0.03, amount=0.6, correlation=AUTO_TEXTURE_CORRELATION)
    wrapped = TextureKeeping(_smooth(conditioned=True), ramp)
    white, kernel = _flat(0.05), _correlated(0.05, 1)
    out = wrapped.denoise_batch(np.stack([white, kernel]), sigma=0.05)
    smooth = [ndimage.gaussian_filter(x, 3.0) for x in (white, kernel)]
    assert removed_correlation(white, smooth[0]) < AUTO_TEXTURE_CORRELATION[0]
    assert removed_correlation(kernel, smooth[1]) > AUTO_TEXTURE_CORRELATION[1]
    np.testing.assert_allclose(out[0], smooth[0], atol=1e-6)  # white: nothing put back
    np.testing.assert_allclose(out[1], keep_texture(kernel, smooth[1], 0.6), atol=1e-6)  # the whole share
    assert wrapped.texture_at(0.05) == 0.6  # the most the level allows


def test_auto_asks_the_removed_noise_to_be_correlated() -> None:
    assert auto_texture_ramp(2048.0).correlation == AUTO_TEXTURE_CORRELATION
    assert TextureRamp(start=0.0, full=0.1, amount=0.5).share(0.2, correlation=-0.5) == 0.5  # no gate asked
    with pytest.raises(ValueError, match="correlations"):
        TextureRamp(start=0.0, full=0.1, amount=0.5, correlation=(0.2, 0.1))


def _kernel_noise(blur: float, seed: int = 0, size: int = 128) -> np.ndarray:
    """Flat 0.5 with noise blurred by a Gaussian of ``blur`` px (a sharper or softer kernel), std 0.05."""
    blurred = ndimage.gaussian_filter(np.random.default_rng(seed).normal(0, 1, (size, size)), blur)
    return (0.5 + 0.05 * blurred / blurred.std()).astype(np.float32)


def test_a_rising_amount_gives_a_soft_kernels_noise_more_of_itself_back() -> None:
    """With ``correlated_amount`` the share follows the removed component's lag-1 correlation: ``amount`` at or
    under the first bound, ``correlated_amount`` from the second, linear between; the level's ramp and the
    white-noise gate still apply."""
    ramp = TextureRamp(
        start=0.01,
        full=0.03,
        amount=0.4,
        correlation=AUTO_TEXTURE_CORRELATION,
        coarse=1.0,
        correlated_amount=0.7,
        correlated_between=(0.7, 0.9),
    )
    wrapped = TextureKeeping(_smooth(conditioned=True), ramp)
    images = np.stack([_kernel_noise(0.6), _kernel_noise(3.0, 1), _flat(0.05, 2), _kernel_noise(3.0, 3)])
    out = wrapped.denoise_batch(images, sigma=[0.05, 0.05, 0.05, 0.02])  # the last one halfway up the ramp
    smooth = [ndimage.gaussian_filter(x, 3.0) for x in images]
    correlations = [removed_correlation(x, y) for x, y in zip(images, smooth, strict=True)]
    assert correlations[0] < 0.7 < 0.9 < correlations[1]  # a sharp and a soft kernel: not vacuous
    shares = [0.4, 0.7, 0.0, 0.35]  # sharp, soft, white (gated out), soft at half the level
    for x, y, got, share in zip(images, smooth, out, shares, strict=True):
        np.testing.assert_allclose(got, (1 - share) * y + share * x, atol=1e-6)
    assert ramp.largest == 0.7 and wrapped.texture == 0.7 and wrapped.texture_at(0.05) == 0.7  # the most
    assert ramp.amount_for(0.8) == pytest.approx(0.55)
    with pytest.raises(ValueError, match="correlated amount"):
        TextureRamp(start=0.0, full=0.1, amount=0.5, correlated_amount=1.2)
    with pytest.raises(ValueError, match="correlations"):
        TextureRamp(start=0.0, full=0.1, amount=0.5, correlated_amount=0.7, correlated_between=(0.9, 0.7))


@settings(max_examples=60, deadline=None)
@given(
    first=st.floats(-1, 1),
    second=st.floats(-1, 1),
    amount=st.floats(0, 1),
    correlated=st.floats(0, 1),
)
def test_a_rising_amount_stays_between_its_two_amounts_and_moves_one_way(
    first: float, second: float, amount: float, correlated: float
) -> None:
    ramp = TextureRamp(start=0.0, full=0.1, amount=amount, correlated_amount=correlated)
    low, high = sorted((first, second))
    at_low, at_high = ramp.amount_for(low), ramp.amount_for(high)
    assert min(amount, correlated) - 1e-12 <= at_low <= max(amount, correlated) + 1e-12
    assert (at_high - at_low) * (correlated - amount) >= -1e-12  # towards correlated_amount as it rises


def test_a_coarse_share_of_one_is_a_plain_blend_with_the_input() -> None:
    noisy = _flat(0.02)
    smooth = ndimage.gaussian_filter(noisy, 3.0)
    blended = keep_texture(noisy, smooth, 0.4, coarse=1.0)
    np.testing.assert_allclose(blended, 0.6 * smooth + 0.4 * noisy, atol=1e-6)
    assert np.array_equal(keep_texture(noisy, smooth, 0.4, coarse=0.0), keep_texture(noisy, smooth, 0.4))


def test_the_coarse_share_brings_back_the_coarse_band_only() -> None:
    noisy = _flat()
    smooth = ndimage.gaussian_filter(noisy, 3.0)
    errors = [_error_nps(keep_texture(noisy, smooth, 0.7, coarse=c) - 0.5) for c in (0.0, 0.5, 1.0)]
    coarse_std = [e.band_std(0, 0.04) for e in errors]
    assert coarse_std[0] < coarse_std[1] < coarse_std[2]  # more of the coarse part comes back
    # the fine grain is the same at every coarse share (G(r) holds next to none of it)
    assert [e.band_std(0.15) for e in errors] == pytest.approx([errors[0].band_std(0.15)] * 3, rel=0.05)


def test_a_ramp_hands_its_coarse_share_down() -> None:
    images = np.stack([_correlated(0.05), _correlated(0.01, 1)])
    ramp = TextureRamp(start=0.01, full=0.03, amount=0.5, correlation=AUTO_TEXTURE_CORRELATION, coarse=0.6)
    out = TextureKeeping(_smooth(conditioned=True), ramp).denoise_batch(images, sigma=[0.05, 0.005])
    smooth = [ndimage.gaussian_filter(x, 3.0) for x in images]
    np.testing.assert_allclose(out[0], keep_texture(images[0], smooth[0], 0.5, coarse=0.6), atol=1e-6)
    np.testing.assert_allclose(out[1], smooth[1], atol=1e-6)  # under the ramp: nothing at any coarse share
    with pytest.raises(ValueError, match="coarse share"):
        TextureRamp(start=0.0, full=0.1, amount=0.5, coarse=1.5)
    with pytest.raises(ValueError, match="coarse share"):
        keep_texture(images[0], smooth[0], 0.5, coarse=-0.1)


def test_the_blend_ramp_puts_back_the_whole_removed_component_on_its_own_levels() -> None:
    ramp = blend_texture_ramp(2048.0)
    assert ramp.coarse == 1.0 and ramp.correlation == AUTO_TEXTURE_CORRELATION and ramp.setting == "blend"
    assert ramp.at(BLEND_TEXTURE_START_HU / 2048) == 0.0
    assert ramp.at(BLEND_TEXTURE_FULL_HU / 2048) == BLEND_TEXTURE_CORRELATED_AMOUNT == 0.7  # the most
    assert ramp.amount == BLEND_TEXTURE_AMOUNT == 0.5
    assert ramp.correlated_between == BLEND_TEXTURE_CORRELATED_BETWEEN == (0.6, 0.9)
    assert ramp.share(1.0, correlation=0.5) == 0.5 and ramp.share(1.0, correlation=0.95) == 0.7
    assert ramp.share(1.0, correlation=0.75) == pytest.approx(0.6)
    assert (
        ramp.scanner is None and auto_texture_ramp(2048.0).scanner == ramp
    )  # auto's ramp for a scanner's noise
    assert auto_texture_ramp(2048.0).coarse == 0.0 and auto_texture_ramp(2048.0).setting == "auto"
    assert [texture_suffix(x) for x in (ramp, auto_texture_ramp(2048.0), "blend", 0.5)] == [
        " tblend",
        " tauto",
        " tblend",
        " t0.5",
    ]
    # through the wrapper: a blend of network and input, the level's share of it
    # a soft kernel's noise (lag-1 correlation of what is removed over 0.9) and a sharp one's (under 0.7)
    images = np.stack([_kernel_noise(3.0), _kernel_noise(3.0, 1), _kernel_noise(0.6, 2)])
    wrapped = TextureKeeping(_smooth(conditioned=True), blend_texture_ramp(1.0))  # a scale of 1 "HU"
    halfway = (BLEND_TEXTURE_START_HU + BLEND_TEXTURE_FULL_HU) / 2
    out = wrapped.denoise_batch(images, sigma=[40.0, halfway, 40.0])  # past the full level; halfway up
    smooth = [ndimage.gaussian_filter(x, 3.0) for x in images]
    correlations = [removed_correlation(x, y) for x, y in zip(images, smooth, strict=True)]
    assert correlations[0] > 0.9 and correlations[1] > 0.9 and correlations[2] < 0.6
    np.testing.assert_allclose(out[0], 0.3 * smooth[0] + 0.7 * images[0], atol=1e-6)
    np.testing.assert_allclose(out[1], 0.65 * smooth[1] + 0.35 * images[1], atol=1e-6)
    np.testing.assert_allclose(out[2], 0.5 * smooth[2] + 0.5 * images[2], atol=1e-6)
    assert wrapped.name == "smooth tblend" and wrapped.texture_setting == "blend"
    with pytest.raises(ValueError, match="window width must be positive"):
        blend_texture_ramp(0.0)


class _RepeatingBlur(RecordingBlur):
    """A conditioned blur told the noise's kind that repeats past strength 1, like the shipped ``ct``;
    ``runs`` lists the passes of each call."""

    uses_correlation = True
    strength_above_one = "repeat"

    def __init__(self) -> None:
        super().__init__(conditioned=True, blur=1.5, name="repeating")
        self.runs: list[int] = []

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        self.told.append(levels)
        self.runs.append(self.passes)

        def once(x: np.ndarray) -> np.ndarray:
            return np.stack([ndimage.gaussian_filter(i, self.blur) for i in x]).astype(np.float32)

        return self.repeated(once, batch)


def test_auto_gives_a_scanners_noise_one_more_pass_and_the_blend_and_white_noise_the_fine_grain() -> None:
    """Told a kernel's correlation (0.7 and over) the network runs twice and the blend ramp applies, as
    ``--texture blend --strength 2``; told white (0.5 and under) once with the fine-grained ramp, as before;
    between, a mix of the two outputs; the strength's passes come first."""
    images = np.stack([_kernel_noise(1.0, seed) for seed in range(2)]) * 2.0  # 0.1 std: past both ramps
    sigma = [60.0, 60.0]  # on a scale of 1 "HU": past auto's 50 and the blend's 24

    def scored(amount: TextureRamp, correlation: float, passes: float = 1.0) -> tuple[np.ndarray, list[int]]:
        net = _RepeatingBlur()
        wrapped = TextureKeeping(net, amount)
        with told_noise_correlation(wrapped, correlation), repeated_passes(wrapped, passes):
            return wrapped.denoise_batch(images, sigma=sigma), net.runs

    auto = auto_texture_ramp(1.0)
    fine = replace(auto, scanner=None)
    assert TextureKeeping(_RepeatingBlur(), auto).scanner_between == SCANNER_NOISE_CORRELATION == (0.5, 0.7)
    white, runs = scored(auto, 0.0)
    np.testing.assert_array_equal(white, scored(fine, 0.0)[0])
    assert runs == [1]
    scanner, runs = scored(auto, 0.8)
    np.testing.assert_array_equal(scanner, scored(blend_texture_ramp(1.0), 0.8, passes=2)[0])
    assert runs == [2] and not np.allclose(scanner, white, atol=1e-3)
    mixed, runs = scored(auto, 0.6)  # half way: both outputs, half each
    np.testing.assert_allclose(mixed, 0.5 * white + 0.5 * scanner, atol=1e-6)
    assert runs == [1, 2]
    _, runs = scored(auto, 0.8, passes=2)  # strength 2: one more than the strength's two
    assert runs == [3]
    # what a network that does not repeat, or is not told the kind, gets: the fine-grained ramp alone
    plain = TextureKeeping(_smooth(conditioned=True), auto)
    assert plain.scanner_between is None
    np.testing.assert_array_equal(
        plain.denoise_batch(images, sigma=sigma),
        TextureKeeping(_smooth(conditioned=True), fine).denoise_batch(images, sigma=sigma),
    )


@settings(max_examples=20, deadline=None)
@given(correlation=st.floats(-1.0, 1.0))
def test_the_scanner_share_rises_from_none_to_all_over_its_correlations(correlation: float) -> None:
    auto = auto_texture_ramp(2048.0)
    low, high = SCANNER_NOISE_CORRELATION
    share = auto.scanner_share(correlation)
    assert 0.0 <= share <= 1.0 and replace(auto, scanner=None).scanner_share(correlation) == 0.0
    assert (share == 0.0) == (correlation <= low) and (share == 1.0) == (correlation >= high)
    assert auto.scanner_share(min(correlation + 0.05, 1.0)) >= share


def test_a_correlation_that_cannot_be_read_counts_as_white_noise() -> None:
    """An image whose noise correlation reads NaN (nothing to read) gets the fine-grained ramp, one pass."""

    class Unreadable(_RepeatingBlur):
        def noise_correlations(self, images: np.ndarray) -> np.ndarray | None:
            return np.full(len(images), np.nan)

    images = np.stack([_kernel_noise(1.0, 5)]) * 2.0
    net = Unreadable()
    out = TextureKeeping(net, auto_texture_ramp(1.0)).denoise_batch(images, sigma=[60.0])
    expected = TextureKeeping(_RepeatingBlur(), replace(auto_texture_ramp(1.0), scanner=None))
    with told_noise_correlation(expected, 0.0):
        np.testing.assert_array_equal(out, expected.denoise_batch(images, sigma=[60.0]))
    assert net.runs == [1] and np.isfinite(out).all()
