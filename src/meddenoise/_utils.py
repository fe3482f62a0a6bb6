"""Small helpers shared by every subpackage: random generators, data locations, atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["RNGLike", "as_rng", "atomic_path", "shared_data_dir"]

RNGLike = np.random.Generator | int | None


def as_rng(rng: RNGLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for a Generator, an integer seed or ``None`` (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def shared_data_dir() -> Path | None:
    """Location of the research data: ``$MEDDENOISE_DATA`` or ``../shared/data`` beside the checkout.

    Returns ``None`` when neither exists (tests that need it then skip).
    """
    env = os.environ.get("MEDDENOISE_DATA")
    candidates = [Path(env)] if env else []
    repo_root = Path(__file__).resolve().parents[2]
    candidates += [repo_root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand.is_dir():
            return cand
    return None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target`` atomically.

    A failure inside the block removes the temporary file and leaves ``target`` untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + "".join(target.suffixes), dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp creates 0600; give the result the permissions a plain open() would (umask).
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
