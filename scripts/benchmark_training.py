"""Training throughput of the project's trainer against a bare PyTorch loop of the same model, fp32 and bf16.

Both loops train the same network on the same images held in memory (default: 300 images of 64x64,
batch 10, the Gondara 2016 setting) with Adam (lr 1e-3) and MSE, drawing fresh Gaussian noise
``clip(x + 0.1 * N(0, 1), 0, 1)`` for every batch. The bare loop is what one would write by hand:
``torch.randperm`` order, the noise drawn with ``torch.randn``, ``model(noisy)`` under autocast, no
checks, no logging, no checkpoints. The trainer is :func:`meddenoise.training.train` as users call it
(``val_fraction=0``: no validation pass, since the bare loop has none), with its checkpoints and history
written every epoch.

Images/s are measured over epochs 2 to ``--epochs`` (the first one warms up), wall clock from the end
of epoch 1 to the end of the last (for the trainer: between its ``on_epoch_end`` calls, so checkpoint
writing counts). Each measurement is repeated ``--repeats`` times, trainer and bare loop interleaved,
and the best is reported: the machine is shared, and the best run is the one least disturbed.
The trainer's own per-epoch figure (training loop only, as in ``history.json``) is shown beside it, and
images per CPU second of this process (robust to other processes with ``--threads 1``).

Variants: fp32 NCHW, fp32 channels_last and bf16 autocast channels_last (bf16 only on CPUs with native
bf16, ``avx512_bf16``/``amx_bf16``, unless ``--bf16 on``: emulated bf16 is slower than fp32).

Usage::

    .venv/bin/python scripts/benchmark_training.py                        # gondara-dae, 2 threads
    .venv/bin/python scripts/benchmark_training.py --models gondara-dae dncnn --repeats 5 --epochs 4

Writes ``<out>/bench_training.json`` and ``<out>/bench_training.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from benchmark_models import machine_description, phantom  # this folder is on sys.path when run as a script

from meddenoise._utils import atomic_path
from meddenoise.models import MODEL_REGISTRY, build_model
from meddenoise.provenance import native_bf16
from meddenoise.training import TrainConfig, train

NOISE_P, NOISE_SIGMA = 0.1, 1.0
NOISE = f"gaussian(p={NOISE_P},sigma={NOISE_SIGMA:g})"
LR = 1e-3


@dataclass(frozen=True)
class Variant:
    """One arithmetic / memory-layout setting."""

    name: str
    precision: str  # "fp32" or "bf16"
    channels_last: bool


VARIANTS = (
    Variant("fp32 NCHW", "fp32", False),
    Variant("fp32 channels_last", "fp32", True),
    Variant("bf16 channels_last", "bf16", True),
)


def make_images(n: int, size: int) -> np.ndarray:
    """``n`` noisy phantoms, float32 in [0, 1] (speed does not depend on the content)."""
    return np.stack([phantom(size, seed=i) for i in range(n)])


def _rates(n: int, ends: list[tuple[float, float]]) -> tuple[float, float]:
    """Images per wall-clock second and per CPU second of this process between the first and last epoch end."""
    (wall0, cpu0), (wall1, cpu1) = ends[0], ends[-1]
    images = (len(ends) - 1) * n
    return images / (wall1 - wall0), images / (cpu1 - cpu0)


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def bare_loop(
    name: str, images: np.ndarray, *, variant: Variant, epochs: int, batch_size: int
) -> tuple[float, float]:
    """Images/s (wall clock, CPU time) of a hand-written loop over epochs 2..``epochs``."""
    layout = torch.channels_last if variant.channels_last else torch.contiguous_format
    bf16 = variant.precision == "bf16"
    torch.manual_seed(0)
    model = build_model(name).to(memory_format=layout).train()  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    data = torch.from_numpy(images)[:, None]
    gen = torch.Generator().manual_seed(0)
    n = len(images)
    ends = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            clean = data[order[start : start + batch_size]].contiguous(memory_format=layout)
            noise = torch.randn(clean.shape, generator=gen).contiguous(memory_format=layout)
            noisy = (clean + NOISE_P * NOISE_SIGMA * noise).clamp_(0, 1)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                pred = model(noisy)
            loss = torch.nn.functional.mse_loss(pred.float(), clean)
            loss.backward()
            optimizer.step()
        ends.append(_now())
    return _rates(n, ends)


def trainer_loop(
    name: str, images: np.ndarray, *, variant: Variant, epochs: int, batch_size: int, threads: int
) -> tuple[float, float, float]:
    """Images/s of :func:`meddenoise.training.train` over epochs 2..``epochs``: wall clock, CPU time, and
    its own loop-only figure."""
    config = TrainConfig(
        model=name,
        noise=NOISE,
        epochs=epochs,
        batch_size=batch_size,
        val_fraction=0.0,
        optim={"optimizer": "adam", "lr": LR},
        precision=variant.precision,
        channels_last=variant.channels_last,
        num_threads=threads,
        seed=0,
    )
    ends: list[tuple[float, float]] = []

    def record(row: dict[str, Any]) -> bool:
        ends.append(_now())
        return False

    with tempfile.TemporaryDirectory() as tmp:
        result = train(
            config,
            images,
            out_dir=Path(tmp) / "run",
            progress=False,
            on_epoch_end=record,
        )
    loop = [row["images_per_second"] for row in result.history[1:]]
    return (*_rates(len(images), ends), max(loop))


def benchmark(
    name: str,
    images: np.ndarray,
    *,
    variants: list[Variant],
    epochs: int,
    batch_size: int,
    repeats: int,
    threads: int,
) -> list[dict[str, Any]]:
    """Best-of-``repeats`` images/s of the bare loop and the trainer for each variant of one model."""
    keys = ("bare", "trainer", "bare_cpu", "trainer_cpu", "loop")
    runs: dict[str, dict[str, list[float]]] = {v.name: {k: [] for k in keys} for v in variants}
    for _ in range(repeats):
        for variant in variants:  # interleaved, so a burst of load hits both loops alike
            run = runs[variant.name]
            wall, cpu = bare_loop(name, images, variant=variant, epochs=epochs, batch_size=batch_size)
            run["bare"].append(wall)
            run["bare_cpu"].append(cpu)
            wall, cpu, loop = trainer_loop(
                name, images, variant=variant, epochs=epochs, batch_size=batch_size, threads=threads
            )
            run["trainer"].append(wall)
            run["trainer_cpu"].append(cpu)
            run["loop"].append(loop)
    rows = []
    for variant in variants:
        best = {k: max(v) for k, v in runs[variant.name].items()}
        rows.append(
            {
                "model": name,
                "variant": variant.name,
                "precision": variant.precision,
                "channels_last": variant.channels_last,
                "bare_images_per_s": best["bare"],
                "trainer_images_per_s": best["trainer"],
                "trainer_loop_images_per_s": best["loop"],
                "trainer_vs_bare": best["trainer"] / best["bare"],
                "bare_images_per_cpu_s": best["bare_cpu"],
                "trainer_images_per_cpu_s": best["trainer_cpu"],
                "trainer_vs_bare_cpu": best["trainer_cpu"] / best["bare_cpu"],
                "all_runs": runs[variant.name],
            }
        )
    return rows


def to_markdown(setup: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, with the machine and what "auto" chooses on it."""
    machine = setup["machine"]
    lines = [
        "# Training throughput: the trainer against a bare PyTorch loop",
        "",
        f"Command: `{setup['command']}`",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, flags {', '.join(machine['cpu_flags']) or 'none'}; "
        f"torch {machine['torch']} ({machine['torch_cpu_capability']}), {machine['threads']} threads; "
        f"load average at start {machine['load_average_at_start']}. "
        f'precision "auto" chooses **{setup["auto_precision"]}** here.',
        "",
        f"{setup['images']} images of {setup['size']}x{setup['size']}, batch {setup['batch_size']}, Adam + MSE, "
        f"fresh noise {NOISE} per batch; images/s over epochs 2-{setup['epochs']}, best of {setup['repeats']} "
        "(trainer and bare loop interleaved). Trainer: wall clock between epoch ends (checkpoints included); "
        "loop only: its history.json figure. Per CPU second: images per second of CPU time this process used "
        "(less sensitive to other processes on a shared machine; with several threads it also counts their "
        "waiting).",
        "",
        "| model | variant | bare loop img/s | trainer img/s | trainer / bare | trainer loop only img/s "
        "| bare img/CPU-s | trainer img/CPU-s | trainer / bare (CPU) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['variant']} | {row['bare_images_per_s']:.0f} | {row['trainer_images_per_s']:.0f} "
            f"| {row['trainer_vs_bare']:.2f} | {row['trainer_loop_images_per_s']:.0f} "
            f"| {row['bare_images_per_cpu_s']:.0f} | {row['trainer_images_per_cpu_s']:.0f} "
            f"| {row['trainer_vs_bare_cpu']:.2f} |"
        )
    for note in setup["notes"]:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench_training"), help="output folder")
    parser.add_argument("--models", nargs="+", default=["gondara-dae"], help="models (default gondara-dae)")
    parser.add_argument("--images", type=int, default=300, help="training images (default 300)")
    parser.add_argument("--size", type=int, default=64, help="image side (default 64)")
    parser.add_argument("--batch-size", type=int, default=10, help="batch size (default 10)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is not timed")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each loop; the best is reported")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="time bf16: auto = only on CPUs with native bf16 (default)",
    )
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not timed)")
    unknown = [n for n in args.models if n not in MODEL_REGISTRY]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(sorted(MODEL_REGISTRY))}")

    torch.set_num_threads(args.threads)
    machine = machine_description(args.threads)  # before the runs: the load average at start
    native = native_bf16()
    time_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and native)
    variants = [v for v in VARIANTS if v.precision == "fp32" or time_bf16]
    if time_bf16:
        notes = []
    elif args.bf16 == "off":
        notes = ["bf16 not timed (--bf16 off)."]
    else:
        notes = ["bf16 not timed: this CPU has no native bf16 (emulated bf16 is slower than fp32)."]
    images = make_images(args.images, args.size)
    rows = []
    for name in args.models:
        rows += benchmark(
            name,
            images,
            variants=variants,
            epochs=args.epochs,
            batch_size=args.batch_size,
            repeats=args.repeats,
            threads=args.threads,
        )
    setup = {
        "command": " ".join(
            ["python scripts/benchmark_training.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine,
        "auto_precision": "bf16" if native else "fp32",
        "images": args.images,
        "size": args.size,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "notes": notes,
    }
    markdown = to_markdown(setup, rows)
    with atomic_path(args.out / "bench_training.json") as tmp:
        tmp.write_text(json.dumps({**setup, "rows": rows}, indent=1) + "\n")
    with atomic_path(args.out / "bench_training.md") as tmp:
        tmp.write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
