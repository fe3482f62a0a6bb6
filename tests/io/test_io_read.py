"""read_image on raster formats, DICOM samples and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from meddenoise.io import ColourConversionWarning, ImageReadError, read_image
from meddenoise.io.testdata import pydicom_sample


def test_png_8bit_reads_stored_values(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.integers(0, 256, size=(20, 30), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.pixels.dtype == np.float32
    np.testing.assert_array_equal(img.pixels, data.astype(np.float32))
    assert (img.meta.format, img.meta.dtype, img.meta.bits) == ("png", "uint8", 8)
    assert img.meta.value_range == (0.0, 255.0)


def test_png_16bit_keeps_depth(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.integers(0, 65536, size=(16, 9), dtype=np.uint16)
    Image.fromarray(data).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.pixels, data.astype(np.float32))
    assert (img.meta.dtype, img.meta.bits, img.meta.value_range) == ("uint16", 16, (0.0, 65535.0))


@pytest.mark.parametrize("fmt", ["PPM", "BMP", "JPEG"])
def test_pillow_formats(tmp_path: Path, fmt: str, rng: np.random.Generator) -> None:
    data = rng.integers(0, 256, size=(12, 10), dtype=np.uint8)
    path = tmp_path / f"a.{ {'PPM': 'pgm', 'BMP': 'bmp', 'JPEG': 'jpg'}[fmt] }"
    Image.fromarray(data).save(path, format=fmt)
    img = read_image(path)
    assert img.pixels.shape == (12, 10)
    if fmt != "JPEG":  # lossless formats give back the stored values
        np.testing.assert_array_equal(img.pixels, data)


def test_tiff_float_and_stack(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.normal(size=(3, 8, 7)).astype(np.float32)
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
    img = read_image(tmp_path / "s.tif")
    assert img.is_stack
    np.testing.assert_array_equal(img.pixels, data)
    assert img.meta.dtype == "float32"


def test_colour_png_warns_and_converts_with_luma(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.warns(ColourConversionWarning, match="c.png"):
        img = read_image(tmp_path / "c.png")
    np.testing.assert_allclose(img.pixels, 0.299 * 200, rtol=1e-6)
    assert img.meta.converted_from_colour


def test_grey_stored_as_rgb_does_not_warn(tmp_path: Path) -> None:
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "g.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(img.pixels, grey)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_text("hello, not an image\n"), "not a DICOM file"),
        (lambda p: p.write_bytes(b""), "empty file"),
    ],
)
def test_text_or_empty_file_named_dcm(tmp_path: Path, make, reason: str) -> None:
    path = tmp_path / "fake.dcm"
    make(path)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_png(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(ImageReadError, match=r"bad\.png: "):
        read_image(tmp_path / "bad.png")


def test_nan_tiff_is_rejected(tmp_path: Path) -> None:
    data = np.zeros((4, 4), np.float32)
    data[1, 2] = np.nan
    tifffile.imwrite(tmp_path / "n.tif", data)
    with pytest.raises(ImageReadError, match="NaN/Inf"):
        read_image(tmp_path / "n.tif")


def test_4d_tiff_is_rejected(tmp_path: Path) -> None:
    tifffile.imwrite(
        tmp_path / "v.tif",
        np.zeros((2, 3, 4, 5), np.float32),
        photometric="minisblack",
        metadata={"axes": "TZYX"},
    )
    with pytest.raises(ImageReadError, match="4D"):
        read_image(tmp_path / "v.tif")


def test_ct_small_in_hounsfield_units() -> None:
    img = read_image(pydicom_sample("CT_small.dcm"))
    assert img.meta.modality == "CT" and img.meta.units == "HU"
    ds = img.meta.header
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(img.pixels, expected.astype(np.float32))
    assert img.meta.pixel_spacing == tuple(float(v) for v in ds.PixelSpacing)


def test_multiframe_dicom_is_a_stack() -> None:
    img = read_image(pydicom_sample("emri_small.dcm"))
    assert img.pixels.shape == (10, 64, 64)
    assert img.meta.extra["frames"] == 10


def test_monochrome1_is_inverted_within_range() -> None:
    img = read_image(pydicom_sample("RG3_UNCI.dcm"))
    assert img.meta.photometric == "MONOCHROME1" and img.meta.inverted
    lo, hi = img.meta.value_range
    stored = img.meta.header.pixel_array.astype(np.float32)
    np.testing.assert_array_equal(img.pixels, (lo + hi) - stored)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("rtplan.dcm", "no pixel data .*RT Plan"),
        ("MR_truncated.dcm", "truncated pixel data"),
        ("MR_small_jpeg_ls_lossless.dcm", "no installed codec can decode 'JPEG-LS Lossless.*pylibjpeg"),
    ],
)
def test_bad_dicom_gives_clear_one_line_error(name: str, reason: str) -> None:
    path = pydicom_sample(name)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


@pytest.mark.data
def test_chest_ct_dicom_reads_in_hu(shared_data: Path) -> None:
    files = sorted((shared_data / "chest-ct-dicom").glob("*.dcm"))
    assert len(files) >= 40
    for path in files:
        img = read_image(path)
        assert img.pixels.shape == (512, 512)
        assert img.meta.units == "HU" and img.meta.modality == "CT"
        # outside the reconstruction circle some scanners store padding (-2048 / -3024); inside it,
        # air around and in the patient is about -1000 HU and nothing exceeds dense bone/metal
        inside = img.pixels[img.pixels > -2000]
        assert -1100 <= np.percentile(inside, 2) <= -900, path
        assert np.mean((inside > -1100) & (inside < -900)) > 0.02, path
        assert img.pixels.min() >= -3100
        assert img.pixels.max() <= 3100


def test_dicom_without_suffix_is_sniffed(tmp_path: Path) -> None:
    target = tmp_path / "IM000001"
    target.write_bytes(pydicom_sample("MR_small.dcm").read_bytes())
    img = read_image(target)
    assert img.meta.format == "dicom" and img.pixels.shape == (64, 64)


def test_pgm_16bit(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.integers(0, 65536, size=(6, 5), dtype=np.uint16)
    header = b"P5\n5 6\n65535\n"
    (tmp_path / "d.pgm").write_bytes(header + data.astype(">u2").tobytes())
    img = read_image(tmp_path / "d.pgm")
    np.testing.assert_array_equal(img.pixels, data)
    assert img.meta.bits == 16 and img.meta.value_range == (0.0, 65535.0)


def test_meta_to_dict_is_json_ready() -> None:
    import json

    meta = read_image(pydicom_sample("CT_small.dcm")).meta
    data = json.loads(json.dumps(meta.to_dict()))
    assert data["units"] == "HU" and data["modality"] == "CT" and "header" not in data
    assert data["value_range"] == list(meta.value_range)
