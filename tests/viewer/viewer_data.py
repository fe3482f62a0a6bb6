"""Small synthetic CT-like pairs (original tree, denoised tree, clean reference) for the viewer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meddenoise.io import new_uid, read_image, write_image
from meddenoise.io.testdata import pydicom_sample

N_SLICES = 5


def phantom(shape: tuple[int, int], k: int, rng: np.random.Generator, *, noise: float) -> np.ndarray:
    """A CT-like slice in HU: air, a soft-tissue disc whose size grows with ``k``, a bone spot, noise."""
    rows, cols = shape
    y, x = np.mgrid[:rows, :cols]
    r = np.hypot(y - rows / 2, x - cols / 2)
    image = np.full(shape, -1000.0)
    image[r < rows * (0.30 + 0.02 * k)] = 40.0
    image[np.hypot(y - rows / 2, x - cols * 0.62) < rows * 0.06] = 700.0
    return np.rint(image + rng.normal(0, noise, shape)).astype(np.float32)


def make_dicom_pair(root: Path, *, seed: int = 0) -> tuple[Path, Path, Path]:
    """``root/orig/series`` (a 5-slice CT series), ``root/out/series`` (its "denoised" copy written the way
    ``meddenoise denoise`` does) and ``root/clean/series`` (the noiseless slices)."""
    rng = np.random.default_rng(seed)
    template = read_image(pydicom_sample("CT_small.dcm"))
    orig, out, clean = root / "orig", root / "out", root / "clean"
    uids = {tree: new_uid() for tree in (orig, out, clean)}
    for k in range(N_SLICES):
        noisy = phantom(template.pixels.shape, k, np.random.default_rng(seed + k), noise=25.0)
        truth = phantom(template.pixels.shape, k, rng, noise=0.0)
        name = f"series/slice{k:02d}.dcm"
        for tree, pixels in ((orig, noisy), (clean, truth)):
            (tree / "series").mkdir(parents=True, exist_ok=True)
            write_image(tree / name, pixels, like=template, series_uid=uids[tree], description="test phantom")
        source = read_image(orig / name)
        (out / "series").mkdir(parents=True, exist_ok=True)
        smooth = np.rint((noisy + truth) / 2)  # "denoised": half way to the truth
        write_image(out / name, smooth, like=source, series_uid=uids[out], description="denoised by test")
    return orig, out, clean


def make_nifti_pair(root: Path) -> tuple[Path, Path]:
    """``root/orig/vol.nii.gz`` (float volume, 4 slices of 24x32) and its copy ``root/out/vol.nii.gz``."""
    rng = np.random.default_rng(3)
    stack = rng.normal(100.0, 10.0, (4, 24, 32)).astype(np.float32)
    (root / "orig").mkdir(parents=True)
    (root / "out").mkdir(parents=True)
    write_image(root / "orig" / "vol.nii.gz", stack)
    source = read_image(root / "orig" / "vol.nii.gz")
    write_image(root / "out" / "vol.nii.gz", source.pixels * 0.5 + 50, like=source)
    return root / "orig", root / "out"


def make_png_pair(root: Path) -> tuple[Path, Path]:
    """``root/orig/xr/img{0,1,2}.png`` (8-bit) and their copies under ``root/out/xr``."""
    rng = np.random.default_rng(5)
    for tree in ("orig", "out"):
        (root / tree / "xr").mkdir(parents=True)
    for k in range(3):
        image = rng.integers(0, 256, (20, 16), dtype=np.uint8)
        write_image(root / "orig" / "xr" / f"img{k}.png", image)
        write_image(root / "out" / "xr" / f"img{k}.png", (image // 2).astype(np.uint8))
    return root / "orig", root / "out"
