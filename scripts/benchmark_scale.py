"""Scaling: batch files/s on 1 and 2 local processes and a Dask cluster, torchrun training, peak memory.

Three measurements, each in fresh child processes so that one does not warm or burden another:

* **Batch throughput**: the batch ``meddenoise denoise`` runs (:func:`meddenoise.pipeline.denoise_files`,
  in a child process) on a folder of ``--files`` (default 100) generated 512x512 CT slices (DICOM, one
  series) with a cheap single-threaded method (``--method``, default ``median``; noise level ``auto``, the
  default): ``jobs=1``, ``jobs=2``, and a Dask ``LocalCluster`` of 2 single-threaded worker processes
  (the ``--scheduler`` path; the cluster's own start-up is reported apart). Two figures: files/s of the
  whole batch (worker start-up included) and the steady files/s after the first result (what a long
  archive run sustains). The outputs of every run are compared with the serial run's, pixel for pixel.
* **Training throughput**: ``python -m meddenoise train`` (one process) and ``torchrun --nproc-per-node 2
  -m meddenoise train`` on ``--train-images`` generated 64x64 PNGs (gondara-dae, batch 10, fp32, 1 torch
  thread per process), images/s from ``history.json`` over the epochs after the first.
* **Peak memory**: a child process denoises one generated 16-bit TIFF of each ``--sizes`` side with
  each ``--memory-methods`` entry (``median``, or a shipped model such as ``general``), a DICOM
  series of ``--volume-slices`` 512x512 CT slices (a 512x512x600 volume by default) with the median,
  and the same volume as an int16 NIfTI (``.nii`` and ``.nii.gz``) with each ``--volume-methods`` entry
  (``median`` and the shipped ``ct`` model by default);
  the child's own peak RSS (``meddenoise.provenance.peak_rss_mib``: VmHWM; imports included) is its peak.

The machine is shared: the load average is recorded before each measurement; figures measured under
load are lower bounds of what the machine does alone.

Usage::

    .venv/bin/python scripts/benchmark_scale.py                     # what `make bench` runs
    .venv/bin/python scripts/benchmark_scale.py --skip-training --sizes 2048 8192 --memory-methods median

Writes ``<out>/bench_scale.json`` and ``<out>/bench_scale.md`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from meddenoise._utils import atomic_path

SRC = Path(__file__).resolve().parents[1] / "src"
CT_SIZE = 512

#: Run in a child: denoise one file (or folder) and print the peak RSS in MiB as JSON.
_PEAK_CHILD = """
import json, sys, time
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline import denoise_files
from meddenoise.provenance import peak_rss_mib
method, source, out = sys.argv[1:4]
resolver = DenoiserResolver(method=method) if method == "median" else DenoiserResolver(model=method)
t0 = time.perf_counter()
summary = denoise_files([source], out, resolver=resolver, show_progress=False)
print(json.dumps({"ok": summary.ok, "files": len(summary.done), "seconds": time.perf_counter() - t0,
                  "peak_mib": peak_rss_mib()}))
"""


#: Run in a child: one batch as ``meddenoise denoise`` runs it, with the time each result arrived.
_BATCH_CHILD = """
import json, sys, time
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline import Execution, denoise_files
method, source, out, jobs, scheduler = sys.argv[1:6]
execution = Execution(jobs=int(jobs), scheduler=scheduler or None)
arrivals = []
t0 = time.perf_counter()
summary = denoise_files([source], out, resolver=DenoiserResolver(method=method), show_progress=False,
                        execution=execution, on_result=lambda r: arrivals.append(time.perf_counter() - t0))
