"""Checks and conversions every reader shares."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from meddenoise._utils import same_path
from meddenoise.io.image import ImageReadError, ImageWriteError

#: ITU-R BT.601 luma weights, the ones Pillow's ``convert("L")`` uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


class ColourConversionWarning(UserWarning):
    """A colour image was converted to grey."""


def colour_to_grey(
    samples: np.ndarray, path: str | Path, *, channel_axis: int = -1
) -> tuple[np.ndarray, bool]:
    """Convert ``(..., C)`` colour samples to grey float64; return ``(grey, was_colour)``.

    Grey stored as RGB (all channels equal) is taken as is, without a warning. An alpha channel is
    dropped. True colour is converted with BT.601 luma and a :class:`ColourConversionWarning`.
    """
    arr = np.moveaxis(np.asarray(samples), channel_axis, -1)
    n_channels = arr.shape[-1]
    if n_channels in (2, 4):  # grey+alpha / RGBA: alpha carries no intensity
        arr = arr[..., :-1]
        n_channels -= 1
    if n_channels == 1:
        return arr[..., 0].astype(np.float64), False
    if n_channels != 3:
        raise ImageReadError(path, f"unsupported number of colour channels: {n_channels}")
    if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
        return arr[..., 0].astype(np.float64), False
    warnings.warn(
        f"{path}: colour image converted to grey (BT.601 luma)", ColourConversionWarning, stacklevel=3
    )
    weights = np.asarray(LUMA_WEIGHTS)
    return arr.astype(np.float64) @ weights, True


def check_pixels(pixels: np.ndarray, path: str | Path) -> np.ndarray:
    """Return ``pixels`` as float32 ``(H, W)`` or ``(N, H, W)``; reject empty, 4D+ or non-finite data."""
    arr = np.asarray(pixels)
    if arr.size == 0 or 0 in arr.shape:
        raise ImageReadError(path, f"image holds no pixels (shape {arr.shape})")
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim not in (2, 3):
        raise ImageReadError(
            path, f"expected a 2D image or a stack of 2D images, got {arr.ndim}D data of shape {arr.shape}"
        )
    out = arr.astype(np.float32)
    # integers are finite and within float32 range: only float data need the NaN/Inf scan
    if arr.dtype.kind not in "iub" and not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise ImageReadError(path, f"image holds {bad} NaN/Inf value(s) (or values beyond float32)")
    return out


def dtype_range(dtype: np.dtype | str) -> tuple[float, float]:
    """Representable ``(min, max)`` of an integer dtype; ``(0, 1)`` for floats."""
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return float(info.min), float(info.max)
    if dt == np.bool_:
        return 0.0, 1.0
    return 0.0, 1.0


def float_value_range(pixels: np.ndarray) -> tuple[float, float]:
    """Nominal range of float data: ``(0, 1)`` when the data lie inside it, else the data's min/max."""
    lo, hi = float(np.min(pixels)), float(np.max(pixels))
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo == hi:
        return lo, lo + 1.0
    return lo, hi


def suffix_of(path: Path) -> str:
    """Lower-case suffix, with ``.nii.gz`` as one."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def reject_source(target: Path, sources: Iterable[str | Path | None]) -> None:
    """Raise :class:`ImageWriteError` when ``target`` resolves to one of ``sources`` (inputs are never overwritten)."""
    for src in sources:
        if src is not None and same_path(src, target):
            raise ImageWriteError(target, "refusing to overwrite the input file it was read from")


def write_failure(path: str | Path, exc: OSError) -> ImageWriteError:
    """An :class:`OSError` met while writing ``path``, as one line that names what stood in the way."""
    blocker = Path(exc.filename) if exc.filename else None
    if (
        isinstance(exc, FileExistsError | NotADirectoryError)
        and blocker is not None
        and blocker != Path(path)
    ):
        return ImageWriteError(path, f"cannot write: a file stands where the folder {blocker} would be")
    return ImageWriteError(path, f"cannot write ({exc.strerror or exc})")
