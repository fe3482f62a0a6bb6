"""The noise level in the image's own units, the strength, the once-only note and the one-tile default.

The oracle for every conversion is the mapping's width written out by hand (a CT window's width,
4095 HU for 12-bit CT, 255 / 65535 for 8/16-bit files, ``np.percentile`` of the pixels, the array's
max - min): ``sigma`` on the denoiser's [0, 1] scale = ``noise std in image units / width``.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file

from meddenoise.api import denoise
from meddenoise.data import IntensitySpec
from meddenoise.denoiser import Denoiser
from meddenoise.io import read_image
from meddenoise.methods import DenoiserResolver
from meddenoise.noise import estimate_ct_noise, estimate_noise_std
from meddenoise.pipeline import (
    DEFAULT_TILE,
    WHOLE_IMAGE_MAX,
    DenoiseOptions,
    count_tiles,
    denoise_files,
    denoise_pixels,
    tile_starts,
)

QUIET = {"show_progress": False}


class SigmaRecorder(Denoiser):
    """Takes a noise level; records every sigma it receives and returns its input."""

    name = "sigma-recorder"
    uses_sigma = True

    def __init__(self) -> None:
        self.sigmas: list[float | None] = []
        self.shapes: list[tuple[int, ...]] = []

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        return self.denoise_batch(image[None], sigma=sigma)[0]

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        self.sigmas.append(sigma)
        self.shapes.append(images.shape)
        return images.copy()


class Flatten(Denoiser):
    """Blind (takes no noise level): every pixel becomes 0.5 on the [0, 1] scale."""

    name = "flatten"

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        return np.full_like(image, 0.5)


def _ct(rng: np.random.Generator) -> np.ndarray:
    """A CT slice in HU: soft tissue, air and a bright insert, noise 20 HU."""
    hu = np.full((64, 64), 40.0)
    hu[:, :10] = -1000.0
    hu[20:40, 20:40] = 400.0
    return (hu + rng.normal(0, 20, hu.shape)).astype(np.float32)


def _sigma_for(pixels: np.ndarray, spec: IntensitySpec, **meta: Any) -> float | None:
    rec = SigmaRecorder()
    denoise_pixels(pixels, rec, intensity=spec, options=DenoiseOptions(noise_level=20.0), **meta)
    assert len(set(rec.sigmas)) == 1
    return rec.sigmas[0]


def test_given_noise_level_is_converted_through_every_ct_mapping(rng: np.random.Generator) -> None:
    ct = _ct(rng)
    p_low, p_high = np.percentile(ct, [0.5, 99.5])
    expected = {
        IntensitySpec("window", level=40, width=400): 20 / 400,
        IntensitySpec("auto"): 20 / 2048,  # CT under auto: the L0/W2048 window
        IntensitySpec("range"): 20 / 4095,  # 12-bit CT: -1024..3071 HU
        IntensitySpec("percentile"): 20 / (p_high - p_low),
    }
    for spec, sigma in expected.items():
        got = _sigma_for(ct, spec, modality="CT", units="HU", original_dtype="int16", file_format="dicom")
        assert got == pytest.approx(sigma, rel=1e-5), spec


def test_given_noise_level_is_converted_for_mr_and_float_arrays(rng: np.random.Generator) -> None:
    mr = (300 + 40 * rng.normal(size=(48, 48))).clip(0).astype(np.float32)  # MR counts, int16 DICOM
    p_low, p_high = np.percentile(mr, [0.5, 99.5])
    for spec in (IntensitySpec("auto"), IntensitySpec("percentile")):  # MR under auto: percentiles
        got = _sigma_for(mr, spec, modality="MR", units="counts", original_dtype="int16", file_format="dicom")
        assert got == pytest.approx(20 / (p_high - p_low), rel=1e-5)
    # integer DICOM under `range`: the image's own min..max (its wide stored type says little)
    got = _sigma_for(
        mr, IntensitySpec("range"), modality="MR", units="counts", original_dtype="int16", file_format="dicom"
    )
    assert got == pytest.approx(20 / (mr.max() - mr.min()), rel=1e-5)
    # a float array under `range`: its own min..max, through the public API
    values = rng.normal(5.0, 2.0, (40, 40))
    rec = SigmaRecorder()
    denoise(values, method=rec, noise_level=0.5, intensity={"method": "range"})
    assert rec.sigmas == [pytest.approx(0.5 / (values.max() - values.min()), rel=1e-5)]


def test_given_noise_level_is_in_stored_grey_levels_for_png_and_tiff(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    png = rng.integers(40, 200, (40, 30), dtype=np.uint8)
    tif = rng.integers(1000, 40000, (40, 30), dtype=np.uint16)
    Image.fromarray(png).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "b.tif", tif)
    cases = [
        ("a.png", IntensitySpec("range"), 20 / 255),
        ("b.tif", IntensitySpec("range"), 20 / 65535),
        ("a.png", IntensitySpec("auto"), 20 / float(np.subtract(*np.percentile(png, [99.5, 0.5])))),
        ("b.tif", IntensitySpec("percentile"), 20 / float(np.subtract(*np.percentile(tif, [99.5, 0.5])))),
    ]
    for name, spec, sigma in cases:
        rec = SigmaRecorder()
        resolver = DenoiserResolver(method=rec, intensity=spec)
        summary = denoise_files(
            [tmp_path / name],
            tmp_path / "out",
            resolver=resolver,
            options=DenoiseOptions(noise_level=20),
            existing="overwrite",  # each case rewrites the same output
            **QUIET,
        )
        assert summary.ok, [r.reason for r in summary.failed]
        assert rec.sigmas == [pytest.approx(sigma, rel=1e-5)], (name, spec)


def test_auto_estimates_each_slice_in_image_units(rng: np.random.Generator) -> None:
    stack = np.stack([_ct(rng), 40 + rng.normal(0, 60, (64, 64))]).astype(np.float32)  # 20 HU, 60 HU
    rec = SigmaRecorder()
    _, report = denoise_pixels(
        stack, rec, intensity=IntensitySpec("window", level=0, width=1000), modality="CT", units="HU"
    )
    expected_hu = [estimate_ct_noise(s) for s in stack]  # CT in HU: the CT estimator
    assert report.noise == pytest.approx(expected_hu)
    assert rec.sigmas == pytest.approx([hu / 1000 for hu in expected_hu])
    assert 14 < expected_hu[0] < 30 and 45 < expected_hu[1] < 75  # the estimate is in HU, not 0-1
    assert report.describe().startswith("estimated noise ") and " HU (per slice " in report.describe()


def test_strength_scales_the_noise_level_of_denoisers_that_take_one(rng: np.random.Generator) -> None:
    ct = _ct(rng)
    window = IntensitySpec("window", level=40, width=400)
    for strength in (0.5, 2.0):
        rec = SigmaRecorder()
        options = DenoiseOptions(noise_level=20.0, strength=strength)
        denoise_pixels(ct, rec, intensity=window, modality="CT", units="HU", options=options)
        assert rec.sigmas == [pytest.approx(strength * 20 / 400)]


def test_strength_blends_the_output_of_blind_denoisers(rng: np.random.Generator) -> None:
    values = rng.uniform(0, 100, (32, 32)).astype(np.float32)
    values[0, :2] = (0.0, 100.0)  # range 0..100: Flatten's output is 50 everywhere
    spec = IntensitySpec("minmax")
    full, _ = denoise_pixels(values, Flatten(), intensity=spec, options=DenoiseOptions(noise_level=None))
    np.testing.assert_allclose(full, 50.0, atol=1e-4)
    half, _ = denoise_pixels(values, Flatten(), intensity=spec, options=DenoiseOptions(strength=0.5))
    np.testing.assert_allclose(half, values + 0.5 * (50.0 - values), atol=1e-3)
    # above 1 the removed component is extrapolated, within the mapping's range
    more, _ = denoise_pixels(values, Flatten(), intensity=spec, options=DenoiseOptions(strength=1.5))
    np.testing.assert_allclose(more, np.clip(values + 1.5 * (50.0 - values), 0, 100), atol=1e-3)


class FlattenWithSigma(Flatten):
    """Takes a noise level and still flattens: told sigma 0 it would not return its input."""

    name = "flatten-sigma"
    uses_sigma = True


def test_strength_zero_returns_the_input_exactly(tmp_path: Path, rng: np.random.Generator) -> None:
    ct = _ct(rng)
    for denoiser in (Flatten(), FlattenWithSigma()):
        for level in ("auto", 20.0, None):
            out, _ = denoise_pixels(
                ct,
                denoiser,
                intensity=IntensitySpec("auto"),
                modality="CT",
                units="HU",
                options=DenoiseOptions(noise_level=level, strength=0),
            )
            np.testing.assert_array_equal(out, ct)
    for array in (rng.normal(3.0, 1.0, (33, 35)), rng.integers(-1024, 3000, (2, 30, 30)).astype(np.int16)):
        for method in ("median", "nlmeans"):  # a blind and a sigma-taking filter
            out = denoise(array, method=method, strength=0)
            assert out.dtype == array.dtype
            np.testing.assert_array_equal(out, array)
    Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(tmp_path / "a.png")
    options = DenoiseOptions(strength=0)
    summary = denoise_files(
        [tmp_path / "a.png"],
        tmp_path / "out",
        resolver=DenoiserResolver(method="median"),
        options=options,
        **QUIET,
    )
    assert summary.ok
    with Image.open(tmp_path / "a.png") as before, Image.open(tmp_path / "out" / "a.png") as after:
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))
    with pytest.raises(ValueError, match="strength"):
        DenoiseOptions(strength=-0.1)
    with pytest.raises(ValueError, match="noise level"):
        DenoiseOptions(noise_level="loud")


def test_a_blind_denoiser_given_a_noise_level_says_so_once_per_run(tmp_path: Path) -> None:
    for i in range(3):
        shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / f"mr{i}.dcm")
    notes: list[str] = []
    summary = denoise_files(
        [tmp_path],
        tmp_path / "out",
        resolver=DenoiserResolver(method="median"),
        options=DenoiseOptions(noise_level=20),
        on_note=notes.append,
        **QUIET,
    )
    assert summary.ok and len(summary.done) == 3
    assert (
        notes
        == summary.notes
        == [
            "note: median does not take a noise level; the noise level 20 counts is ignored (strength still applies)"
        ]
    )
    for options, resolver in (
        (DenoiseOptions(noise_level="auto"), DenoiserResolver(method="median")),  # nothing was given
        (DenoiseOptions(noise_level=20), DenoiserResolver(method="nlmeans")),  # it takes the level
    ):
        quiet = denoise_files(
            [tmp_path / "mr0.dcm"],
            tmp_path / "o2",
            resolver=resolver,
            options=options,
            existing="overwrite",  # both runs write the same output
            **QUIET,
        )
        assert quiet.ok and quiet.notes == []
    image = np.random.default_rng(0).random((16, 16))
    with pytest.warns(UserWarning, match="median does not take a noise level"):
        denoise(image, method="median", noise_level=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        denoise(image, method="median")  # auto: no note


def test_noise_and_strength_are_reported_per_series_and_recorded_in_the_dicom(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):  # two files of one CT series
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        ds.save_as(src / f"s{i}.dcm", enforce_file_format=True)
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "mr.dcm")  # another series
    summary = denoise_files(
        [src / "s0.dcm", src / "s1.dcm", src / "mr.dcm"],
        tmp_path / "out",
        resolver=DenoiserResolver(method="nlmeans"),
        options=DenoiseOptions(noise_level=20, strength=0.5),
        **QUIET,
    )
    assert summary.ok
    assert summary.noise_lines() == [
        f"{src / 's0.dcm'} (+1 more files of its series): noise 20.0 HU (given); strength 0.5",
        f"{src / 'mr.dcm'}: noise 20.0 counts (given); strength 0.5",
    ]
    written = pydicom.dcmread(tmp_path / "out" / "s1.dcm")
    assert (
        written.DerivationDescription
        == "denoised by meddenoise: nlmeans; noise 20.0 HU (given); strength 0.5"
    )
    auto = denoise_files(
        [src / "mr.dcm"], tmp_path / "o2", resolver=DenoiserResolver(method="median"), **QUIET
    )
    expected = estimate_noise_std(read_image(src / "mr.dcm").pixels)
    [line] = auto.noise_lines()
    assert (
        line
        == f"{src / 'mr.dcm'}: estimated noise {expected:.1f} counts, not used by the denoiser; strength 1.0"
    )


def test_the_default_tile_takes_a_512_slice_whole_and_larger_images_are_still_tiled() -> None:
    assert DenoiseOptions().tile is None and WHOLE_IMAGE_MAX >= 1024 and DEFAULT_TILE >= 512
    assert count_tiles(512, 512) == count_tiles(1024, 700) == 1
    assert count_tiles(1025, 1024) == len(tile_starts(1025, DEFAULT_TILE, 32)) * len(
        tile_starts(1024, DEFAULT_TILE, 32)
    )
    rec = SigmaRecorder()
    _, report = denoise_pixels(
        np.zeros((512, 512), np.float32), rec, intensity=IntensitySpec("minmax"), options=DenoiseOptions()
    )
    assert rec.shapes == [(1, 512, 512)] and report.tiles == 1
    assert count_tiles(3000, 3000) > 1  # bounded memory: tiling still kicks in above the tile size
    small = DenoiseOptions(tile=300, overlap=32)
    rec = SigmaRecorder()
    _, report = denoise_pixels(
        np.zeros((600, 500), np.float32), rec, intensity=IntensitySpec("minmax"), options=small
    )
    assert report.tiles == count_tiles(600, 500, tile=300, overlap=32) == len(rec.shapes) > 1
    assert all(shape[1] <= 300 and shape[2] <= 300 for shape in rec.shapes)
