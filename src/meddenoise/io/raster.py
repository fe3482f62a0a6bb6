"""Raster formats: PNG, JPEG, BMP, PGM/PPM (Pillow) and TIFF (tifffile), read and written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from meddenoise._utils import atomic_path
from meddenoise.io._common import check_pixels, colour_to_grey, dtype_range, float_value_range
from meddenoise.io.image import ImageMeta, ImageReadError, ImageWriteError, MedicalImage

__all__ = ["read_pillow", "read_tiff", "to_output_integers", "write_png", "write_tiff"]

_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "BMP": "bmp", "PPM": "pnm", "GIF": "gif", "WEBP": "webp"}


def pillow_samples(img: Image.Image, path: str | Path) -> tuple[np.ndarray, np.dtype, bool]:
    """Samples of a Pillow image as an array; returns ``(grey, original dtype, was_colour)``.

    Grey float64 for colour inputs, the stored integers (uint8/uint16/int32/float32) otherwise.
    """
    mode = img.mode
    if mode in ("L", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        arr = np.asarray(img)
        return arr, arr.dtype, False
    if mode == "1":
        arr = np.asarray(img.convert("L"))
        return arr, arr.dtype, False
    if mode == "I":
        arr = np.asarray(img)
        # Pillow opens some 16-bit greyscale files as 32-bit "I"; keep their real depth.
        if arr.size and arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.uint16), np.dtype(np.uint16), False
        return arr, arr.dtype, False
    if mode in ("LA", "La"):
        arr = np.asarray(img)
        return arr[..., 0], arr.dtype, False
    rgb = np.asarray(img.convert("RGBA" if "A" in mode or mode == "P" else "RGB"))
    grey, was_colour = colour_to_grey(rgb, path)
    if not was_colour:
        grey = grey.astype(np.uint8)
    return grey, np.dtype(np.uint8), was_colour


def read_pillow(path: Path) -> MedicalImage:
    """Read PNG, JPEG, BMP, PGM/PPM (and other Pillow formats) as one grey image."""
    try:
        with Image.open(path) as img:
            img.load()
            fmt = _PIL_FORMATS.get(img.format or "", (img.format or "raster").lower())
            samples, dtype, was_colour = pillow_samples(img, path)
            spacing = _pillow_spacing(img)
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image file Pillow can identify") from None
    except Image.DecompressionBombError:  # the header declares more pixels than is safe to allocate
        raise ImageReadError(
            path, "declares more pixels than Pillow's decompression-bomb limit; refused"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ImageReadError(path, f"cannot decode image ({exc})") from None
    pixels = check_pixels(samples, path)
    if np.issubdtype(dtype, np.integer):
        value_range = dtype_range(dtype)
        bits = np.dtype(dtype).itemsize * 8
    else:
        value_range = float_value_range(pixels)
        bits = 32
    meta = ImageMeta(
        format=fmt,
        dtype=np.dtype(dtype).name,
        bits=bits,
        units="intensity",
        value_range=value_range,
        pixel_spacing=spacing,
        photometric="RGB" if was_colour else "MONOCHROME2",
        converted_from_colour=was_colour,
        source=path,
    )
    return MedicalImage(pixels, meta)


def _pillow_spacing(img: Image.Image) -> tuple[float, float] | None:
    dpi = img.info.get("dpi")
    if not dpi:
        return None
    try:
        dx, dy = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    if dx <= 1.0 or dy <= 1.0:  # 72/96 dpi defaults say nothing; 0/1 are placeholders
        return None
    return 25.4 / dy, 25.4 / dx


def read_tiff(path: Path) -> MedicalImage:
    """Read a TIFF: 8/16-bit integer or float; several pages or a ``Z``/``Q`` axis become a stack."""
    try:
        with tifffile.TiffFile(path) as tif:
            _check_one_series(tif, path)
            series = tif.series[0]
            axes = series.axes
            data = series.asarray()
            page = tif.pages[0]
            photometric = page.photometric.name if page.photometric is not None else "MINISBLACK"
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(path, "too large to read into memory") from None
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as exc:
        raise ImageReadError(path, f"cannot read TIFF ({exc})") from None
    dtype = data.dtype
    was_colour = False
    if "S" in axes:  # samples per pixel (RGB, RGBA, grey+alpha)
        grey, was_colour = colour_to_grey(data, path, channel_axis=axes.index("S"))
        data = grey if was_colour else grey.astype(dtype)
    pixels = check_pixels(data, path)
    value_range = dtype_range(dtype) if np.issubdtype(dtype, np.integer) else float_value_range(pixels)
    meta = ImageMeta(
        format="tiff",
        dtype=dtype.name,
        bits=dtype.itemsize * 8,
        units="intensity",
        value_range=value_range,
        photometric="RGB"
        if was_colour
        else ("MONOCHROME1" if photometric == "MINISWHITE" else "MONOCHROME2"),
        converted_from_colour=was_colour,
        source=path,
        extra={"axes": axes},
    )
    return MedicalImage(pixels, meta)


def _check_one_series(tif: tifffile.TiffFile, path: Path) -> None:
    """Refuse a TIFF whose pages form several images (e.g. pages of different sizes): reading only the
    first would lose the others silently. Reduced-resolution copies (thumbnails) do not count."""
    images = [s for s in tif.series if not all(getattr(p, "is_reduced", False) for p in s.pages if p)]
    if len(images) > 1:
        shapes = ", ".join("x".join(map(str, s.shape)) for s in images[:4])
        raise ImageReadError(
            path,
            f"TIFF holds {len(images)} images of different shapes ({shapes}); only one image or a stack of equal pages is read",
        )


def to_output_integers(
    pixels: np.ndarray, value_range: tuple[float, float], dtype: np.dtype, path: Path
) -> np.ndarray:
    """Map ``value_range`` linearly onto the full range of integer ``dtype``, round and clip.

    When ``value_range`` already is the dtype's range (e.g. an 8-bit PNG written back as 8-bit) the
    mapping is the identity and stored values come back exactly.
    """
    lo, hi = value_range
    if not hi > lo:
        raise ImageWriteError(path, f"empty value range {value_range}")
    out_lo, out_hi = dtype_range(dtype)
    arr = np.asarray(pixels, dtype=np.float64)
    if (lo, hi) != (out_lo, out_hi):
        arr = (arr - lo) * ((out_hi - out_lo) / (hi - lo)) + out_lo
    return np.clip(np.rint(arr), out_lo, out_hi).astype(dtype)


def write_png(path: Path, pixels: np.ndarray, *, value_range: tuple[float, float], bits: int = 8) -> Path:
    """Write one grey image as an 8- or 16-bit PNG (``value_range`` maps to the full integer range)."""
    if bits not in (8, 16):
        raise ImageWriteError(path, f"PNG bit depth must be 8 or 16, got {bits}")
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise ImageWriteError(path, f"PNG holds one 2D image, got shape {arr.shape}; write a stack as TIFF")
    stored = to_output_integers(arr, value_range, np.dtype(np.uint8 if bits == 8 else np.uint16), path)
    img = Image.fromarray(stored)  # uint8 → "L", uint16 → "I;16"
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def write_tiff(path: Path, pixels: np.ndarray) -> Path:
    """Write an image or a stack as float32 TIFF (values unchanged, one page per slice)."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ImageWriteError(path, f"expected (H, W) or (N, H, W), got shape {arr.shape}")
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp, arr, photometric="minisblack", metadata={"axes": "YX" if arr.ndim == 2 else "ZYX"}
        )
    return path
