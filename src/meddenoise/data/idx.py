"""MNIST's IDX file format (the ``.gz`` files in ``../shared/data/mnist``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["read_idx_images"]

_IDX_UBYTE_3D = 0x00000803


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX3 ``ubyte`` image file (MNIST's format, optionally ``.gz``) as uint8 ``(N, rows, cols)``.

    Raises
    ------
    ValueError
        ``"<path>: <reason>"`` when the header is not an IDX3 unsigned-byte header or the file is short.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX3 header ({len(raw)} bytes)")
    magic, n, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in range(0, 16, 4))
    if magic != _IDX_UBYTE_3D:
        raise ValueError(f"{path}: not an IDX3 unsigned-byte image file (magic 0x{magic:08x})")
    expected = 16 + n * rows * cols
    if len(raw) != expected:
        raise ValueError(
            f"{path}: expected {expected} bytes for {n} images of {rows}x{cols}, found {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()
