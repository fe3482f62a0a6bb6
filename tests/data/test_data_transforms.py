"""Transforms: grey, resize (area = PIL BOX), pad/crop to square, patches, dihedral augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from meddenoise.data import (
    augment,
    center_crop_to_square,
    flip_rot90,
    pad_to_square,
    random_patches,
    resize,
    to_grey,
)


def test_to_grey_matches_pillow_luma(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    assert np.abs(to_grey(rgb) - ref).max() <= 0.5 + 1e-4  # Pillow rounds to integers
    assert to_grey(rgb[..., 0]).shape == (9, 7)


@pytest.mark.parametrize(("shape", "size"), [((64, 64), 16), ((50, 30), (20, 12)), ((37, 41), 13)])
def test_shrinking_is_pil_box(rng: np.random.Generator, shape, size) -> None:
    x = rng.random(shape, dtype=np.float32)
    h, w = (size, size) if isinstance(size, int) else size
    ref = np.asarray(Image.fromarray(x, mode="F").resize((w, h), Image.Resampling.BOX))
    np.testing.assert_allclose(resize(x, size), ref, atol=1e-6)


def test_area_resize_keeps_mean_and_stack(rng: np.random.Generator) -> None:
    x = rng.random((3, 32, 32), dtype=np.float32)
    out = resize(x, 8)
    assert out.shape == (3, 8, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-6)


def test_enlarging_uses_interpolation(rng: np.random.Generator) -> None:
    x = rng.random((8, 8), dtype=np.float32)
    big = resize(x, 16)
    ref = np.asarray(Image.fromarray(x, mode="F").resize((16, 16), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(big, ref, atol=1e-6)
    lin = resize(x, 16, method="bilinear")
    assert not np.allclose(lin, big)


def test_pad_and_crop_to_square() -> None:
    x = np.ones((4, 10), np.float32)
    p = pad_to_square(x)
    assert p.shape == (10, 10) and p[:3].sum() == 0 and p[3:7].sum() == 40
    assert center_crop_to_square(x).shape == (4, 4)
    assert pad_to_square(np.ones((2, 5, 3), np.float32)).shape == (2, 5, 5)


def test_random_patches_are_seeded_crops(rng: np.random.Generator) -> None:
    x = rng.random((4, 20, 20), dtype=np.float32)
    a = random_patches(x, 5, 30, rng=7)
    b = random_patches(x, 5, 30, rng=7)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (30, 5, 5)
    # every patch is a real crop of one of the images
    for patch in a[:5]:
        hits = [
            np.array_equal(img[t : t + 5, s : s + 5], patch)
            for img in x
            for t in range(16)
            for s in range(16)
        ]
        assert any(hits)
    with pytest.raises(ValueError):
        random_patches(x, 21, 1)


def test_dihedral_group_is_complete_and_invertible(rng: np.random.Generator) -> None:
    x = rng.random((5, 5), dtype=np.float32)
    outs = {flip_rot90(x, m).tobytes() for m in range(8)}
    assert len(outs) == 8
    aug = augment(np.stack([x] * 6), rng=1)
    assert aug.shape == (6, 5, 5)
    assert all(a.tobytes() in outs for a in aug)
    np.testing.assert_array_equal(augment(np.stack([x] * 6), rng=1), aug)
    non_square = augment(rng.random((4, 3, 6), dtype=np.float32), rng=2)
    assert non_square.shape == (4, 3, 6)
