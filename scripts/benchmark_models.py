"""Speed of every registered denoising network on this CPU: parameters, FLOPs, training and inference rates.

For each model: parameter count; FLOPs per image (64x64 and 512x512; the dense autoencoder at 28x28);
training images/s at 64x64, batch 10 (Adam, MSE, fp32, channels_last); inference ms per 512x512 image
through :class:`~meddenoise.models.denoiser.ModelDenoiser` in fp32 (NCHW), fp32 channels_last and bf16
autocast (channels_last), with the achieved GFLOP/s; and the accuracy cost of bf16 (largest and mean
absolute difference from fp32 on a noisy test image). Every timing is repeated and reported as the median
and the best (minimum time), because a shared machine makes single runs noisy.

Usage::

    .venv/bin/python scripts/benchmark_models.py                      # all models, 2 threads
    .venv/bin/python scripts/benchmark_models.py --models gondara-dae dncnn --repeats 7
    .venv/bin/python scripts/benchmark_models.py --out reports/bench_models --threads 2

Writes ``<out>/bench_models.json`` and ``<out>/bench_models.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from meddenoise._utils import atomic_path
from meddenoise.models import MODEL_REGISTRY, build_model
from meddenoise.models.denoiser import ModelDenoiser
from meddenoise.models.flops import count_flops
from meddenoise.provenance import cpu_info, package_versions

TRAIN_SIZE, TRAIN_BATCH = 64, 10
INFER_SIZE = 512
DENSE_SIZE = 28  # the dense autoencoder only takes MNIST-sized images


def machine_description(threads: int) -> dict[str, Any]:
    """CPU model, cores, vector extensions that matter for torch, torch version and threads."""
    cpu = cpu_info()
    return {
        "cpu": cpu.model,
        "cores": cpu.count,
        "cpu_flags": list(cpu.flags),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "versions": package_versions(),
    }


def repeat_timings(run: Callable[[], Any], *, repeats: int) -> tuple[list[float], Any]:
    """Seconds per call of ``run``, ``repeats`` times after one untimed warm-up call; and its result."""
    result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times, result


def has_native_bf16(machine: dict[str, Any]) -> bool:
    """Whether the CPU computes bf16 in hardware (without it autocast to bf16 is slower, not faster)."""
    return bool({"avx512_bf16", "amx_bf16"} & set(machine["cpu_flags"]))


def summarise(times: list[float], *, scale: float = 1.0) -> dict[str, float]:
    """Median and best of ``times`` multiplied by ``scale``."""
    return {"median": statistics.median(times) * scale, "best": min(times) * scale}


def phantom(size: int, seed: int = 0) -> np.ndarray:
    """A smooth phantom (disc and gradient) with Gaussian noise, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = 0.2 + 0.3 * xx + 0.4 * (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.1)
    return np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)


