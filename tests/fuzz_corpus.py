"""A corpus of bad image files, generated into a folder by the tests (nothing is copied into the repo).

:func:`make_corpus` writes each bad case of issue #14 (points 1-7 and 11-15) next to good files that
must still be denoised, and returns what each bad file must be reported as: one line naming the file
with a fragment of the expected reason. The DICOM cases are mutations of pydicom's own CT sample,
made at test time.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import tifffile
from PIL import Image

from meddenoise.io.testdata import pydicom_sample


@dataclass(frozen=True)
class BadFile:
    """A file every reader must refuse with one line ``<path>: <reason>`` containing ``reason``."""

    path: Path
    reason: str


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _bomb_png(path: Path, side: int = 100_000) -> None:
    """A valid PNG header declaring ``side x side`` pixels with almost no data (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + _png_chunk(b"IEND", b""))


def _lying_nifti_bytes(shape: tuple[int, int, int]) -> bytes:
    """A NIfTI-1 header declaring ``shape`` int16 voxels, followed by only 64 bytes of data."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape(shape)
    header.set_data_offset(352)
    return header.binaryblock + b"\x00" * 4 + bytes(64)


def _nifti_bytes(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    image = nib.Nifti1Image(data, np.eye(4))
    file_map = image.make_file_map({"image": buffer, "header": buffer})
    image.to_file_map(file_map)
    return buffer.getvalue()


def make_good_files(folder: Path, rng: np.random.Generator) -> list[Path]:
    """Good files of every format, one with a non-ASCII name; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    good = []
    png = folder / "good.png"
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(png)
    unicode_png = folder / "ünïcødé 图像.png"
    Image.fromarray(rng.integers(0, 256, (24, 40), dtype=np.uint8)).save(unicode_png)
    tif = folder / "good16.tif"
    tifffile.imwrite(tif, rng.integers(0, 4096, (32, 32), dtype=np.uint16))
    nii = folder / "good.nii.gz"
    nii.write_bytes(gzip.compress(_nifti_bytes(rng.normal(100, 10, (16, 16, 3)).astype(np.float32))))
    ct = folder / "good_ct.dcm"
    ct.write_bytes(pydicom_sample("CT_small.dcm").read_bytes())
    good += [png, unicode_png, tif, nii, ct]
    return good


def make_bad_files(folder: Path, rng: np.random.Generator) -> list[BadFile]:
    """Every bad case (issue #14 points 2, 3, 5, 11) as files in ``folder``; returns them with their reasons."""
    folder.mkdir(parents=True, exist_ok=True)
    bad: list[BadFile] = []

    def add(name: str, reason: str, content: bytes) -> Path:
        path = folder / name
        path.write_bytes(content)
        bad.append(BadFile(path, reason))
        return path

    ct_bytes = pydicom_sample("CT_small.dcm").read_bytes()
    add("empty.png", "empty file", b"")
    add("random.png", "not an image file Pillow can identify", rng.bytes(3000))
    add("random.tif", "cannot read TIFF", rng.bytes(3000))
    add("random.nii", "cannot read NIfTI", rng.bytes(3000))
    add("random.dcm", "not a DICOM file", rng.bytes(3000))
    add("text as image.dcm", "not a DICOM file", b"this is a text file, not a DICOM image\n" * 20)
    add("truncated.dcm", "truncated pixel data", ct_bytes[: len(ct_bytes) - 20_000])
    png = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(png, format="PNG")
    add("truncated.png", "cannot decode image", png.getvalue()[:200])
    # a DICOM header that lies: Rows x Columns larger than the pixel data it carries
    lying = pydicom.dcmread(io.BytesIO(ct_bytes))
    lying.Rows = 4096
    add("lying header.dcm", "pixel data", _dicom_bytes(lying))
    nopix = pydicom.dcmread(io.BytesIO(ct_bytes))
    del nopix.PixelData
    add("no pixels.dcm", "no pixel data", _dicom_bytes(nopix))
    slope0 = pydicom.dcmread(io.BytesIO(ct_bytes))
    slope0.RescaleSlope = 0
    add("slope0.dcm", "invalid Rescale Slope", _dicom_bytes(slope0))
    # NaN/Inf TIFFs
    nan = np.ones((16, 16), np.float32)
    nan[3, 4] = np.nan
    tifffile.imwrite(folder / "nan.tif", nan)
    bad.append(BadFile(folder / "nan.tif", "NaN/Inf"))
    inf = np.ones((16, 16), np.float32)
    inf[0, 0] = np.inf
    tifffile.imwrite(folder / "inf.tif", inf)
    bad.append(BadFile(folder / "inf.tif", "NaN/Inf"))
    # a multi-page TIFF whose pages differ in size (point 3: the second page was lost silently)
    with tifffile.TiffWriter(folder / "pages.tif") as tif:
        tif.write(np.zeros((16, 16), np.uint8))
        tif.write(np.ones((8, 8), np.uint8))
    bad.append(BadFile(folder / "pages.tif", "TIFF holds 2 images of different shapes"))
    # NIfTI: 4D, complex, RGB24, a header declaring 30000x30000x3000 voxels, a gzip CRC failure
    add("4d.nii", "4D NIfTI", _nifti_bytes(np.zeros((4, 4, 3, 2), np.float32)))
    add("complex.nii", "complex NIfTI", _nifti_bytes(np.full((8, 8, 2), 1 + 2j, np.complex64)))
    rgb = np.zeros((4, 4, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    add("rgb24.nii", "colour (RGB) NIfTI", _nifti_bytes(rgb))
    add("huge.nii", "header declares 30000x30000x3000 voxels", _lying_nifti_bytes((30000, 30000, 3000)))
    add(
        "huge.nii.gz",
        "header declares 30000x30000x3000 voxels",
        gzip.compress(_lying_nifti_bytes((30000, 30000, 3000))),
    )
    crc = bytearray(gzip.compress(_nifti_bytes(rng.normal(0, 1, (16, 16, 3)).astype(np.float32))))
    crc[-6] ^= 0xFF  # a byte of the CRC-32 trailer: the data decompress fine, the check fails
    add("crc.nii.gz", "corrupt gzip data (CRC check failed", bytes(crc))
    add("truncated.nii.gz", "corrupt gzip data", bytes(crc[: len(crc) // 2]))
    # a PNG declaring 100000 x 100000 pixels (Pillow's decompression-bomb guard)
    _bomb_png(folder / "bomb.png")
    bad.append(BadFile(folder / "bomb.png", "decompression-bomb limit"))
    return bad


def _dicom_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_link_loop(folder: Path) -> Path:
    """Two symbolic links pointing at each other; returns the first (given to the commands directly)."""
    first, second = folder / "loop1.png", folder / "loop2.png"
    os.symlink(second.name, first)
    os.symlink(first.name, second)
    return first


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links as their targets' names) → its bytes, to prove nothing changed."""
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = os.readlink(path).encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out