print(json.dumps({"ok": summary.ok, "seconds": time.perf_counter() - t0, "arrivals": arrivals}))
"""


def _env(threads: int = 1) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def write_ct_series(folder: Path, count: int, *, size: int = CT_SIZE, seed: int = 0) -> Path:
    """``count`` noisy CT slices ``size x size`` of one DICOM series (a disc phantom in HU, 20 HU noise)."""
    import pydicom
    from pydicom.data import get_testdata_file

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # type: ignore[arg-type]
    slope, intercept = float(template.RescaleSlope), float(template.RescaleIntercept)
    yy, xx = np.mgrid[:size, :size] / size
    body = np.where((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.16, 40.0, -1000.0)
    series = pydicom.uid.generate_uid()
    for i in range(count):
        hu = (
            body
            + 300.0 * ((yy - 0.5) ** 2 + (xx - 0.45 - 0.001 * i) ** 2 < 0.01)
            + rng.normal(0, 20, body.shape)
        )
        stored = np.clip(np.rint((hu - intercept) / slope), 0, 4095).astype(np.uint16)
        ds = template.copy()
        ds.Rows = ds.Columns = size
        ds.PixelRepresentation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 0, 16, 12, 11
        ds.PixelData = stored.tobytes()
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        ds.save_as(folder / f"ct{i:04d}.dcm", enforce_file_format=True)
    return folder


def write_ct_nifti(path: Path, count: int, *, size: int = CT_SIZE, seed: int = 0) -> Path:
    """A ``size x size x count`` int16 CT volume in HU as NIfTI (``.nii`` or ``.nii.gz``): the disc phantom
    of :func:`write_ct_series` with 20 HU noise, generated slice by slice (the parent holds the int16
    volume only)."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    body = np.where((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.16, 40.0, -1000.0)
    volume = np.empty((size, size, count), dtype=np.int16)
    for i in range(count):
        hu = (
            body
            + 300.0 * ((yy - 0.5) ** 2 + (xx - 0.45 - 0.001 * i) ** 2 < 0.01)
            + rng.normal(0, 20, body.shape)
        )
        volume[:, :, i] = np.rint(hu)
    nib.save(nib.Nifti1Image(volume, np.diag([0.7, 0.7, 2.5, 1.0])), path)
    return path


def write_big_tiff(path: Path, size: int, *, seed: int = 0) -> Path:
    """A 16-bit ``size x size`` TIFF: a smooth blob with noise (what a large radiograph holds)."""
    import tifffile

    rng = np.random.default_rng(seed)
    rows = []
    for start in range(0, size, 1024):  # in bands: the parent stays small too
        yy, xx = np.ogrid[start : min(start + 1024, size), :size]
        band = 20000.0 + 15000.0 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (0.3 * size) ** 2)
        rows.append(np.clip(band + rng.normal(0, 500, band.shape), 0, 65535).astype(np.uint16))
    tifffile.imwrite(path, np.concatenate(rows))
    return path


def _cli(args: list[str], *, threads: int = 1, launcher: list[str] | None = None) -> tuple[float, str]:
    command = [*(launcher or [sys.executable, "-m", "meddenoise"]), *args]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=_env(threads), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


def _same_outputs(a: Path, b: Path) -> bool:
    import pydicom

    names = sorted(p.name for p in a.glob("*.dcm"))
    if names != sorted(p.name for p in b.glob("*.dcm")):
        return False
    return all(
        np.array_equal(pydicom.dcmread(a / n).pixel_array, pydicom.dcmread(b / n).pixel_array) for n in names
    )


def _batch(method: str, folder: Path, out: Path, *, jobs: int = 1, scheduler: str = "") -> dict[str, Any]:
    load = _load()
    launcher = [sys.executable, "-c", _BATCH_CHILD, method, str(folder), str(out), str(jobs), scheduler]
    wall, stdout = _cli([], launcher=launcher)
    run = json.loads(stdout.strip().splitlines()[-1])
    arrivals = run["arrivals"]
    files = len(arrivals)
    return {
        "seconds": run["seconds"],  # the batch: plan, worker start-up, every file
        "wall_with_python_start_s": wall,
        "files_per_s": files / run["seconds"],
        # after the first result: start-up excluded, what a long archive run sustains
        "steady_files_per_s": (files - 1) / (arrivals[-1] - arrivals[0]) if files > 1 else float("nan"),
        "load": load,
    }


