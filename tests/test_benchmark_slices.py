"""scripts/benchmark_slices.py (what `make bench` runs): the fast tier's back end is timed where the CPU has it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from meddenoise._optional import is_available
from meddenoise.provenance import native_bf16

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_slices.py"


def test_make_bench_times_the_bf16_back_end_on_a_cpu_with_native_bf16(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--methods",
            "mri",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = json.loads((tmp_path / "bench_slices.json").read_text())["rows"]
    expected = [
        "torch",
        *(["bf16"] if native_bf16("cpu") else []),
        *(["onnx"] if is_available("onnxruntime") else []),
    ]
    assert [row["backend"] for row in rows] == expected
    assert all(row["method"] == "mri" and row["mode"] == "blind" and row["ms"] > 0 for row in rows)
    if not native_bf16("cpu"):
        assert "bf16: not timed" in run.stderr
    # the Markdown table names each back end the JSON does
    table = (tmp_path / "bench_slices.md").read_text()
    assert all(f"| mri | {backend} | blind |" in table for backend in expected)
