"""Speed of the noise-level-conditioned ``ffdunet`` at several sizes, and a short check that it learns.

Speed: ms per 512x512 slice through :class:`~meddenoise.models.ModelDenoiser` (channels_last, told the noise
level), fp32 and bf16 autocast, wall-clock with ``torch.set_num_threads(threads)`` (best of ``--repeats``),
and the CPU time of the same call on one thread (``time.process_time``; less sensitive to other processes
on a shared machine), beside BM3D told the true sigma on the same slice (one run). Parameters and MFLOP per
pixel (2 per multiply-add, :func:`~meddenoise.models.count_flops`).

Learning check (``--train-seconds``, 0 to skip): trains the ``--train-preset`` (``fast``) from scratch on random 64x64
patches of Train400 (``--data``, flips) at sigma 25/255, Adam 1e-3, batch 16, fp32, and prints the PSNR of
held-out noisy patches and of the network's output every few steps.

Usage::

    .venv/bin/python scripts/benchmark_conditioned.py --threads 2 --repeats 3 --train-seconds 100
"""

from __future__ import annotations

import argparse
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from meddenoise.models import ModelDenoiser, build_model, count_flops

SIZES: list[tuple[str, dict[str, Any]]] = [
    ("fast", {"preset": "fast"}),
    ("(16,32,64,128) x1", {"channels": (16, 32, 64, 128), "blocks": 1}),
    ("(16,32,64) x2", {"channels": (16, 32, 64), "blocks": 2}),
    ("(32,64,128) x1", {"channels": (32, 64, 128), "blocks": 1}),
    ("(32,64,128) x2", {"channels": (32, 64, 128), "blocks": 2}),
    ("quality", {"preset": "quality"}),
    ("(32,64,128,256) x3", {"channels": (32, 64, 128, 256), "blocks": 3}),
    ("(64,128,256) x2", {"channels": (64, 128, 256), "blocks": 2}),
]


def cpu_description() -> str:
    """CPU model and the vector extensions that matter for bf16."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if "Model name" in line), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if "Flags" in line), []))
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}; {', '.join(wanted) or 'no avx2'}; torch {torch.__version__}"


def time_call(call: Any, repeats: int, clock: Any) -> float:
    call()  # warm-up: oneDNN builds its kernels on the first call of a shape
    best = math.inf
    for _ in range(repeats):
        start = clock()
        call()
        best = min(best, clock() - start)
    return best * 1000.0


def speed_table(
    threads: int, repeats: int, slice_: np.ndarray, sigma: float, only: list[str] | None = None
) -> list[str]:
    rows = [
        "| size | channels x blocks | params | MFLOP/pixel | fp32 ms | bf16 ms | fp32 ms CPU 1 thread | bf16 ms CPU 1 thread |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, params in SIZES:
        if only and name not in only:
            continue
        torch.manual_seed(0)
        model = build_model("ffdunet", **params)
        mflop = count_flops(model, (1, 1, 512, 512)) / 512**2 / 1e6
        cells = []
        for bf16 in (False, True):
            denoiser = ModelDenoiser(model, name="ffdunet", bf16=bf16)
            torch.set_num_threads(threads)
            wall = time_call(lambda d=denoiser: d(slice_, sigma=sigma), repeats, time.perf_counter)
            torch.set_num_threads(1)
            cpu = time_call(lambda d=denoiser: d(slice_, sigma=sigma), repeats, time.process_time)
            cells.append((wall, cpu))
        torch.set_num_threads(threads)
        size = f"{model.channels} x{model.blocks}".replace(" ", "").replace("x", " x")
        n_params = sum(p.numel() for p in model.parameters())
        rows.append(
            f"| {name} | {size} | {n_params:,} | {mflop:.3f} | {cells[0][0]:.0f} | {cells[1][0]:.0f} "
            f"| {cells[0][1]:.0f} | {cells[1][1]:.0f} |"
        )
        print(rows[-1], flush=True)
    return rows


def bm3d_ms(slice_: np.ndarray, sigma: float) -> tuple[float, float] | None:
    try:
        from meddenoise.methods import build_denoiser

        bm3d = build_denoiser("bm3d").denoiser
    except (ImportError, ValueError) as error:
        print(f"BM3D not timed: {error}")
        return None
    start, cpu = time.perf_counter(), time.process_time()
    bm3d(slice_, sigma=sigma)
    return (time.perf_counter() - start) * 1000.0, (time.process_time() - cpu) * 1000.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


def learning_check(data: Path, seconds: float, sigma: float, preset: str) -> None:
    files = sorted(data.glob("*.png"))
    if not files:
        print(f"{data}: no PNG images; learning check skipped")
        return
    images = [torch.from_numpy(np.asarray(Image.open(f).convert("L"), np.float32) / 255.0) for f in files]
    train, held = images[:-20], images[-20:]
    g = torch.Generator().manual_seed(0)

    def patches(pool: list[torch.Tensor], n: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            img = pool[int(torch.randint(len(pool), (1,), generator=g))]
            r = int(torch.randint(img.shape[0] - 63, (1,), generator=g))
            c = int(torch.randint(img.shape[1] - 63, (1,), generator=g))
            p = img[r : r + 64, c : c + 64]
            out.append(p.flip(-1) if torch.rand(1, generator=g) < 0.5 else p)
        return torch.stack(out).unsqueeze(1)

    test_clean = patches(held, 64)
    test_noisy = test_clean + sigma * torch.randn(test_clean.shape, generator=g)
    torch.manual_seed(0)
    model = build_model("ffdunet", preset=preset)
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in torch's stubs
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    start, step = time.perf_counter(), 0
    print(f"held-out noisy PSNR {psnr(test_noisy, test_clean):.2f} dB (sigma {sigma * 255:.0f}/255)")
    while time.perf_counter() - start < seconds:
        clean = patches(train, 16).contiguous(memory_format=torch.channels_last)
        noisy = clean + sigma * torch.randn(clean.shape, generator=g)
        loss = ((model(noisy, sigma=sigma) - clean) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % 100 == 0:
            model.eval()
            with torch.no_grad():
                out = model(test_noisy, sigma=sigma)
            model.train()
            print(
                f"step {step} ({time.perf_counter() - start:.0f} s): denoised PSNR {psnr(out, test_clean):.2f} dB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-seconds", type=float, default=0.0)
    parser.add_argument("--train-preset", default="fast", help="ffdunet preset of the learning check")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train400"))
    parser.add_argument("--no-speed", action="store_true", help="skip the network speed table")
    parser.add_argument("--only", nargs="+", help="time only these sizes (first column, e.g. fast quality)")
    parser.add_argument("--no-bm3d", action="store_true", help="skip timing BM3D")
    args = parser.parse_args()
    sigma = 25 / 255
    print(cpu_description())
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:512, :512] / 512
    clean = 0.3 + 0.4 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.1) + 0.1 * np.sin(12 * xx)
    slice_ = (clean + rng.normal(0, sigma, clean.shape)).clip(0, 1).astype(np.float32)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"threads {args.threads}, best of {args.repeats}; load average {load}")
    if not args.no_speed:
        speed_table(args.threads, args.repeats, slice_, sigma, args.only)
    if not args.no_bm3d:
        torch.set_num_threads(args.threads)
        ms = bm3d_ms(slice_, sigma)
        if ms is not None:
            print(f"BM3D (sigma told) on the same slice: {ms[0]:.0f} ms wall, {ms[1]:.0f} ms CPU")
    if args.train_seconds > 0:
        torch.set_num_threads(args.threads)
        learning_check(args.data, args.train_seconds, sigma, args.train_preset)


if __name__ == "__main__":
    main()