def bench_batches(work: Path, *, files: int, method: str) -> dict[str, Any]:
    """files/s of one batch: serial, 2 local processes, a 2-worker Dask LocalCluster."""
    from distributed import LocalCluster

    folder = write_ct_series(work / "ct", files)
    rows: dict[str, Any] = {}
    for jobs in (1, 2):
        rows[f"{jobs} local process(es)"] = _batch(method, folder, work / f"jobs{jobs}", jobs=jobs)
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        startup = time.perf_counter() - t0
        address = str(cluster.scheduler_address)
        rows["Dask LocalCluster, 2 workers"] = _batch(method, folder, work / "dask", scheduler=address)
    finally:
        cluster.close()
    rows["Dask LocalCluster, 2 workers"]["cluster_startup_s"] = startup
    serial = rows["1 local process(es)"]
    for row in rows.values():
        row["speedup"] = row["files_per_s"] / serial["files_per_s"]
        row["steady_speedup"] = row["steady_files_per_s"] / serial["steady_files_per_s"]
    identical = _same_outputs(work / "jobs1", work / "jobs2") and _same_outputs(work / "jobs1", work / "dask")
    return {"files": files, "method": method, "size": CT_SIZE, "runs": rows, "identical_outputs": identical}


def bench_training(work: Path, *, images: int, epochs: int) -> dict[str, Any]:
    """Training images/s of one process and of 2 torchrun processes (1 torch thread each)."""
    from PIL import Image

    folder = work / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64] / 64
    for i in range(images):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        blob = np.clip(1.2 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05) - 0.1, 0, 1)
        Image.fromarray(np.round(blob * 255).astype(np.uint8)).save(folder / f"img{i:04d}.png")
    args = [
        "train", "--data", str(folder), "--model", "gondara-dae", "--noise", "gaussian(p=0.1,sigma=1)",
        "--epochs", str(epochs), "--batch-size", "10", "--val-fraction", "0", "--threads", "1",
        "--precision", "fp32", "--quiet",
    ]  # fmt: skip
    rows: dict[str, Any] = {}
    for nproc in (1, 2):
        launcher = [sys.executable, "-m", "meddenoise"]
        if nproc > 1:
            launcher = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc-per-node",
                str(nproc),
                "-m",
                "meddenoise",
            ]
        out = work / f"train{nproc}"
        load = _load()
        seconds, _ = _cli([*args, "--out", str(out)], launcher=launcher)
        history = json.loads((out / "history.json").read_text())
        rates = [row["images_per_second"] for row in history[1:]] or [history[0]["images_per_second"]]
        rows[f"{nproc} process(es)"] = {
            "images_per_s": float(np.mean(rates)),
            "final_train_loss": history[-1]["train_loss"],
            "wall_s": seconds,
            "load": load,
        }
    rows["2 process(es)"]["speedup"] = (
        rows["2 process(es)"]["images_per_s"] / rows["1 process(es)"]["images_per_s"]
    )
    return {"images": images, "size": 64, "epochs": epochs, "model": "gondara-dae", "batch": 10, "runs": rows}


def _peak(method: str, source: Path, out: Path, threads: int) -> dict[str, Any]:
    load = _load()
    _, stdout = _cli(
        [], threads=threads, launcher=[sys.executable, "-c", _PEAK_CHILD, method, str(source), str(out)]
    )
    row: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    row["load"] = load
    return row


