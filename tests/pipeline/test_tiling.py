"""Tiling: coverage, blending weights, and tiles-vs-whole agreement (no seams)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import median_filter

from meddenoise.denoiser import Denoiser
from meddenoise.pipeline.tiling import blend_ramp, count_tiles, denoise_tiled, tile_starts, tile_weight


@given(length=st.integers(1, 3000), tile=st.integers(16, 512), overlap_frac=st.floats(0, 0.49))
@settings(max_examples=200, deadline=None)
def test_tile_starts_cover_the_whole_length(length: int, tile: int, overlap_frac: float) -> None:
    overlap = int(tile * overlap_frac)
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(length, dtype=bool)
    for s in starts:
        covered[s : s + tile] = True
        assert s >= 0 and (s + tile <= length or length <= tile)
    assert covered.all()
    # consecutive tiles overlap by at least `overlap`
    for a, b in itertools.pairwise(starts):
        assert a + tile - b >= overlap


@given(overlap=st.integers(1, 200))
def test_blend_ramp_is_antisymmetric_and_monotone(overlap: int) -> None:
    ramp = blend_ramp(overlap)
    assert ramp.shape == (overlap,)
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0, atol=1e-6)
    assert np.all(np.diff(ramp) >= -1e-7)
    assert ramp.min() >= 0 and ramp.max() <= 1


def test_tile_weight_keeps_full_weight_on_image_borders() -> None:
    w = tile_weight(64, 64, 16, top=False, bottom=True, left=False, right=True)
    assert w[0, 0] == 1.0 and w[0, 30] == 1.0
    assert w[-1, -1] == 0.0  # the corner facing other tiles is left to them


@given(
    height=st.integers(20, 300),
    width=st.integers(20, 300),
    tile=st.integers(16, 96),
    overlap=st.integers(0, 40),
)
@settings(max_examples=60, deadline=None)
def test_identity_denoiser_returns_the_image_exactly(
    height: int, width: int, tile: int, overlap: int
) -> None:
    overlap = min(overlap, tile // 2 - 1) if tile // 2 > 1 else 0
    image = np.random.default_rng(height * 1000 + width).random((height, width)).astype(np.float32)
    out = denoise_tiled(image, lambda batch: batch, tile=tile, overlap=max(overlap, 0))
    assert np.isfinite(out).all()  # every pixel got a positive total weight
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_median_in_tiles_matches_median_of_the_whole(rng: np.random.Generator) -> None:
    image = rng.random((700, 530)).astype(np.float32)

    def median3(batch: np.ndarray) -> np.ndarray:
        return np.stack([median_filter(x, size=3, mode="reflect") for x in batch])

    whole = median3(image[None])[0]
    tiled = denoise_tiled(image, median3, tile=128, overlap=32)
    # the 1-pixel border a tile gets wrong lies where its weight is 0
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


class _ConvNetDenoiser(Denoiser):
    """A random 6-layer 3x3 CNN (receptive radius 6 px), like the shipped models but untrained."""

    name = "random-cnn"

    def __init__(self) -> None:
        torch.manual_seed(0)
        layers: list[torch.nn.Module] = [torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU()]
        for _ in range(4):
            layers += [torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()]
        layers += [torch.nn.Conv2d(8, 1, 3, padding=1)]
        self.net = torch.nn.Sequential(*layers).eval()

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        return self.denoise_batch(image[None], sigma=sigma)[0]

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(images))[:, None]
            return (x - 0.1 * self.net(x)).numpy()[:, 0]


def test_cnn_in_tiles_leaves_no_seams(rng: np.random.Generator) -> None:
    yy, xx = np.mgrid[0:400, 0:400] / 400.0
    image = np.clip(0.5 + 0.3 * np.sin(8 * xx) * np.cos(5 * yy) + 0.05 * rng.normal(size=xx.shape), 0, 1)
    denoiser = _ConvNetDenoiser()
    whole = denoiser(image.astype(np.float32))
    tiled = denoise_tiled(image.astype(np.float32), denoiser, tile=96, overlap=32, batch_size=3)
    diff = np.abs(tiled - whole)
    assert diff.max() < 1e-3, diff.max()
    assert count_tiles(400, 400, tile=96, overlap=32) == len(tile_starts(400, 96, 32)) ** 2


def test_small_image_is_denoised_whole_and_bad_arguments_fail() -> None:
    image = np.full((10, 12), 0.5, dtype=np.float32)
    calls: list[tuple[int, ...]] = []

    def record(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape)
        return batch

    denoise_tiled(image, record, tile=64, overlap=8)
    assert calls == [(1, 10, 12)]
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(100, 32, 32)
    with pytest.raises(ValueError, match="2D"):
        denoise_tiled(np.zeros((2, 8, 8), np.float32), record)
