"""Dead-leaves images (meddenoise.data.synthetic): seeded, piecewise constant from the given grey levels,
radii by their power law, edges thinning out as the smallest disc grows, ramps inside discs."""

from __future__ import annotations

import numpy as np
import pytest

from meddenoise.data.synthetic import _power_law, dead_leaves


def test_the_same_seed_gives_the_same_image_and_another_seed_another() -> None:
    first = dead_leaves((48, 40), rng=3)
    assert first.shape == (48, 40) and first.dtype == np.float32
    assert np.array_equal(first, dead_leaves((48, 40), rng=3))
    assert not np.array_equal(first, dead_leaves((48, 40), rng=4))


def test_without_blur_supersampling_or_ramps_every_pixel_is_one_of_the_given_grey_levels() -> None:
    levels = np.array([0.1, 0.35, 0.8], dtype=np.float32)
    image = dead_leaves((64, 64), rng=0, values=levels, supersample=1, blur=(0.0, 0.0))
    assert set(np.unique(image).tolist()) <= set(levels.tolist())
    assert len(np.unique(image)) == 3  # thousands of discs: every level shows


def test_supersampling_and_blur_soften_edges_but_stay_within_the_grey_levels_range() -> None:
    levels = np.array([0.2, 0.6], dtype=np.float32)
    image = dead_leaves((64, 64), rng=0, values=levels, supersample=2, blur=(0.5, 1.0))
    assert image.min() >= 0.2 and image.max() <= 0.6
    assert np.count_nonzero((image > 0.21) & (image < 0.59)) > 0  # edge pixels between the two levels


def test_radii_follow_their_power_law() -> None:
    rng = np.random.default_rng(1)
    radii = _power_law(rng, 200_000, 2.0, 50.0, 3.0)
    assert radii.min() >= 2.0 and radii.max() <= 50.0
    # P(r <= 4) of density r**-3 on [2, 50]: (2**-2 - 4**-2) / (2**-2 - 50**-2)
    expected = (2.0**-2 - 4.0**-2) / (2.0**-2 - 50.0**-2)
    assert np.mean(radii <= 4.0) == pytest.approx(expected, abs=0.005)


def test_larger_smallest_discs_leave_fewer_edges() -> None:
    def edge_share(radii: tuple[float, float]) -> float:
        image = dead_leaves((128, 128), rng=5, radius_range=radii, supersample=1, blur=(0.0, 0.0))
        return float(np.mean(np.diff(image, axis=1) != 0))

    assert edge_share((8.0, 60.0)) < 0.5 * edge_share((1.0, 60.0))


def test_coverage_is_the_mean_number_of_discs_over_a_pixel() -> None:
    """A pixel stays uncovered (the first disc's value) with probability exp(-coverage), discs reaching in
    from outside the image included: small discs, so the largest one-valued region is the uncovered one."""
    unique_levels = np.linspace(0.0, 1.0, 1_000_000)
    uncovered = []
    for seed in range(12):
        image = dead_leaves(
            (40, 40),
            rng=seed,
            values=unique_levels,
            radius_range=(3.0, 3.0),
            coverage=1.0,
            supersample=1,
            blur=(0.0, 0.0),
        )
        uncovered.append(np.unique(image, return_counts=True)[1].max() / image.size)
    assert np.mean(uncovered) == pytest.approx(np.exp(-1.0), abs=0.05)


def test_a_ramp_tilts_the_discs_and_none_leaves_them_flat() -> None:
    levels = np.array([0.3, 0.7], dtype=np.float32)
    options = {"values": levels, "radius_range": (20.0, 40.0), "supersample": 1, "blur": (0.0, 0.0)}
    flat = dead_leaves((64, 64), rng=2, **options)  # type: ignore[arg-type]
    tilted = dead_leaves((64, 64), rng=2, ramp=0.2, **options)  # type: ignore[arg-type]
    assert len(np.unique(flat)) <= 2
    assert len(np.unique(tilted)) > 100
    assert tilted.min() >= 0.3 and tilted.max() <= 0.7  # clipped to the range of the grey levels
    # linear inside a disc: most second differences along a row vanish (not across edges)
    second = np.abs(np.diff(tilted, n=2, axis=1))
    assert np.mean(second < 1e-5) > 0.8


@pytest.mark.parametrize(
    "options",
    [
        {"radius_range": (0.0, 5.0)},
        {"radius_range": (5.0, 2.0)},
        {"alpha": 1.0},
        {"coverage": 0.0},
        {"supersample": 0},
        {"blur": (1.0, 0.5)},
        {"ramp": -0.1},
        {"values": np.array([])},
    ],
)
def test_impossible_options_are_refused_with_a_reason(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="dead_leaves"):
        dead_leaves((16, 16), rng=0, **options)  # type: ignore[arg-type]