def bench_memory(
    work: Path,
    *,
    sizes: list[int],
    methods: list[str],
    volume_slices: int,
    volume_methods: list[str],
    threads: int,
) -> list[dict[str, Any]]:
    """Peak RSS (MiB) of a child denoising one 16-bit TIFF per size and method, and a CT volume: as a
    DICOM series (median) and as NIfTI (``.nii`` and ``.nii.gz``, each of ``volume_methods``)."""
    rows = []
    for size in sizes:
        image = write_big_tiff(work / f"img{size}.tif", size)
        for method in methods:
            row = _peak(method, image, work / f"out-{method}-{size}", threads)
            rows.append({"input": f"{size}x{size} 16-bit TIFF", "method": method, **row})
            print(f"  {rows[-1]}", flush=True)
        image.unlink()
    if volume_slices:
        folder = write_ct_series(work / "volume", volume_slices)
        row = _peak("median", folder, work / "out-volume", threads)
        rows.append(
            {"input": f"{CT_SIZE}x{CT_SIZE}x{volume_slices} CT (DICOM series)", "method": "median", **row}
        )
        print(f"  {rows[-1]}", flush=True)
        for suffix in (".nii", ".nii.gz"):
            volume = write_ct_nifti(work / f"ct{suffix}", volume_slices)
            for method in volume_methods:
                row = _peak(method, volume, work / f"out-{method}{suffix}", threads)
                name = f"{CT_SIZE}x{CT_SIZE}x{volume_slices} CT, int16 NIfTI ({suffix})"
                rows.append({"input": name, "method": method, **row})
                print(f"  {rows[-1]}", flush=True)
            volume.unlink()
    return rows


def _markdown(results: dict[str, Any]) -> str:
    lines = [f"# Scaling ({results['machine']})", ""]
    if "batches" in results:
        b = results["batches"]
        lines += [
            f"## Batch: {b['files']} CT slices {b['size']}x{b['size']}, --method {b['method']}",
            "",
            "| run | batch s | files/s | vs serial | steady files/s | vs serial | load avg |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in b["runs"].items():
            lines.append(
                f"| {name} | {r['seconds']:.1f} | {r['files_per_s']:.2f} | {r['speedup']:.2f}x "
                f"| {r['steady_files_per_s']:.2f} | {r['steady_speedup']:.2f}x | {r['load']} |"
            )
        lines += ["", f"Outputs identical to the serial run: {b['identical_outputs']}", ""]
    if "training" in results:
        t = results["training"]
        lines += [
            f"## Training: {t['model']}, {t['images']} images {t['size']}x{t['size']}, batch {t['batch']}",
            "",
            "| run | images/s | final loss | load avg |",
            "|---|---:|---:|---:|",
        ]
        for name, r in t["runs"].items():
            lines.append(f"| {name} | {r['images_per_s']:.0f} | {r['final_train_loss']:.5g} | {r['load']} |")
        lines.append("")
    if "memory" in results:
        lines += [
            "## Peak memory",
            "",
            "| input | method | peak MiB | seconds | load avg |",
            "|---|---|---:|---:|---:|",
        ]
        for r in results["memory"]:
            lines.append(
                f"| {r['input']} | {r['method']} | {r['peak_mib']:.0f} | {r['seconds']:.1f} | {r['load']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100, help="CT slices in the batch")
    parser.add_argument("--method", default="median", help="the batch's (cheap, single-threaded) method")
    parser.add_argument("--train-images", type=int, default=400)
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--memory-methods", nargs="*", default=["median", "general"])
    parser.add_argument("--volume-slices", type=int, default=600, help="0: no volume")
    parser.add_argument("--volume-methods", nargs="*", default=["median", "ct"], help="for the NIfTI volume")
    parser.add_argument("--memory-threads", type=int, default=2, help="torch threads of the memory runs")
    parser.add_argument("--skip-batches", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("reports/bench_scale"), help="output folder")
    args = parser.parse_args()
    import platform

    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        if not args.skip_batches:
            print("batches ...", flush=True)
            results["batches"] = bench_batches(work / "batches", files=args.files, method=args.method)
        if not args.skip_training:
            print("training ...", flush=True)
            (work / "training").mkdir()
            results["training"] = bench_training(
                work / "training", images=args.train_images, epochs=args.train_epochs
            )
        if not args.skip_memory:
            print("memory ...", flush=True)
            (work / "memory").mkdir()
            results["memory"] = bench_memory(
                work / "memory",
                sizes=args.sizes,
                methods=args.memory_methods,
                volume_slices=args.volume_slices,
                volume_methods=args.volume_methods,
                threads=args.memory_threads,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "bench_scale.json") as tmp_path:
        tmp_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = _markdown(results)
    with atomic_path(args.out / "bench_scale.md") as tmp_path:
        tmp_path.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
