"""Strength above 1 on a denoiser that repeats (``strength_above_one = "repeat"``, the shipped ``ct``).

The oracle is the pipeline itself run again by hand on its own output, told the same noise level: strength 2
must be exactly that, 1.5 half way between one pass and two, and the denoiser is told the level itself (not
twice it) on every pass. Denoisers that do not repeat keep the rule of ``test_noise_level.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from scipy import ndimage

from meddenoise.data import IntensitySpec
from meddenoise.denoiser import Denoiser, repeats_above_one, strength_passes
from meddenoise.models.denoiser import BatchDenoiser
from meddenoise.models.strength import AtStrength
from meddenoise.models.texture import TextureKeeping
from meddenoise.pipeline import DenoiseOptions, denoise_pixels

WINDOW = IntensitySpec("window", level=40, width=400)


class Smoother(BatchDenoiser):
    """Takes a noise level and repeats past strength 1: half way to a 3x3 mean per pass; records the sigma of
    every call and counts the passes."""

    name = "smoother"
    uses_sigma = True
    strength_above_one = "repeat"

    def __init__(self) -> None:
        self.sigmas: list[float] = []
        self.runs = 0

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        assert levels is not None
        self.sigmas += [float(v) for v in levels]

        def once(values: np.ndarray) -> np.ndarray:
            self.runs += 1
            smooth = ndimage.uniform_filter(values, (0, 3, 3), mode="reflect")
            return (0.5 * values + 0.5 * smooth).astype(np.float32)

        return self.repeated(once, batch)


class HalfBack(BatchDenoiser):
    """A wrapper like texture or edge restoration: puts back half of what ``base`` removed."""

    name = "half-back"

    def __init__(self, base: BatchDenoiser) -> None:
        self.base = base
        self.uses_sigma = base.uses_sigma

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch = np.asarray(images, np.float32)
        return (batch + 0.5 * (self.base.denoise_batch(batch, sigma=sigma) - batch)).astype(np.float32)


def _slice(rng: np.random.Generator) -> np.ndarray:
    """Soft tissue with a brighter disc, in HU, inside the 40/400 window, with 20 HU of noise."""
    yy, xx = np.mgrid[:64, :64]
    body = np.where((yy - 32) ** 2 + (xx - 32) ** 2 < 15**2, 120.0, 40.0)
    return (body + rng.normal(0, 20, body.shape)).astype(np.float32)


def _run(pixels: np.ndarray, denoiser: Denoiser, strength: float) -> np.ndarray:
    options = DenoiseOptions(noise_level=20.0, strength=strength)
    out, _ = denoise_pixels(pixels, denoiser, intensity=WINDOW, modality="CT", units="HU", options=options)
    return out


def test_strength_two_is_the_denoiser_run_again_on_its_output(rng: np.random.Generator) -> None:
    ct = _slice(rng)
    smoother = Smoother()
    once = _run(ct, smoother, 1.0)
    twice_by_hand = _run(once, smoother, 1.0)
    thrice_by_hand = _run(twice_by_hand, smoother, 1.0)
    smoother.sigmas.clear()
    smoother.runs = 0
    twice = _run(ct, smoother, 2.0)
    np.testing.assert_allclose(twice, twice_by_hand, atol=1e-3)
    assert smoother.sigmas == [pytest.approx(20 / 400)] and smoother.runs == 2  # told the level, not 2x
    assert (smoother.passes, smoother.pass_share) == (1, 1.0)  # only for the call
    np.testing.assert_allclose(_run(ct, smoother, 3.0), thrice_by_hand, atol=1e-3)
    # a fraction weighs the last pass: 1.5 is half way from one pass to two
    np.testing.assert_allclose(_run(ct, smoother, 1.5), once + 0.5 * (twice_by_hand - once), atol=1e-3)
    # more strength, less noise left: the std of the flat background falls pass by pass
    background = (slice(2, 12), slice(2, 62))
    stds = [float(_run(ct, smoother, s)[background].std()) for s in (1, 1.5, 2, 3)]
    assert stds == sorted(stds, reverse=True) and stds[-1] < 0.8 * stds[0]


def test_wrappers_act_once_on_what_all_passes_removed(rng: np.random.Generator) -> None:
    """Texture and edge restoration wrap the network: past 1 the network repeats inside them, so what they
    put back is a share of what all passes removed from the input, not a share per pass."""
    ct = _slice(rng)
    plain, wrapped = _run(ct, Smoother(), 2.0), _run(ct, HalfBack(Smoother()), 2.0)
    np.testing.assert_allclose(wrapped, ct + 0.5 * (plain - ct), atol=1e-3)
    per_pass = _run(_run(ct, HalfBack(Smoother()), 1.0), HalfBack(Smoother()), 1.0)
    assert np.abs(wrapped - per_pass).max() > 0.5  # HU: the two rules differ


def test_up_to_one_a_repeating_denoiser_is_told_strength_times_the_level(rng: np.random.Generator) -> None:
    smoother = Smoother()
    _, report = denoise_pixels(
        _slice(rng),
        smoother,
        intensity=WINDOW,
        modality="CT",
        units="HU",
        options=DenoiseOptions(noise_level=20.0, strength=0.5),
    )
    assert smoother.sigmas == [pytest.approx(0.5 * 20 / 400)] and report.passes == 1
    assert report.describe() == "noise 20.0 HU (given); strength 0.5"


def test_the_report_says_how_many_passes_ran(rng: np.random.Generator) -> None:
    options = DenoiseOptions(noise_level=20.0, strength=2.5)
    _, report = denoise_pixels(
        _slice(rng), Smoother(), intensity=WINDOW, modality="CT", units="HU", options=options
    )
    assert report.passes == 3 and report.sigmas == [pytest.approx(20 / 400)]
    assert report.describe() == "noise 20.0 HU (given); strength 2.5 (3 passes)"


def test_wrappers_are_seen_through() -> None:
    assert repeats_above_one(TextureKeeping(Smoother(), 0.5)) and repeats_above_one(HalfBack(Smoother()))
    assert not repeats_above_one(TextureKeeping(AtStrength(_LevelNet(), 1.0), 0.5))


class _LevelNet(BatchDenoiser):
    """Conditioned, told more it smooths more (``"level"``): ``x * (1 - sigma)``."""

    name = "level-net"
    uses_sigma = True

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        assert levels is not None
        return (batch * (1 - levels[:, None, None])).astype(np.float32)


class _RepeatNet(_LevelNet):
    name = "repeat-net"
    strength_above_one = "repeat"

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        assert levels is not None
        return self.repeated(lambda b: (b * (1 - levels[:, None, None])).astype(np.float32), batch)


def test_at_strength_repeats_as_the_pipeline_does() -> None:
    images = np.random.default_rng(1).uniform(0.2, 0.8, (2, 8, 8)).astype(np.float32)
    net = _RepeatNet()
    once = net.denoise_batch(images, sigma=[0.1, 0.2])
    twice = net.denoise_batch(once, sigma=[0.1, 0.2])
    np.testing.assert_allclose(AtStrength(net, 2).denoise_batch(images, sigma=[0.1, 0.2]), twice, rtol=1e-6)
    np.testing.assert_allclose(
        AtStrength(net, 1.5).denoise_batch(images, sigma=[0.1, 0.2]), once + 0.5 * (twice - once), rtol=1e-6
    )
    # a network that does not repeat is told strength x the level
    level = AtStrength(_LevelNet(), 2).denoise_batch(images, sigma=[0.1, 0.2])
    np.testing.assert_allclose(level, images * (1 - np.array([0.2, 0.4]))[:, None, None], rtol=1e-6)


@pytest.mark.parametrize("strength", [0.0, 0.3, 1.0, 1.01, 1.5, 2.0, 2.75, 7.0])
def test_passes_and_share_add_up_to_the_strength(strength: float) -> None:
    passes, share = strength_passes(strength)
    assert passes >= 1 and 0 < share <= 1
    if strength > 1:
        assert passes - 1 + share == pytest.approx(strength)
    else:
        assert (passes, share) == (1, 1.0)
