"""A NIfTI volume is denoised slice by slice: the same file as the whole-volume path, in bounded memory."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from meddenoise.data import IntensitySpec
from meddenoise.io import read_image, write_like_source
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline import DenoiseOptions, denoise_file, denoise_files
from meddenoise.pipeline.batch import denoise_image, denoise_nifti_volume, derivation

MEDIAN = DenoiserResolver(method="median")


def _ct_volume(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    body = ((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 < (shape[0] / 2.5) ** 2)[..., None]
    volume = np.where(body, 40.0, -1000.0) + rng.normal(0, 25, shape)
    return np.round(volume).astype(np.int16)


def _whole_volume(source: Path, target: Path, resolver: DenoiserResolver, options: DenoiseOptions) -> None:
    """The path every NIfTI took before: read whole, denoise the stack, write whole."""
    image = read_image(source)
    pixels, report, label = denoise_image(image, resolver, options)
    write_like_source(target, pixels, image, description=derivation("d", label, report))


def _save(volume: np.ndarray, path: Path, *, slope: float = 1.0, inter: float = 0.0) -> Path:
    img = nib.Nifti1Image(volume, np.diag([0.7, 0.7, 2.5, 1.0]))
    img.header.set_slope_inter(slope, inter)
    nib.save(img, path)
    return path


def _data_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    ("scaling", "intensity", "noise"),
    [
        ((1.0, 0.0), None, "auto"),  # int16 as stored: the dtype's range, noise estimated per slice
        ((0.37, -1024.3), None, 20.0),  # scaled: a percentile mapping on the sample of the whole volume
        ((1.0, 0.0), IntensitySpec("minmax"), None),  # the volume's min/max
    ],
)
def test_the_streamed_volume_is_the_whole_volume_file(
    tmp_path: Path,
    rng: np.random.Generator,
    suffix: str,
    scaling: tuple[float, float],
    intensity: IntensitySpec | None,
    noise: str | float | None,
) -> None:
    source = _save(_ct_volume(rng, (40, 36, 7)), tmp_path / f"ct{suffix}", slope=scaling[0], inter=scaling[1])
    resolver = DenoiserResolver(method="median", intensity=intensity)
    options = DenoiseOptions(noise_level=noise, strength=0.8)
    _whole_volume(source, tmp_path / f"old{suffix}", resolver, options)
    streamed = denoise_nifti_volume(source, tmp_path / f"new{suffix}", resolver=resolver, options=options)
    assert streamed is not None  # the volume took the streamed path
    report, _ = streamed
    assert len(report.noise) == 7
    # the same header and voxels, byte for byte (the .nii.gz once decompressed)
    assert _data_bytes(tmp_path / f"new{suffix}") == _data_bytes(tmp_path / f"old{suffix}")
    assert not np.array_equal(nib.load(tmp_path / f"new{suffix}").get_fdata(), nib.load(source).get_fdata())


def test_the_sample_of_a_volume_larger_than_the_percentile_sample_is_fitted_as_a_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    import meddenoise.data.intensity as intensity

    # a sample of 1,000 pixels from 41x37x7 = 10,619: every 10th pixel of the flattened stack, which
    # starts at another offset in every slice of 1,517 pixels
    monkeypatch.setattr(intensity, "_PERCENTILE_SAMPLE", 1000)
    source = _save(_ct_volume(rng, (41, 37, 7)), tmp_path / "ct.nii", slope=0.5, inter=3.0)
    options = DenoiseOptions(noise_level=None)
    _whole_volume(source, tmp_path / "old.nii", MEDIAN, options)
    assert denoise_nifti_volume(source, tmp_path / "new.nii", resolver=MEDIAN, options=options) is not None
    assert (tmp_path / "new.nii").read_bytes() == (tmp_path / "old.nii").read_bytes()


def test_denoise_file_and_batches_stream_volumes_and_still_refuse_nan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    import meddenoise.pipeline.batch as batch

    volume = rng.normal(0, 1, (20, 20, 4)).astype(np.float32)
    _save(volume, tmp_path / "a.nii.gz")
    volume[3, 4, 2] = np.nan
    _save(volume, tmp_path / "bad.nii")

    def whole_read(path: object) -> object:
        raise AssertionError("a volume was read whole")

    monkeypatch.setattr(batch, "read_image", whole_read)
    denoise_file(tmp_path / "a.nii.gz", tmp_path / "a_out.nii.gz", resolver=MEDIAN)
    assert nib.load(tmp_path / "a_out.nii.gz").shape == (20, 20, 4)
    summary = denoise_files(
        [tmp_path / "a.nii.gz", tmp_path / "bad.nii"], tmp_path / "out", resolver=MEDIAN, show_progress=False
    )
    assert [r.ok for r in summary.results] == [True, False]
    assert summary.results[1].reason.endswith("image holds 1 NaN/Inf value(s) (or values beyond float32)")
    assert not (tmp_path / "out" / "bad.nii").exists()


@pytest.mark.parametrize("cls", [nib.Nifti1Image, nib.Nifti2Image])
def test_a_volume_stored_as_4d_with_one_frame_and_nifti2_stream_to_the_same_file(
    tmp_path: Path, rng: np.random.Generator, cls: type[nib.Nifti1Image]
) -> None:
    volume = _ct_volume(rng, (24, 20, 5))[..., None]  # (X, Y, Z, 1)
    cls(volume, np.diag([0.5, 0.6, 3.0, 1.0])).to_filename(tmp_path / "ct.nii")
    options = DenoiseOptions()
    _whole_volume(tmp_path / "ct.nii", tmp_path / "old.nii", MEDIAN, options)
    assert denoise_nifti_volume(tmp_path / "ct.nii", tmp_path / "new.nii", resolver=MEDIAN, options=options)
    assert nib.load(tmp_path / "new.nii").shape == (24, 20, 5)  # as the whole-volume path writes it
    assert (tmp_path / "new.nii").read_bytes() == (tmp_path / "old.nii").read_bytes()
