"""Milliseconds per 512x512 slice: every shipped model (PyTorch and onnxruntime) beside BM3D and NL-means.

The slice is a 512x512 chest CT slice in HU (the first file of ``../shared/data/chest-ct-dicom`` when
present, else a synthetic 512x512 HU phantom) with 20 HU of Gaussian noise. Each method gets it through
the intensity mapping the factory (:func:`meddenoise.methods.build_denoiser`) gives it, as
``meddenoise denoise`` would; the shipped models run blind, BM3D and NL-means are told the true std.
Timing: the denoiser call on the mapped slice, one warm-up, then the best of ``--repeats`` (default 3),
with ``--threads`` (default 2) torch / BLAS / onnxruntime threads. Each model runs on every back end of
``--backends`` (default ``torch,onnx``, and ``bf16``, the fast tier, on a CPU with native bf16; ``onnx``
is skipped without onnxruntime), the back ends of a model timed in turn, ``--repeats`` rounds, so that a
load change on a shared machine hits them alike.
The CPU model and flags come from :mod:`meddenoise.provenance`.

Usage::

    .venv/bin/python scripts/benchmark_slices.py                    # what `make bench` runs
    .venv/bin/python scripts/benchmark_slices.py --methods ct,bm3d --out reports/bench_slices
    .venv/bin/python scripts/benchmark_slices.py --methods ct,ct-int8.onnx,bm3d   # an exported file: onnx only
"""

from __future__ import annotations

import argparse
import os
import sys

_THREADS_FLAG = "--threads"


def _threads(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == _THREADS_FLAG and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith(_THREADS_FLAG + "="):
            return int(arg.split("=", 1)[1])
    return 2


# BLAS/OpenMP read their thread counts at import: set them before numpy and torch load.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_threads(sys.argv[1:]))

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from meddenoise._utils import atomic_path, shared_data_dir  # noqa: E402
from meddenoise.data.intensity import fit_intensity, to_unit  # noqa: E402
from meddenoise.methods import (  # noqa: E402
    DenoiserChoice,
    build_denoiser,
    method_kind,
    parse_backend,
    shipped_names,
    with_ensemble,
)
from meddenoise.methods.onnx_models import ONNX_SUFFIX  # noqa: E402
from meddenoise.provenance import environment, native_bf16  # noqa: E402

SIZE = 512
NOISE_HU = 20.0


def ct_slice() -> tuple[np.ndarray, str]:
    """A 512x512 CT slice in HU and where it came from."""
    root = shared_data_dir()
    folder = root / "chest-ct-dicom" if root else None
    if folder is not None and folder.is_dir():
        from meddenoise.io import read_image

        for path in sorted(folder.glob("*.dcm")):
            pixels = read_image(path).pixels
            if pixels.shape == (SIZE, SIZE):
                return pixels.astype(np.float32), f"{path.name} (TCGA-LUAD)"
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    body = ((yy - 0.5) ** 2 / 0.16 + (xx - 0.5) ** 2 / 0.2) < 1
    lungs = ((yy - 0.45) ** 2 / 0.05 + (np.abs(xx - 0.5) - 0.18) ** 2 / 0.01) < 1
    hu = np.where(body, 40.0, -1000.0) + np.where(lungs & body, -860.0, 0.0)
    return hu.astype(np.float32), "synthetic HU phantom"


def time_calls(fns: list[Any], repeats: int) -> list[float]:
    """Best wall time (ms) of each function over ``repeats`` rounds (each round calls each once), after one
    warm-up call each: interleaved, so that the machine's load changes affect every function alike."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return [b * 1e3 for b in best]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods", default=None, help="comma-separated (default: every shipped model, bm3d, nlmeans)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--backends",
        default=None,
        help="back ends of the models (torch, bf16, onnx; default torch,onnx and, on a CPU with native bf16, "
        "bf16: the fast tier)",
    )
    parser.add_argument(
        "--ensemble", default="1", help="self-ensemble sizes of the models, e.g. 1,8 (each timed; default 1)"
    )
    parser.add_argument(_THREADS_FLAG, type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write bench_slices.json and .md here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    clean, source = ct_slice()
    noisy = clean + NOISE_HU * np.random.default_rng(args.seed).standard_normal(clean.shape).astype(
        np.float32
    )
    names = args.methods.split(",") if args.methods else [*shipped_names(), "bm3d", "nlmeans"]
    if args.backends is None:
        fast = native_bf16("cpu")
        if not fast:
            print("bf16: not timed (this CPU has no native bf16: emulated, slower)", file=sys.stderr)
        args.backends = "torch,bf16,onnx" if fast else "torch,onnx"
    backends = [parse_backend(b) for b in args.backends.split(",") if b.strip()]
    sizes = [int(size) for size in args.ensemble.split(",") if size.strip()]
    rows: list[dict[str, Any]] = []
    for name in (n.strip() for n in names):
        built: dict[str, DenoiserChoice] = {}
        model = method_kind(name) != "classical"
        # an exported file (e.g. `export --int8`) runs in onnxruntime only
        onnx_file = Path(name).suffix.lower() == ONNX_SUFFIX
        for backend in [parse_backend("onnx")] if onnx_file else backends if model else [None]:
            try:
                choice = build_denoiser(name, backend=backend)  # loaded (exported) once per back end
            except ImportError as exc:
                print(f"{name} ({backend}): skipped ({exc})", file=sys.stderr)
                continue
            for size in sizes if model else [1]:
                key = ("–" if backend is None else backend) + ("" if size == 1 else f" x{size}")
                built[key] = with_ensemble(choice, size)
        if not built:
            continue
        first = next(iter(built.values()))
        norm = fit_intensity(noisy, first.intensity, modality="CT", units="HU")
        unit = to_unit(norm, noisy)
        told = first.kind == "classical" and first.denoiser.uses_sigma
        sigma = NOISE_HU / (norm.high - norm.low) if told else None
        calls = [lambda d=c.denoiser, x=unit, s=sigma: d(x, sigma=s) for c in built.values()]
        for runtime, ms in zip(built, time_calls(calls, args.repeats), strict=True):
            mode = "told the true std" if told else "blind"
            rows.append({"method": name, "backend": runtime, "mode": mode, "ms": round(ms, 1)})
            print(f"{name} ({runtime}): {ms:.1f} ms", file=sys.stderr, flush=True)
    bm3d = next((r["ms"] for r in rows if r["method"] == "bm3d"), None)
    for row in rows:
        row["x_faster_than_bm3d"] = round(bm3d / row["ms"], 1) if bm3d else None

    env = environment()
    flags = env["cpu_flags"]
    flag_text = ", ".join(flags) if isinstance(flags, list) and flags else "none of avx2/avx512"
    lines = [
        f"ms per {SIZE}x{SIZE} slice ({source}, {NOISE_HU:g} HU Gaussian noise); best of {args.repeats} after "
        f"one warm-up; {args.threads} threads; CPU {env['cpu']} ({env['cpu_count']} logical), flags "
        f"{flag_text}; torch {torch.__version__}",
        "",
        "| method | back end | mode | ms / slice | x faster than BM3D |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        speed = "–" if row["x_faster_than_bm3d"] is None else f"{row['x_faster_than_bm3d']:g}"
        lines.append(f"| {row['method']} | {row['backend']} | {row['mode']} | {row['ms']:.1f} | {speed} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out / "bench_slices.json") as tmp:
            payload = {"rows": rows, "slice": source, "threads": args.threads, "environment": env}
            tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        with atomic_path(args.out / "bench_slices.md") as tmp:
            tmp.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
