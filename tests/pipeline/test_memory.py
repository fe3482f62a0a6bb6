"""Bounded memory: streamed rows of tiles give the whole-image result; an 8192x8192 image and a
512x512x600 NIfTI volume in <= 1 GiB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from meddenoise.classical.filters import MedianDenoiser
from meddenoise.data import IntensitySpec
from meddenoise.noise import estimate as noise_estimate
from meddenoise.pipeline import DenoiseOptions, denoise_pixels, iter_tiled_rows, tile_weight
from meddenoise.pipeline.tiling import _tile_boxes

SRC = Path(__file__).resolve().parents[2] / "src"


def _smooth(batch: np.ndarray) -> np.ndarray:
    return np.stack([uniform_filter(tile, 5) for tile in batch])


def _whole_image_blend(image: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """The oracle: every tile's weighted output summed into whole-image accumulators, then divided."""
    height, width = image.shape
    total, weights = np.zeros(image.shape, np.float32), np.zeros(image.shape, np.float32)
    for y, x, h, w in _tile_boxes(height, width, tile, overlap):
        weight = tile_weight(h, w, overlap, top=y > 0, bottom=y + h < height, left=x > 0, right=x + w < width)
        total[y : y + h, x : x + w] += _smooth(image[None, y : y + h, x : x + w])[0] * weight
        weights[y : y + h, x : x + w] += weight
    return total / weights


@pytest.mark.parametrize(
    ("shape", "tile", "overlap", "batch"), [((300, 500), 64, 16, 1), ((513, 700), 200, 40, 2)]
)
def test_streamed_rows_are_the_whole_image_blend_and_never_a_whole_accumulator(
    shape: tuple[int, int], tile: int, overlap: int, batch: int, rng: np.random.Generator
) -> None:
    image = rng.random(shape, dtype=np.float32)
    blocks = list(iter_tiled_rows(image, _smooth, tile=tile, overlap=overlap, batch_size=batch))
    assert [top for top, _ in blocks] == sorted({top for top, _ in blocks})  # top to bottom, each row once
    assert sum(len(rows) for _, rows in blocks) == shape[0]
    assert max(len(rows) for _, rows in blocks) <= tile  # at most one row of tiles held
    streamed = np.concatenate([rows for _, rows in blocks])
    np.testing.assert_array_equal(streamed, _whole_image_blend(image, tile, overlap))


def test_an_integer_output_is_the_rounded_float_result(rng: np.random.Generator) -> None:
    pixels = np.clip(20000 + rng.normal(0, 800, (2, 300, 260)), 0, 65535).astype(np.float32)
    kwargs = {
        "intensity": IntensitySpec("range"),
        "original_dtype": "uint16",
        "value_range": (0.0, 65535.0),
        "options": DenoiseOptions(noise_level=None, tile=128, overlap=16, strength=0.7),
    }
    as_float, _ = denoise_pixels(pixels, MedianDenoiser(), **kwargs)  # type: ignore[arg-type]
    out = np.empty(pixels.shape, np.uint16)
    as_int, _ = denoise_pixels(pixels, MedianDenoiser(), out=out, **kwargs)  # type: ignore[arg-type]
    assert as_int is out
    np.testing.assert_array_equal(out, np.clip(np.rint(as_float), 0, 65535).astype(np.uint16))


def test_the_banded_noise_estimate_is_the_whole_image_estimate(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    yy = np.arange(700)[:, None]
    image = (1000 + 300 * np.sin(yy / 60) + rng.normal(0, 20, (700, 300))).astype(np.float32)
    image[:40] = -1024  # padding: windows touching it are dropped, band by band too
    whole = noise_estimate.estimate_noise_std(image)
    monkeypatch.setattr(noise_estimate, "_BAND_WINDOW_ROWS", 16)  # 11 bands of 64 pixel rows
    assert len(noise_estimate._window_bands(700, 16, 4)) == 11
    banded = noise_estimate.estimate_noise_std(image)
    assert banded == pytest.approx(whole, rel=1e-9)


_CHILD = """
import json, sys
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline import denoise_file
from meddenoise.provenance import peak_rss_mib
denoise_file(sys.argv[1], sys.argv[2], resolver=DenoiserResolver(model="general"))
print(json.dumps(peak_rss_mib()))
"""


@pytest.mark.slow
def test_an_8192_square_16bit_image_is_denoised_by_a_shipped_model_in_1_gib(tmp_path: Path) -> None:
    import tifffile

    source = tmp_path / "big.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(source, rng.normal(20000, 500, (8192, 8192)).astype(np.uint16))
    peak_mib = _child_peak_mib([_CHILD, str(source), str(tmp_path / "out.tif")])
    assert peak_mib <= 1024, f"peak RSS {peak_mib:.0f} MiB"
    assert tifffile.imread(tmp_path / "out.tif").shape == (8192, 8192)


def _child_peak_mib(args: list[str]) -> float:
    """Run ``python -c ARGS`` in a fresh process (2 torch threads); the peak RSS in MiB it prints last.

    The child reads its own peak (``peak_rss_mib``): ``ru_maxrss`` would carry over this test process's.
    """
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", *args], env=env, capture_output=True, text=True, check=True, timeout=6000
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


_CLI_CHILD = """
import json, sys
from meddenoise.cli.main import app
from meddenoise.provenance import peak_rss_mib
try:
    app(sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
print(json.dumps(peak_rss_mib()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("how", [["--method", "median"], ["--model", "ct"]])
def test_a_512x512x600_ct_nifti_is_denoised_by_meddenoise_denoise_in_1_gib(
    tmp_path: Path, suffix: str, how: list[str]
) -> None:
    import nibabel as nib

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:512, :512]
    body = np.where((yy - 256) ** 2 + (xx - 256) ** 2 < 200**2, 40, -1000).astype(np.int16)
    volume = np.empty((512, 512, 600), dtype=np.int16)
    for index in range(600):  # slice by slice: the test process stays small too
        volume[:, :, index] = body + np.rint(rng.normal(0, 20, body.shape)).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.diag([0.7, 0.7, 2.5, 1.0])), tmp_path / f"ct{suffix}")
    del volume
    peak_mib = _child_peak_mib(
        [_CLI_CHILD, "denoise", str(tmp_path / f"ct{suffix}"), "-o", str(tmp_path / "out"), *how]
    )
    assert peak_mib <= 1024, f"peak RSS {peak_mib:.0f} MiB"
    result = nib.load(tmp_path / "out" / f"ct{suffix}")
    assert result.shape == (512, 512, 600)
    assert result.get_data_dtype() == np.float32