def train_rate(name: str, size: int, *, steps: int, repeats: int, channels_last: bool) -> dict[str, float]:
    """Training images/s: Adam + MSE on batches of 10, fp32, NCHW or channels_last."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    # Module.to accepts memory_format at run time; torch's overloads do not declare it
    model = build_model(name).to(memory_format=layout).train()  # type: ignore[call-overload]
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(TRAIN_BATCH, 1, size, size, generator=gen)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    clean = clean.contiguous(memory_format=layout)
    noisy = noisy.contiguous(memory_format=layout)

    def run() -> None:
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(noisy), clean)
            loss.backward()
            optimiser.step()

    times, _ = repeat_timings(run, repeats=repeats)
    rates = [steps * TRAIN_BATCH / t for t in times]
    return {"median": statistics.median(rates), "best": max(rates)}


def inference(name: str, size: int, *, repeats: int, time_bf16: bool) -> dict[str, Any]:
    """ms per image in fp32 NCHW, fp32 channels_last and bf16; channels_last's and bf16's difference from fp32.

    Without ``time_bf16`` the bf16 output is still compared with fp32 (on a 128x128 crop, to save time).
    """
    image = phantom(size)[None]
    results: dict[str, Any] = {}
    outputs: dict[str, np.ndarray] = {}
    for variant, channels_last, bf16 in (
        ("fp32", False, False),
        ("fp32_channels_last", True, False),
        ("bf16_channels_last", True, True),
    ):
        torch.manual_seed(0)
        denoiser = ModelDenoiser(build_model(name), name=name, channels_last=channels_last, bf16=bf16)
        if bf16 and not time_bf16:
            crop = image[:, :128, :128]
            diff = np.abs(denoiser.denoise_batch(crop) - outputs["fp32"][:, :128, :128])
            results["bf16_channels_last"] = None
            break
        times, outputs[variant] = repeat_timings(partial(denoiser.denoise_batch, image), repeats=repeats)
        results[variant] = summarise(times, scale=1e3)
    else:
        diff = np.abs(outputs["bf16_channels_last"] - outputs["fp32"])
    results["bf16_max_abs_diff"] = float(diff.max())
    results["bf16_mean_abs_diff"] = float(diff.mean())
    results["channels_last_max_abs_diff"] = float(
        np.abs(outputs["fp32_channels_last"] - outputs["fp32"]).max()
    )
    return results


def benchmark_model(
    name: str, *, repeats: int, train_steps: int, infer_size: int, time_bf16: bool
) -> dict[str, Any]:
    """Every figure for one model."""
    torch.manual_seed(0)
    model = build_model(name)
    dense = name == "dense-ae"
    train_size = DENSE_SIZE if dense else TRAIN_SIZE
    infer_size = DENSE_SIZE if dense else infer_size
    row: dict[str, Any] = {
        "model": name,
        "source": getattr(model, "source", ""),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_size": train_size,
        "infer_size": infer_size,
        "flops_per_image_train_size": count_flops(model, (1, 1, train_size, train_size)),
        "flops_per_image_infer_size": count_flops(model, (1, 1, infer_size, infer_size)),
    }
    row["train_images_per_s"] = train_rate(
        name, train_size, steps=train_steps, repeats=repeats, channels_last=True
    )
    row["train_images_per_s_nchw"] = train_rate(
        name, train_size, steps=train_steps, repeats=repeats, channels_last=False
    )
    row["inference_ms"] = inference(name, infer_size, repeats=repeats, time_bf16=time_bf16)
    for ms in row["inference_ms"].values():
        if isinstance(ms, dict):  # a timed variant
            ms["gflops_per_s"] = row["flops_per_image_infer_size"] / (ms["best"] * 1e-3) / 1e9
    return row


def to_markdown(machine: dict[str, Any], rows: list[dict[str, Any]], command: str, infer_size: int) -> str:
    """The results as a Markdown document: machine, then one table row per model."""
    lines = [
        "# Model speed benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, flags {', '.join(machine['cpu_flags']) or 'none'}; "
        f"torch {machine['torch']} ({machine['torch_cpu_capability']}), {machine['threads']} threads; "
        f"load average at start {machine['load_average_at_start']}.",
        "",
        "Times: median (best) over the repeats. Training: Adam + MSE, fp32, NCHW and channels_last (CL), "
        "batch 10 at 64x64. "
        f"Inference: ModelDenoiser on one {infer_size}x{infer_size} image (dense-ae: 28x28). "
        "GFLOP/s from the best time. bf16 is timed only on CPUs with native bf16 (avx512_bf16 / amx_bf16), "
        "unless --bf16 on; its difference from fp32 is always measured.",
        "",
        f"| model | params | MFLOP/img 64² | GFLOP/img {infer_size}² | train img/s NCHW | train img/s CL | fp32 ms | fp32 CL ms | bf16 CL ms "
        "| GFLOP/s fp32 CL | bf16 max/mean abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | skipped: {row['error']} ||||||||||")
            continue
        inf = row["inference_ms"]
        size_note = f" ({row['infer_size']}²)" if row["model"] == "dense-ae" else ""

        def ms(variant: str, inf: dict[str, Any] = inf) -> str:
            if inf[variant] is None:
                return "not timed"
            return f"{inf[variant]['median']:.1f} ({inf[variant]['best']:.1f})"

        lines.append(
            f"| {row['model']}{size_note} | {row['parameters']:,} | {row['flops_per_image_train_size'] / 1e6:.1f} "
            f"| {row['flops_per_image_infer_size'] / 1e9:.3g} "
            f"| {row['train_images_per_s_nchw']['median']:.0f} ({row['train_images_per_s_nchw']['best']:.0f}) "
            f"| {row['train_images_per_s']['median']:.0f} ({row['train_images_per_s']['best']:.0f}) "
            f"| {ms('fp32')} | {ms('fp32_channels_last')} | {ms('bf16_channels_last')} "
            f"| {inf['fp32_channels_last']['gflops_per_s']:.0f} "
            f"| {inf['bf16_max_abs_diff']:.1e} / {inf['bf16_mean_abs_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench_models"), help="output folder")
    parser.add_argument("--models", nargs="*", default=None, help="models to run (default: all registered)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each measurement")
    parser.add_argument("--infer-size", type=int, default=INFER_SIZE, help="inference image side (512)")
    parser.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="time bf16 autocast: auto = only on CPUs with native bf16 (default)",
    )
    parser.add_argument("--train-steps", type=int, default=10, help="training steps per timed repetition")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = args.models or sorted(MODEL_REGISTRY)
    unknown = [n for n in names if n not in MODEL_REGISTRY]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(sorted(MODEL_REGISTRY))}")
    machine = machine_description(args.threads)
    print(json.dumps(machine, indent=1))
    command = "python scripts/benchmark_models.py " + " ".join(argv if argv is not None else sys.argv[1:])
    time_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and has_native_bf16(machine))
    rows = []
    for name in tqdm(names, desc="models"):
        try:
            row = benchmark_model(
                name,
                repeats=args.repeats,
                train_steps=args.train_steps,
                infer_size=args.infer_size,
                time_bf16=time_bf16,
            )
        except (TypeError, ValueError, RuntimeError) as err:  # e.g. a model that needs parameters
            row = {"model": name, "error": f"{type(err).__name__}: {err}".splitlines()[0]}
        rows.append(row)
        tqdm.write(json.dumps(row))
    markdown = to_markdown(machine, rows, command.strip(), args.infer_size)
    with atomic_path(args.out / "bench_models.json") as tmp:
        tmp.write_text(json.dumps({"machine": machine, "command": command, "models": rows}, indent=1))
    with atomic_path(args.out / "bench_models.md") as tmp:
        tmp.write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
