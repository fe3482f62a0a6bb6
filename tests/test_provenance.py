"""meddenoise.provenance: git commit only for a package inside a git checkout, CPU flags, sha256."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

import meddenoise.provenance as provenance

_GIT = shutil.which("git")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_a_package_copy_outside_any_checkout_has_no_commit(tmp_path: Path) -> None:
    copy = tmp_path / "site-packages" / "meddenoise"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    assert provenance.git_info(copy) is None


@pytest.mark.skipif(_GIT is None, reason="git not installed")
def test_a_package_inside_an_unrelated_repository_has_no_commit(tmp_path: Path) -> None:
    # A venv inside some other project's repository: that repository's commit is not ours.
    _git(tmp_path, "init", "-q")
    (tmp_path / "README").write_text("other project\n")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    _git(tmp_path, "add", "README", ".gitignore")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    package = tmp_path / ".venv" / "lib" / "site-packages" / "meddenoise"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert provenance.git_info(package) is None


@pytest.mark.skipif(_GIT is None, reason="git not installed")
def test_a_package_tracked_by_a_checkout_reports_its_commit_and_dirtiness(tmp_path: Path) -> None:
    package = tmp_path / "src" / "meddenoise"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    info = provenance.git_info(package)
    assert info is not None and info.commit == _git(tmp_path, "rev-parse", "HEAD") and not info.dirty
    (package / "__init__.py").write_text("x = 1\n")
    info = provenance.git_info(package)
    assert info is not None and info.dirty


def test_environment_reports_the_monkeypatched_missing_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "git_info", lambda package_dir=None: None)
    env = provenance.environment()
    assert env["git_commit"] is None and env["git_dirty"] is None
    assert env["python"] and isinstance(env["packages"], dict) and env["packages"]["numpy"]


def test_cpu_flags_come_from_cpuinfo(tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text("model name\t: Test CPU 9000\nflags\t\t: fpu avx2 fma avx512f avx512_bf16 amx_tile\n")
    cpu = provenance.cpu_info(fake)
    assert cpu.model == "Test CPU 9000"
    assert cpu.flags == ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
    assert provenance.cpu_info(tmp_path / "absent").flags == ()


def test_sha256_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc" * 1_000_000)
    assert provenance.sha256_file(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_a_child_reports_its_own_peak_memory_not_its_parents() -> None:
    import json
    import sys

    import numpy as np

    src = Path(provenance.__file__).resolve().parents[1]
    ballast = np.ones(300 * 2**20 // 8)  # 300 MiB, written so it is resident in this process
    code = (
        "import json, resource, numpy as np\n"
        "from meddenoise.provenance import peak_rss_mib\n"
        "before = peak_rss_mib()\n"
        "block = np.ones(64 * 2**20 // 8)\n"
        "print(json.dumps([before, peak_rss_mib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": str(src)}
    )
    before, after, inherited = json.loads(done.stdout)
    assert ballast.sum() > 0
    assert before < 200 and after >= before + 60  # its own imports, then its own 64 MiB
    assert inherited >= 300  # what ru_maxrss says: at least this process's ballast (Linux carries it over)


def test_peak_memory_reads_vmhwm(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1000 kB\n")
    assert provenance.peak_rss_mib(status) == 200.0
