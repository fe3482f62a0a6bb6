"""Blind-spot masking (Noise2Void / Noise2Self): a hidden pixel's replacement never comes from itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meddenoise.training import blind_spot_mask


def _unique_images(n: int, h: int, w: int) -> np.ndarray:
    # Every pixel holds a distinct value, so a replacement value identifies where it came from.
    return (np.arange(n * h * w, dtype=np.float32).reshape(n, h, w) + 1) / (n * h * w + 1)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    h=st.integers(1, 12),
    w=st.integers(2, 12),
    radius=st.integers(1, 3),
    fraction=st.floats(0.01, 0.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_neighbour_replacement_never_comes_from_the_pixel_itself(
    n: int, h: int, w: int, radius: int, fraction: float, seed: int
) -> None:
    images = _unique_images(n, h, w)
    out = blind_spot_mask(images, fraction=fraction, radius=radius, replacement="neighbour", rng=seed)
    img_idx, rows, cols = np.nonzero(out.mask)
    assert len(img_idx) == n * max(1, round(fraction * h * w))
    src_r, src_c = out.source_rows[:, 0], out.source_cols[:, 0]
    # The replacement is the value at the recorded source, which is not the pixel itself ...
    assert np.array_equal(out.inputs[img_idx, rows, cols], images[img_idx, src_r, src_c])
    assert np.all((src_r != rows) | (src_c != cols))
    # ... and never equals the hidden pixel's own value (values are unique).
    assert np.all(out.inputs[img_idx, rows, cols] != images[img_idx, rows, cols])
    # Unmasked pixels are untouched; the input array is not modified.
    keep = out.mask == 0
    assert np.array_equal(out.inputs[keep], images[keep])
    assert np.array_equal(images, _unique_images(n, h, w))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(2, 10), w=st.integers(2, 10), radius=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_local_mean_excludes_the_pixel_itself(h: int, w: int, radius: int, seed: int) -> None:
    images = _unique_images(2, h, w)
    out = blind_spot_mask(images, fraction=0.3, radius=radius, replacement="local_mean", rng=seed)
    img_idx, rows, cols = np.nonzero(out.mask)
    for k, (i, r, c) in enumerate(zip(img_idx, rows, cols, strict=True)):
        used = out.source_rows[k] >= 0
        sr, sc = out.source_rows[k][used], out.source_cols[k][used]
        assert used.any()
        assert not np.any((sr == r) & (sc == c))
        assert np.all(np.abs(sr - r) <= radius) and np.all(np.abs(sc - c) <= radius)
        assert out.inputs[i, r, c] == pytest.approx(images[i, sr, sc].mean(), rel=1e-5)


def test_sources_lie_in_the_neighbourhood_and_masks_are_seeded() -> None:
    images = _unique_images(4, 16, 16)
    a = blind_spot_mask(images, fraction=0.1, radius=2, rng=3)
    b = blind_spot_mask(images, fraction=0.1, radius=2, rng=3)
    c = blind_spot_mask(images, fraction=0.1, radius=2, rng=4)
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)
    _, rows, cols = np.nonzero(a.mask)
    assert np.all(np.abs(a.source_rows[:, 0] - rows) <= 2)
    assert np.all(np.abs(a.source_cols[:, 0] - cols) <= 2)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="fraction"):
        blind_spot_mask(np.zeros((4, 4), np.float32), fraction=0.9)
    with pytest.raises(ValueError, match="no neighbours"):
        blind_spot_mask(np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="replacement"):
        blind_spot_mask(np.zeros((4, 4), np.float32), replacement="median")  # type: ignore[arg-type]
