"""Image transforms on float arrays: grey conversion, resize, pad to square, random patches, augmentation.

Every function takes a 2D image ``(H, W)`` or a stack ``(N, H, W)`` (``to_grey`` also ``(..., C)``) and
returns float32; random ones take an ``rng`` (numpy Generator or int seed).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

from meddenoise._utils import RNGLike, as_rng
from meddenoise.io._common import LUMA_WEIGHTS

__all__ = [
    "augment",
    "center_crop_to_square",
    "flip_rot90",
    "pad_to_square",
    "random_patches",
    "resize",
    "to_grey",
]

ResizeMethod = Literal["auto", "area", "bilinear", "bicubic", "nearest"]
_PIL_FILTERS = {
    "area": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def to_grey(image: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB or ``(..., 4)`` RGBA → grey float32 (BT.601 luma, as Pillow's ``"L"``); 2D passes through."""
    arr = np.asarray(image)
    if arr.ndim >= 3 and arr.shape[-1] in (3, 4):
        return (arr[..., :3].astype(np.float64) @ np.asarray(LUMA_WEIGHTS)).astype(np.float32)
    return arr.astype(np.float32)


def _as_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        h = w = int(size)
    else:
        h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    return h, w


def resize(image: np.ndarray, size: int | tuple[int, int], *, method: ResizeMethod = "auto") -> np.ndarray:
    """Resize to ``size`` (``int`` → square, or ``(H, W)``), per slice for a stack.

    ``"auto"`` uses area averaging (Pillow ``BOX``, exact on float32 data) along a dimension that
    shrinks and bicubic when both grow; ``"area"``, ``"bilinear"``, ``"bicubic"``, ``"nearest"`` force one.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3:
        return np.stack([resize(s, size, method=method) for s in arr]) if len(arr) else arr
    if arr.ndim != 2:
        raise ValueError(f"expected (H, W) or (N, H, W), got shape {arr.shape}")
    h, w = _as_hw(size)
    if (h, w) == arr.shape:
        return arr.copy()
    if method == "auto":
        method = "area" if h < arr.shape[0] or w < arr.shape[1] else "bicubic"
    if method not in _PIL_FILTERS:
        raise ValueError(f"unknown resize method {method!r}")
    fy, fx = arr.shape[0] / h, arr.shape[1] / w
    if method == "area" and fy.is_integer() and fx.is_integer():
        # Integer factors: BOX is the block mean; computing it directly is several times faster.
        blocks = arr.reshape(h, int(fy), w, int(fx))
        return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
    out = Image.fromarray(np.ascontiguousarray(arr), mode="F").resize((w, h), _PIL_FILTERS[method])
    return np.asarray(out, dtype=np.float32)


def pad_to_square(
    image: np.ndarray, *, mode: Literal["constant", "edge", "reflect"] = "constant", value: float = 0.0
) -> np.ndarray:
    """Pad the shorter side (centred) so that ``H == W``; for a stack, each slice."""
    arr = np.asarray(image, dtype=np.float32)
    h, w = arr.shape[-2:]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(0, 0)] * (arr.ndim - 2) + [(top, side - h - top), (left, side - w - left)]
    if mode == "constant":
        return np.pad(arr, pad, mode="constant", constant_values=value)
    return np.pad(arr, pad, mode=mode)


def center_crop_to_square(image: np.ndarray) -> np.ndarray:
    """Crop the longer side (centred) so that ``H == W``."""
    arr = np.asarray(image, dtype=np.float32)
    h, w = arr.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return arr[..., top : top + side, left : left + side].copy()


def random_patches(
    images: np.ndarray, patch_size: int | tuple[int, int], n_patches: int, *, rng: RNGLike = None
) -> np.ndarray:
    """``n_patches`` patches ``(n, ph, pw)`` at uniformly random positions of randomly chosen images."""
    arr = np.asarray(images, dtype=np.float32)
    stack = arr[None] if arr.ndim == 2 else arr
    ph, pw = _as_hw(patch_size)
    n_img, h, w = stack.shape
    if ph > h or pw > w:
        raise ValueError(f"patch {ph}x{pw} is larger than the images ({h}x{w})")
    gen = as_rng(rng)
    which = gen.integers(0, n_img, size=n_patches)
    tops = gen.integers(0, h - ph + 1, size=n_patches)
    lefts = gen.integers(0, w - pw + 1, size=n_patches)
    out = np.empty((n_patches, ph, pw), dtype=np.float32)
    for k, (i, t, lft) in enumerate(zip(which, tops, lefts, strict=True)):
        out[k] = stack[i, t : t + ph, lft : lft + pw]
    return out


def flip_rot90(image: np.ndarray, mode: int) -> np.ndarray:
    """One of the 8 dihedral transforms (``mode`` 0..7: ``mode % 4`` quarter turns, flipped when ``mode >= 4``)."""
    if not 0 <= mode < 8:
        raise ValueError(f"mode must be in 0..7, got {mode}")
    arr = np.rot90(np.asarray(image), k=mode % 4, axes=(-2, -1))
    if mode >= 4:
        arr = arr[..., ::-1]
    return np.ascontiguousarray(arr, dtype=np.float32)


def augment(images: np.ndarray, *, rng: RNGLike = None) -> np.ndarray:
    """Random flips / quarter turns, one of the 8 dihedral transforms per image (square images for stacks)."""
    arr = np.asarray(images, dtype=np.float32)
    gen = as_rng(rng)
    if arr.ndim == 2:
        return flip_rot90(arr, int(gen.integers(0, 8)))
    modes = gen.integers(0, 8, size=len(arr))
    if arr.shape[-1] != arr.shape[-2] and np.any(modes % 2 == 1):
        modes = modes - modes % 2  # odd quarter turns would change the shape of non-square images
    return np.stack([flip_rot90(img, int(m)) for img, m in zip(arr, modes, strict=True)])
