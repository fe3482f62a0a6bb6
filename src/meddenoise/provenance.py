"""Where a result came from: environment, package versions, CPU, git commit and file checksums.

The one place meddenoise captures provenance; reproductions, the evaluation bench, checkpoints, HTML
reports and the benchmark scripts all call it.

The git commit is recorded only when the *package itself* lives in a git checkout (an editable install
from a clone): a wheel installed into a virtual environment that happens to sit inside some other
repository gets ``None``, never that repository's commit.

>>> from meddenoise.provenance import package_versions
>>> package_versions(("numpy",))["numpy"] is not None
True
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = [
    "CPU_FLAGS",
    "PACKAGES",
    "CpuInfo",
    "GitInfo",
    "cpu_info",
    "environment",
    "git_info",
    "native_bf16",
    "package_root",
    "package_versions",
    "peak_rss_mib",
    "sha256_file",
]

#: Distributions whose versions results depend on (absent ones are reported as ``None``).
PACKAGES = (
    "meddenoise",
    "torch",
    "numpy",
    "scipy",
    "scikit-image",
    "PyWavelets",
    "pillow",
    "bm3d",
    "pydicom",
    "nibabel",
    "nilearn",
    "matplotlib",
)

#: CPU extensions that change torch's speed (and, for bf16, which kernels run).
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")

EnvValue = str | int | bool | None | list[str] | dict[str, str | None]


@dataclass(frozen=True)
class CpuInfo:
    """CPU model name, logical cores and which of :data:`CPU_FLAGS` it has."""

    model: str
    count: int | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class GitInfo:
    """Commit of the checkout the package lives in, and whether tracked files differ from it."""

    commit: str
    dirty: bool


def package_root() -> Path:
    """The folder that holds the ``meddenoise`` package (``src`` in a clone, ``site-packages`` when installed)."""
    return Path(__file__).resolve().parent.parent


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution in ``packages`` (``None`` when not installed)."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """CPU model and flags from ``cpuinfo`` (Linux), else what :mod:`platform` knows."""
    model, flags = "", set[str]()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return CpuInfo(
        model=model or platform.processor() or platform.machine() or "unknown",
        count=os.cpu_count(),
        flags=tuple(f for f in CPU_FLAGS if f in flags),
    )


#: CPU flags of hardware bfloat16 arithmetic (AVX512-BF16, AMX-BF16).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bf16(device_type: str = "cpu", *, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether ``device_type`` computes bfloat16 in hardware, so that bf16 autocast makes training faster.

    CUDA: :func:`torch.cuda.is_bf16_supported`. CPU: the ``avx512_bf16`` or ``amx_bf16`` flag of
    :func:`cpu_info`; where ``cpuinfo`` does not exist (not Linux), torch's own oneDNN check. Without
    hardware bf16, autocast to bf16 is emulated and slower than float32. The trainer's
    ``precision="auto"`` asks this function (once per run).
    """
    import torch

    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return False
    if cpuinfo.is_file():
        return bool(BF16_CPU_FLAGS & set(cpu_info(cpuinfo).flags))
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(package_dir: Path | None = None) -> GitInfo | None:
    """The git commit of the checkout holding the package, or ``None`` when it is not in one.

    ``package_dir`` (default: this package's folder) must be tracked by the checkout's git: a
    package installed into a venv that sits inside some unrelated repository is not, and gets ``None``.
    """
    folder = (package_dir or Path(__file__).resolve().parent).resolve()
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    # tracked files of this very folder: an untracked (or ignored) site-packages copy has none
    if not _git(folder, "ls-files", "--", "."):
        return None
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None or len(commit) != 40:
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return GitInfo(commit=commit, dirty=bool(status))


def peak_rss_mib(status: Path = Path("/proc/self/status")) -> float:
    """This process's own peak resident memory in MiB, since it started (or last exec'd).

    On Linux ``VmHWM`` of ``/proc/self/status``. ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used there:
    Linux carries it over fork and exec, so a child started by a 1.3 GB test worker reported 1.3 GB
    whatever it did. Without ``/proc``, ``ru_maxrss`` (KiB, bytes on macOS).
    """
    try:
        with open(status, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def environment(packages: Sequence[str] = PACKAGES) -> dict[str, EnvValue]:
    """Python, platform, CPU (model, count, flags), torch threads, package versions and git commit."""
    cpu = cpu_info()
    git = git_info()
    info: dict[str, EnvValue] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu.model,
        "cpu_count": cpu.count,
        "cpu_flags": list(cpu.flags),
        "packages": package_versions(packages),
        "git_commit": None if git is None else git.commit,
        "git_dirty": None if git is None else git.dirty,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = int(torch.get_num_threads())
    return info
