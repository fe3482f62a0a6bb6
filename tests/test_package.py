from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meddenoise._utils import atomic_path


def test_import_is_torch_free_and_exports_denoise() -> None:
    code = "import sys, meddenoise; assert 'torch' not in sys.modules; assert callable(meddenoise.denoise)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_atomic_path_writes_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "x"
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_path_leaves_target_untouched_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
