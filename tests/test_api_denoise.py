"""The Python API ``meddenoise.api.denoise``: arrays, MedicalImages and paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from meddenoise.api import denoise
from meddenoise.denoiser import Denoiser


class Identity(Denoiser):
    name = "identity"

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        return image.copy()


def test_array_in_array_out_keeps_shape_dtype_and_units(rng: np.random.Generator) -> None:
    clean = np.full((64, 80), 40.0, dtype=np.float32)
    clean[20:40, 20:60] = 300.0
    noisy = (clean + rng.normal(0, 25, clean.shape)).astype(np.int16)  # CT in HU
    out = denoise(noisy, method="median", modality="CT")
    assert out.shape == noisy.shape and out.dtype == np.int16
    assert np.abs(out.astype(float) - clean).mean() < np.abs(noisy.astype(float) - clean).mean()
    assert abs(float(out.mean()) - float(noisy.mean())) < 10  # still HU


def test_identity_is_an_exact_round_trip_for_integer_arrays(rng: np.random.Generator) -> None:
    stored = rng.integers(0, 65536, size=(2, 40, 40)).astype(np.uint16)
    out = denoise(stored, method=Identity(), intensity={"method": "range"})
    np.testing.assert_array_equal(out, stored)


def test_path_in_medicalimage_out_and_optional_output(tmp_path: Path) -> None:
    source = tmp_path / "mr.dcm"
    shutil.copy(get_testdata_file("MR_small.dcm"), source)
    result = denoise(source, method="median", output=tmp_path / "out" / "mr.dcm")
    assert result.pixels.shape == (64, 64) and result.meta.modality == "MR"
    written = pydicom.dcmread(tmp_path / "out" / "mr.dcm")
    assert written.SeriesInstanceUID != pydicom.dcmread(source).SeriesInstanceUID
    with pytest.raises(ValueError, match="overwrite"):
        denoise(source, method="median", output=source)
    again = denoise(result, method=Identity())  # a MedicalImage goes in too
    np.testing.assert_allclose(again.pixels, result.pixels, atol=1e-3)


def test_bad_arguments_fail_clearly(rng: np.random.Generator) -> None:
    image = rng.random((16, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="unknown classical method"):
        denoise(image, method="nosuchfilter")
    with pytest.raises(ValueError, match="output"):
        denoise(image, method="median", output="x.png")
    with pytest.raises(ValueError, match="noise level"):
        denoise(image, method="median", noise_level=-1)


def test_a_self_ensemble_is_flip_equivariant_end_to_end_and_differs_from_one_pass(
    rng: np.random.Generator,
) -> None:
    # a CT slice in HU with 20 HU of noise; told the level, so every copy and every call gets the same one
    yy, xx = np.mgrid[:96, :80]
    hu = np.where((yy - 48) ** 2 / 40**2 + (xx - 40) ** 2 / 30**2 < 1, 40.0, -1000.0)
    noisy = (hu + 20 * rng.standard_normal(hu.shape)).astype(np.float32)
    kwargs = {"model": "ct", "modality": "CT", "noise_level": 20}
    single = denoise(noisy, **kwargs)
    pair = denoise(noisy, ensemble=2, **kwargs)
    flipped = denoise(np.ascontiguousarray(noisy[:, ::-1]), ensemble=2, **kwargs)
    assert isinstance(pair, np.ndarray) and pair.shape == noisy.shape
    np.testing.assert_allclose(flipped[:, ::-1], pair, atol=0.05)  # HU: equal to float rounding
    assert np.abs(pair - single).max() > 0.05  # a different output from one pass
    assert np.abs(pair - single).mean() < 5  # but the same denoising


def test_texture_keeps_a_share_of_the_fine_noise_in_flat_tissue(rng: np.random.Generator) -> None:
    hu = np.full((96, 96), 40.0)  # flat soft tissue with 30 HU of white noise
    noisy = (hu + 30 * rng.standard_normal(hu.shape)).astype(np.float32)
    kwargs = {"model": "ct", "modality": "CT", "noise_level": 30}
    left = [float(np.std(denoise(noisy, texture=t, **kwargs)[8:-8, 8:-8])) for t in (0.0, 0.5)]
    assert left[0] < 10 and 10 < left[1] < 20  # about half of the fine noise's 28 HU comes back
    with pytest.raises(ValueError, match=r"texture must be a number in \[0, 1\]"):
        denoise(noisy, texture=-0.5, **kwargs)
