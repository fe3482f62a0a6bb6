"""Small helpers shared by every subpackage: random generators, data locations, atomic writes, CPU features."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["RNGLike", "as_rng", "atomic_path", "cpu_flags", "native_bf16", "shared_data_dir"]

RNGLike = np.random.Generator | int | None

#: CPU flags (``/proc/cpuinfo``) of hardware bfloat16 arithmetic: AVX512-BF16 and AMX-BF16.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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


def cpu_flags(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> frozenset[str] | None:
    """The feature flags of the first CPU in ``cpuinfo`` (Linux), or ``None`` where it cannot be read.

    Examples
    --------
    >>> flags = cpu_flags()
    >>> flags is None or isinstance(flags, frozenset)
    True
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):  # x86 / ARM
                    return frozenset(value.split())
    except OSError:
        return None
    return frozenset()


def native_bf16(device_type: str = "cpu") -> bool:
    """Whether ``device_type`` computes bfloat16 in hardware, so that bf16 autocast makes training faster.

    CUDA: :func:`torch.cuda.is_bf16_supported`. CPU: the ``avx512_bf16`` or ``amx_bf16`` flag in
    ``/proc/cpuinfo``; where that file is missing (not Linux), torch's own oneDNN check. Without
    hardware bf16, autocast to bf16 is emulated and slower than float32.
    """
    import torch

    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return False
    flags = cpu_flags()
    if flags is not None:
        return bool(BF16_CPU_FLAGS & flags)
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
