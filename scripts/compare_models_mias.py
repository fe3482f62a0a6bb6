"""Train every image model from the command line on mini-MIAS 64x64 and score it on the held-out images.

Split as in Gondara 2016 Table II: the first 300 mammograms train (10 % of them validate), the last 22
test. Noise: Table II's ``gaussian(p=0.1,sigma=1)``. Each model gets a fixed, short training budget
(``BUDGETS``) so the whole comparison fits in minutes on a 2-core CPU; the numbers are what that budget
buys, not converged results. ``dense-ae`` is left out: it is defined for 28x28 MNIST only
(``meddenoise reproduce dense-vs-conv`` measures it).

Run from the repository root::

    python scripts/compare_models_mias.py --data-dir ../shared/data --out runs/compare-mias

It drives ``meddenoise train`` and ``meddenoise evaluate`` (the same commands a user types), then prints one
Markdown table of test SSIM / PSNR (data_range 1, mean ± std over the 22 test images) with median and
NL-means beside the models, and the training time of each model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

NOISE = "gaussian(p=0.1,sigma=1)"
N_TRAIN = 300

#: model → extra ``meddenoise train`` options (epochs, patches) chosen to keep each run to a few minutes.
BUDGETS: dict[str, list[str]] = {
    "gondara-dae": ["--epochs", "20"],
    "conv-ae": ["--epochs", "10"],
    "conv-ae-transpose": ["--epochs", "20"],
    "stacked-dae": ["--epochs", "10"],
    "rednet": ["--epochs", "5", "--patch-size", "32"],
    "dncnn": ["--epochs", "15", "--patch-size", "32"],
    "unet": ["--epochs", "5", "--patch-size", "32"],
}


def _link_split(mias: Path, work: Path) -> tuple[Path, Path]:
    files = sorted(mias.glob("mdb*.png"))
    if len(files) != 322:
        sys.exit(f"{mias}: expected the 322 mini-MIAS PNGs, found {len(files)}")
    train_dir, test_dir = work / "split" / "train", work / "split" / "test"
    for folder, chosen in ((train_dir, files[:N_TRAIN]), (test_dir, files[N_TRAIN:])):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for f in chosen:
            (folder / f.name).symlink_to(f.resolve())
    return train_dir, test_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/compare-mias"))
    parser.add_argument("--models", default=",".join(BUDGETS), help="comma-separated subset of the models")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    exe = str(Path(sys.executable).with_name("meddenoise"))
    train_dir, test_dir = _link_split(args.data_dir / "mini-mias", args.out)
    train_seconds: dict[str, float] = {}
    checkpoints: list[str] = []
    for model in args.models.split(","):
        run_dir = args.out / model
        cmd = [exe, "train", "--data", str(train_dir), "--size", "64", "--model", model, "--noise", NOISE]
        cmd += ["--batch-size", "10", "--seed", str(args.seed), "--out", str(run_dir), "-q", *BUDGETS[model]]
        print("$", " ".join(cmd), flush=True)
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        train_seconds[model] = time.perf_counter() - start
        checkpoints.append(str(run_dir / "best.safetensors"))

    eval_dir = args.out / "evaluation"
    cmd = [
        exe,
        "evaluate",
        "--data",
        str(test_dir),
        "--size",
        "64",
        "--noise",
        NOISE,
        "--seed",
        str(args.seed),
    ]
    cmd += [
        "--methods",
        ",".join(["median", "nlmeans", *checkpoints]),
        "--out",
        str(eval_dir),
        "--no-progress",
    ]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    (args.out / "train_seconds.json").write_text(json.dumps(train_seconds, indent=2))
    print("\ntraining time (s):", json.dumps({k: round(v, 1) for k, v in train_seconds.items()}))


if __name__ == "__main__":
    main()
