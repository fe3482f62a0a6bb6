"""The metrics against the official scores of the IQA-PyTorch calibration pairs (research data).

Conventions that reproduce the official numbers (see docs/classical_metrics.md):
PSNR on the three RGB channels with data range 255; SSIM on MATLAB ``rgb2gray`` (rounded to
uint8) with the 11x11 Gaussian window, population statistics and no down-sampling; MS-SSIM on the
same grey images with Wang's ``msssim.m`` settings (agrees to 0.005, not to the printed digits).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from meddenoise.metrics import ms_ssim, psnr, ssim

pytestmark = pytest.mark.data

PAIRS = ("I03", "I04", "I06", "I08", "I19")
# MATLAB rgb2gray weights (the inverse of the NTSC YIQ transform's first row).
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


@pytest.fixture(scope="module")
def calibration(shared_data):
    folder = shared_data / "iqa-calibration"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    with (folder / "official_scores.csv").open(newline="") as handle:
        rows = {row["Method"]: row for row in csv.DictReader(handle)}
    pairs = {}
    for name in PAIRS:
        ref = np.asarray(Image.open(folder / "ref" / f"{name}.png").convert("RGB"), dtype=np.float64)
        dist = np.asarray(Image.open(folder / "dist" / f"{name}.png").convert("RGB"), dtype=np.float64)
        pairs[name] = (ref, dist)
    return rows, pairs


def _official(rows, metric, name):
    return float(rows[metric][f"{name}.bmp"])


def _grey(rgb):
    return np.round(rgb @ RGB2GRAY)


@pytest.mark.parametrize("name", PAIRS)
def test_psnr_on_rgb_reproduces_official(calibration, name):
    rows, pairs = calibration
    ref, dist = pairs[name]
    assert round(psnr(ref, dist, data_range=255), 2) == pytest.approx(_official(rows, "psnr", name))


@pytest.mark.parametrize("name", PAIRS)
def test_ssim_wang_settings_reproduce_official(calibration, name):
    rows, pairs = calibration
    ref, dist = pairs[name]
    score = ssim(_grey(ref), _grey(dist), data_range=255, gaussian_weights=True, use_sample_covariance=False)
    assert round(score, 4) == pytest.approx(_official(rows, "ssim", name))


@pytest.mark.parametrize("name", PAIRS)
def test_ms_ssim_close_to_official(calibration, name):
    rows, pairs = calibration
    ref, dist = pairs[name]
    score = ms_ssim(_grey(ref), _grey(dist), data_range=255)
    assert abs(score - _official(rows, "ms_ssim", name)) < 0.005
