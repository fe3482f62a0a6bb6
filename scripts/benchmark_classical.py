#!/usr/bin/env python
"""Time every classical baseline per image at 64², 256² and 512² (Gaussian noise, sigma 25/255).

Not a test: it prints the machine's description and a Markdown table, and writes JSON + Markdown
when ``--out`` is given. The image is scikit-image's 512x512 ``camera`` shrunk by area averaging.
Each time is the median of ``--repeats`` runs after one warm-up run; the filters get the true
sigma (no blind estimate). Timings on a shared machine are noisy: quote them with the load average
printed beside them.

    python scripts/benchmark_classical.py --out benchmarks/classical
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from skimage import data

from meddenoise._utils import atomic_path
from meddenoise.classical import CLASSICAL_METHODS, bm3d_available, get_classical
from meddenoise.metrics import psnr
from meddenoise.pipeline.executors import available_cores
from meddenoise.provenance import cpu_info, environment

SIGMA = 25 / 255


def machine_description() -> dict[str, Any]:
    """CPU model, core counts, memory, load average and software versions."""
    cpu = cpu_info()
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu.model,
        "cpu_flags": list(cpu.flags),
        "logical_cpus": cpu.count,
        "usable_cpus": available_cores(),
        "memory_gib": memory_gib,
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "versions": environment(),
    }


def benchmark_image(size: int) -> np.ndarray:
    camera = data.camera().astype(np.float64) / 255.0
    factor = camera.shape[0] // size
    return camera.reshape(size, factor, size, factor).mean(axis=(1, 3)).astype(np.float32)


def time_method(name: str, noisy: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    denoiser = get_classical(name)
    out = denoiser(noisy, sigma=SIGMA)  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = denoiser(noisy, sigma=SIGMA)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,512", help="comma-separated image sizes")
    parser.add_argument("--methods", default=",".join(CLASSICAL_METHODS), help="comma-separated methods")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method and size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--out", type=Path, default=None, help="folder for benchmark.json and benchmark.md")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    if "bm3d" in methods and not bm3d_available():
        print("bm3d is not installed: skipping it (install meddenoise[bm3d])")
        methods.remove("bm3d")
    machine = machine_description()
    print(f"machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} logical CPUs, "
          f"{machine['memory_gib']} GiB, load average {machine['load_average_1_5_15']}")  # fmt: skip
    print("versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))

    rng = np.random.default_rng(args.seed)
    results = []
    for size in sizes:
        clean = benchmark_image(size)
        noisy = np.clip(clean + SIGMA * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
        for name in methods:
            seconds, out = time_method(name, noisy, args.repeats)
            results.append(
                {
                    "method": name,
                    "size": size,
                    "seconds": seconds,
                    "psnr_db": psnr(out, clean, data_range=1.0),
                }
            )
            print(f"  {name:>9} {size:>4}²: {seconds * 1e3:9.2f} ms  (PSNR {results[-1]['psnr_db']:.2f} dB)")

    header = "| method | " + " | ".join(f"{s}² ms" for s in sizes) + " |"
    lines = [header, "|---" * (len(sizes) + 1) + "|"]
    for name in methods:
        cells = [
            f"{next(r['seconds'] for r in results if r['method'] == name and r['size'] == s) * 1e3:.2f}"
            for s in sizes
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines) + "\n"
    print()
    print(markdown)
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(f"load average at the end: {machine['load_average_at_end']}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": machine,
            "sigma": SIGMA,
            "repeats": args.repeats,
            "seed": args.seed,
            "results": results,
        }
        with atomic_path(args.out / "benchmark.json") as tmp:
            tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        with atomic_path(args.out / "benchmark.md") as tmp:
            tmp.write_text(markdown, encoding="utf-8")
        print(f"wrote {args.out / 'benchmark.json'} and {args.out / 'benchmark.md'}")


if __name__ == "__main__":
    main()
