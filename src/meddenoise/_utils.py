"""Small helpers shared by every subpackage: random generators, data locations, atomic writes."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "TEMP_MARKER",
    "RNGLike",
    "as_rng",
    "atomic_path",
    "is_stale_temp",
    "same_path",
    "shared_data_dir",
    "sweep_stale_temps",
]

RNGLike = np.random.Generator | int | None


def as_rng(rng: RNGLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for a Generator, an integer seed or ``None`` (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file once links are followed; a link loop or an unreadable
    path is compared by its absolute spelling instead of raising (``Path.resolve`` raises on loops)."""

    def where(p: str | os.PathLike[str]) -> Path:
        try:
            return Path(p).resolve()
        except (OSError, RuntimeError):
            return Path(os.path.abspath(p))

    return where(a) == where(b)


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


#: Marker in the name of every temporary file :func:`atomic_path` creates: ``.<name>.~meddenoise-XXXXXXXX.tmp<suffixes>``.
TEMP_MARKER = ".~meddenoise-"
# Our temp names now, and those of earlier versions (``.<name>.XXXXXXXX.tmp<suffixes>``, mkstemp's 8 characters).
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:~meddenoise-)?[a-z0-9_]{8}\.tmp(?P<suffixes>(?:\.[^.]+)*)$")
# When this process started: a temp file older than that cannot belong to a write of this run.
_PROCESS_START = time.time()
_swept: set[Path] = set()


def is_stale_temp(path: Path, *, before: float) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` (this or an earlier version) last
    modified before ``before`` (a POSIX time), i.e. debris of a killed write."""
    match = _TEMP_NAME.match(path.name)
    if match is None or match["suffixes"] != "".join(Path(match["name"]).suffixes):
        return False
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_mtime < before
    except OSError:
        return False


def sweep_stale_temps(folder: str | os.PathLike[str], *, before: float | None = None) -> list[Path]:
    """Remove the debris of killed atomic writes in ``folder`` (not recursive); returns what was removed.

    Only files named as :func:`atomic_path` names its temporary files and older than ``before``
    (default: this process's start) are touched, so a write in progress in this run is never removed.
    """
    cutoff = _PROCESS_START if before is None else before
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith(".") and is_stale_temp(path, before=cutoff):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target`` atomically.

    A failure inside the block removes the temporary file and leaves ``target`` untouched. The
    temporary file is hidden and named ``.<name>.~meddenoise-XXXXXXXX.tmp<suffixes>`` (:data:`TEMP_MARKER`).
    A process killed mid-write (SIGKILL: no ``finally`` runs) leaves it behind, so the first write
    of a process into a folder removes such files of earlier runs (:func:`sweep_stale_temps`). Why
    not an unnamed file (Linux ``O_TMPFILE`` + ``linkat``): it exists only on some file systems of
    one OS, and a rename of a named temp file is the portable atomic step.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.parent.resolve()
    if folder not in _swept:  # once per folder and process: a batch of 10,000 files scans each folder once
        _swept.add(folder)
        sweep_stale_temps(folder)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}{TEMP_MARKER}", suffix=".tmp" + "".join(target.suffixes), dir=target.parent
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
