"""``meddenoise demo``: the smallest end-to-end path on built-in data (replaced by the full demo of issue 7)."""

from __future__ import annotations

import numpy as np
import pydicom
import typer
from pydicom.data import get_testdata_file
from scipy.ndimage import median_filter

from meddenoise.cli.app import app


@app.command()
def demo(seed: int = typer.Option(0, help="Seed of the added noise.")) -> None:
    """Add noise to a built-in CT sample, median-filter it, and print the PSNR before and after."""
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    lo, hi = float(hu.min()), float(hu.max())
    clean = (hu - lo) / (hi - lo)
    noisy = np.clip(clean + np.random.default_rng(seed).normal(0.0, 0.1, clean.shape), 0, 1).astype(
        np.float32
    )
    den = median_filter(noisy, size=3)

    def psnr(x: np.ndarray) -> float:
        return float(10 * np.log10(1.0 / np.mean((x - clean) ** 2)))

    typer.echo(f"{path}: noisy PSNR {psnr(noisy):.2f} dB, median 3x3 PSNR {psnr(den):.2f} dB")
