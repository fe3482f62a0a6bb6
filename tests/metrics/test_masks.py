"""Tissue masks and the metrics inside them (metrics.masks, the mask= of the metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from meddenoise.metrics import mae, mse, psnr, ssim
from meddenoise.metrics.masks import MaskRule, body_mask, threshold_mask


def _phantom() -> tuple[np.ndarray, np.ndarray]:
    """A CT-like phantom in HU: an elliptic body (0 HU) with two lungs (-800 HU), a table, a speck; and the body."""
    yy, xx = np.mgrid[:96, :128].astype(np.float64)
    body = ((yy - 44) / 36) ** 2 + ((xx - 64) / 52) ** 2 <= 1
    image = np.full(body.shape, -1000.0)
    image[body] = 0.0
    for cx in (44, 84):  # lungs: dark holes inside the body
        image[((yy - 44) / 18) ** 2 + ((xx - cx) / 12) ** 2 <= 1] = -800.0
    image[88:91, 10:118] = 200.0  # the table, apart from the body
    image[3, 3] = 300.0  # a speck
    return image, body


def test_body_mask_of_a_phantom_is_the_filled_body_without_table_or_speck() -> None:
    image, body = _phantom()
    assert np.array_equal(body_mask(image), body)  # Otsu separates air from the body
    assert np.array_equal(body_mask(image, threshold=-500), body)
    # the lungs are below the threshold: only hole filling puts them back in
    assert not threshold_mask(image, -500)[44, 44] and body_mask(image)[44, 44]
    assert threshold_mask(image, -500).sum() == (image > -500).sum()
    assert not body_mask(np.zeros((8, 8))).any()  # nothing above any threshold: empty


def test_mask_rules_parse_and_apply() -> None:
    image, body = _phantom()
    assert MaskRule.parse("body") == MaskRule("body")
    assert MaskRule.parse(" Threshold:-500 ") == MaskRule("threshold", -500.0)
    assert np.array_equal(MaskRule.parse("body:-500")(image), body)
    assert np.array_equal(MaskRule.parse("threshold:100")(image), image > 100)
    for bad, message in (
        ("lungs", "unknown mask"),
        ("threshold", "needs its threshold"),
        ("body:x", "not a number"),
    ):
        with pytest.raises(ValueError, match=message):
            MaskRule.parse(bad)


def test_a_mask_around_the_wrong_region_changes_the_pixel_scores_as_by_hand() -> None:
    clean = np.zeros((20, 30))
    estimate = clean.copy()
    estimate[:, :10] = 0.2  # the denoiser is wrong on the left third only
    outside = np.zeros(clean.shape, bool)
    outside[:, 10:] = True
    assert mae(estimate, clean) == pytest.approx(0.2 / 3)
    assert mae(estimate, clean, mask=outside) == 0.0
    assert psnr(estimate, clean, data_range=1.0, mask=outside) == math.inf
    half = outside.copy()
    half[:, 5:10] = True  # 5 wrong columns of 25 inside
    assert mae(estimate, clean, mask=half) == pytest.approx(0.2 * 5 / 25)
    assert mse(estimate, clean, mask=half) == pytest.approx(0.04 * 5 / 25)
    assert psnr(estimate, clean, data_range=1.0, mask=half) == pytest.approx(10 * math.log10(25 / (0.04 * 5)))
    assert math.isnan(mae(estimate, clean, mask=np.zeros(clean.shape, bool)))
    with pytest.raises(ValueError, match="does not match"):
        mae(estimate, clean, mask=np.ones((3, 3), bool))


def test_masked_ssim_is_the_mean_of_the_ssim_map_inside_the_mask() -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((40, 50))
    estimate = clean.copy()
    estimate[:, :20] += rng.normal(0, 0.1, (40, 20))  # wrong on the left only
    mask = np.zeros(clean.shape, bool)
    mask[5:35, 10:45] = True
    _, ssim_map = structural_similarity(estimate, clean, data_range=1.0, win_size=7, full=True)
    inner = np.zeros(clean.shape, bool)
    inner[3:-3, 3:-3] = True  # the border crop of the unmasked mean (windows fully inside)
    assert ssim(estimate, clean, data_range=1.0, mask=mask) == pytest.approx(
        ssim_map[mask & inner].mean(), abs=1e-6
    )
    assert ssim(estimate, clean, data_range=1.0, mask=np.ones(clean.shape, bool)) == ssim(
        estimate, clean, data_range=1.0
    )
    right = np.zeros(clean.shape, bool)
    right[:, 26:] = True  # windows there see only the exact pixels
    assert ssim(estimate, clean, data_range=1.0, mask=right) == pytest.approx(1.0)
    assert ssim(estimate, clean, data_range=1.0) < 0.99  # the whole image sees the wrong part
    with pytest.raises(ValueError, match="downsample"):
        ssim(estimate, clean, data_range=1.0, mask=mask, downsample=True)
