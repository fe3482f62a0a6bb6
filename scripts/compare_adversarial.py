"""MSE vs adversarial + perceptual training of the same ffdunet on CT: the measured trade-off.

Both runs train the noise-level-conditioned U-Net ``ffdunet`` (the shipped ct model's size) on 48x48
patches of the TCGA-LUAD chest CT slices in ``../shared/data/chest-ct-dicom``, split by patient (the data
of the shipped ``ct`` model, ``scripts/train_pretrained.py``), with the same seed, batches, noise levels
and budget; only the objective differs: ``conditioned`` (MSE) or ``adversarial`` wrapping the same
``conditioned`` sampling (MSE + LPIPS + WGAN-GP critic). Both are scored on the shipped model's held-apart
images (a 192x192 centre crop of one slice per held-apart patient) at 20 and 50 HU white Gaussian noise
and under the ``lowdose-ct`` noise model (the models told the std of the noise added to each image):
PSNR, SSIM, LPIPS, and the noise texture of the residual ``denoised - clean`` in flat soft-tissue ROIs:
its std and the peak and mean frequency of its radial noise power spectrum (NPS, cycles/pixel), beside the
same measures of the input noise. (The NPS is computed here, minimally: the metrics module has none yet.)

    OMP_NUM_THREADS=1 .venv/bin/python scripts/compare_adversarial.py train --objective mse \
        --epochs 8 --patches 32 --out runs/adv-cmp/mse
    OMP_NUM_THREADS=1 .venv/bin/python scripts/compare_adversarial.py train --objective adversarial \
        --epochs 8 --patches 32 --out runs/adv-cmp/adversarial
    OMP_NUM_THREADS=1 .venv/bin/python scripts/compare_adversarial.py train --objective adversarial \
        --epochs 8 --patches 32 --critic-steps 2 --critic-lr 1e-3 --out runs/adv-cmp/adversarial-c2
    OMP_NUM_THREADS=1 .venv/bin/python scripts/compare_adversarial.py score \
        runs/adv-cmp/mse runs/adv-cmp/adversarial runs/adv-cmp/adversarial-c2 --json runs/adv-cmp/scores.json

The adversarial model is an experiment, not a shipped model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from train_pretrained import CT_INTENSITY, SEED, ct_data  # this folder is on sys.path when the script runs

from meddenoise.data.intensity import fit_intensity, to_unit

HU_PER_UNIT = CT_INTENSITY.width
ROI = 32
ROIS_PER_SLICE = 6


def ct_split() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The shipped ct model's data (``scripts/train_pretrained.py``): its training slices on the [0, 1]
    scale and its held-apart evaluation slices (one per held-apart patient, centre crop, HU)."""
    data = ct_data()
    return data.train, [image.pixels for image in data.bench]


def unit(hu: np.ndarray) -> np.ndarray:
    return to_unit(fit_intensity(hu, CT_INTENSITY, modality="CT", units="HU"), hu).astype(np.float32)


def train_config(
    objective: str,
    *,
    epochs: int,
    patches: int,
    threads: int,
    perceptual_weight: float = 0.1,
    adversarial_weight: float = 1e-3,
    critic_steps: int = 1,
    critic_lr: float = 1e-4,
) -> Any:
    from meddenoise.training import TrainConfig

    conditioned = {
        "kind": "conditioned",
        "loss": "mse",
        "sigma_low": 0.002,
        "sigma_high": 0.06,
        "distribution": "log-uniform",
        "clean_fraction": 0.05,
    }
    adversarial = {
        "kind": "adversarial",
        "base": conditioned,
        "perceptual_weight": perceptual_weight,
        "adversarial_weight": adversarial_weight,
        "gan": "wgan-gp",
        "critic_steps": critic_steps,
        "critic_lr": critic_lr,
    }
    return TrainConfig(
        model="ffdunet",
        model_params={"channels": [32, 64, 128], "blocks": 1},
        noise=None,
        objective=conditioned if objective == "mse" else adversarial,
        optim={"optimizer": "adam", "lr": 1e-3, "schedule": "cosine"},
        data={"patch_size": 48, "patches_per_image": patches, "augment_flips": True, "augment_rot90": True},
        epochs=epochs,
        batch_size=16,
        val_fraction=0.0,
        seed=SEED,
        intensity=CT_INTENSITY,
        precision="fp32",
        channels_last=False,
        num_threads=threads,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from meddenoise.training import train

    slices, _ = ct_split()
    images = np.stack([s for s in slices if s.shape == slices[0].shape])  # the 512x512 TCGA-LUAD slices
    cfg = train_config(
        args.objective,
        epochs=args.epochs,
        patches=args.patches,
        threads=args.threads,
        perceptual_weight=args.perceptual_weight,
        adversarial_weight=args.adversarial_weight,
        critic_steps=args.critic_steps,
        critic_lr=args.critic_lr,
    )
    steps = args.epochs * len(images) * args.patches // cfg.batch_size
    print(f"{args.objective}: {len(images)} slices, {steps} steps of 16 48x48 patches", flush=True)
    result = train(cfg, images, out_dir=args.out, resume=args.resume, progress=False)
    print(f"done in {result.seconds:.0f} s; last row {json.dumps(result.history[-1])}", flush=True)
    return 0


# --- texture: radial noise power spectrum of the residual in flat ROIs --------------------------------


def flat_rois(clean_hu: np.ndarray, count: int) -> list[tuple[int, int]]:
    """Corners of the ``count`` flattest non-overlapping ROIxROI soft-tissue blocks (mean -100..150 HU)."""
    h, w = clean_hu.shape
    cands = []
    for y in range(0, h - ROI + 1, ROI):
        for x in range(0, w - ROI + 1, ROI):
            block = clean_hu[y : y + ROI, x : x + ROI]
            if -100.0 <= block.mean() <= 150.0:
                cands.append((float(block.std()), y, x))
    cands.sort()
    return [(y, x) for _, y, x in cands[:count]]


def radial_nps(rois: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged 2-D NPS (HU^2 px^2) of mean-removed ROIs, and its frequencies (cycles/pixel)."""
    spectra = []
    for roi in rois:
        r = roi - roi.mean()
        spectra.append(np.abs(np.fft.fftshift(np.fft.fft2(r))) ** 2 / r.size)
    nps2d = np.mean(spectra, axis=0)
    f = np.fft.fftshift(np.fft.fftfreq(ROI))
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    edges = np.arange(0.0, 0.5 + 1e-9, 1.0 / ROI)
    which = np.digitize(radius.ravel(), edges) - 1
    freqs, values = [], []
    for k in range(1, len(edges) - 1):  # bin 0 holds only the removed mean
        sel = which == k
        if sel.any():
            freqs.append((edges[k] + edges[k + 1]) / 2)
            values.append(float(nps2d.ravel()[sel].mean()))
    return np.array(freqs), np.array(values)


def texture(residuals: list[np.ndarray], corners: list[list[tuple[int, int]]]) -> dict[str, float]:
    rois = [res[y : y + ROI, x : x + ROI] for res, cs in zip(residuals, corners, strict=True) for y, x in cs]
    freqs, nps = radial_nps(rois)
    return {
        "noise_std_hu": float(np.mean([r.std() for r in rois])),
        "nps_peak_cpp": float(freqs[int(np.argmax(nps))]),
        "nps_mean_cpp": float((freqs * nps).sum() / nps.sum()),
    }


def cmd_score(args: argparse.Namespace) -> int:
    from meddenoise.metrics import psnr, ssim
    from meddenoise.metrics.lpips import load_lpips_model, lpips
    from meddenoise.noise import parse_noise
    from meddenoise.training import load_checkpoint

    torch.set_num_threads(args.threads)
    _, test = ct_split()
    clean_hu = [s.astype(np.float32) for s in test]
    corners = [flat_rois(c, ROIS_PER_SLICE) for c in clean_hu]
    lp = load_lpips_model()
    models = {Path(run).name: load_checkpoint(Path(run) / "last.json")[0] for run in args.runs}
    # white noise: N(0, sigma^2) added in HU, unclipped; lowdose-ct: correlated (ramp-filtered) noise.
    # The models are told the std of the noise actually added to each image (known in a simulation).
    conditions: dict[str, str | float] = {
        "white 20 HU": 20.0,
        "white 50 HU": 50.0,
        "lowdose-ct(dose=0.05)": "lowdose-ct(dose=0.05)",
    }
    rows: list[dict[str, Any]] = []
    for label, spec in conditions.items():
        if isinstance(spec, float):
            gens = [np.random.default_rng(SEED + k) for k in range(len(clean_hu))]
            noisy_hu = [
                c + np.float32(spec) * g.standard_normal(c.shape, np.float32)
                for c, g in zip(clean_hu, gens, strict=True)
            ]
        else:
            noise = parse_noise(spec)
            noisy_hu = [np.asarray(noise(c, rng=SEED + k), np.float32) for k, c in enumerate(clean_hu)]
        outputs: dict[str, list[np.ndarray]] = {"noisy": [unit(n) for n in noisy_hu]}
        for name, model in models.items():
            outs = []
            for x, n, c in zip(outputs["noisy"], noisy_hu, clean_hu, strict=True):
                t = torch.from_numpy(x)[None, None]
                sigma = torch.tensor([float(np.std(n - c)) / HU_PER_UNIT])
                with torch.no_grad():
                    outs.append(model(t, sigma=sigma)[0, 0].numpy().clip(0, 1))
            outputs[name] = outs
        for name, outs in outputs.items():
            targets = [unit(c) for c in clean_hu]
            residual_hu = [(o - t) * HU_PER_UNIT for o, t in zip(outs, targets, strict=True)]
            row = {
                "condition": label,
                "image": name,
                "psnr": float(
                    np.mean([psnr(o, t, data_range=1.0) for o, t in zip(outs, targets, strict=True)])
                ),
                "ssim": float(
                    np.mean([ssim(o, t, data_range=1.0) for o, t in zip(outs, targets, strict=True)])
                ),
                "lpips": float(np.mean([lpips(o, t, model=lp) for o, t in zip(outs, targets, strict=True)])),
                **texture(residual_hu, corners),
            }
            rows.append(row)
            print(
                f"{label:24s} {name:8s} PSNR {row['psnr']:6.2f}  SSIM {row['ssim']:.4f}  LPIPS {row['lpips']:.4f}  "
                f"residual std {row['noise_std_hu']:5.1f} HU  NPS peak {row['nps_peak_cpp']:.3f}  "
                f"mean {row['nps_mean_cpp']:.3f} c/px",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one of the two models")
    tr.add_argument("--objective", choices=("mse", "adversarial"), required=True)
    tr.add_argument("--out", type=Path, required=True)
    tr.add_argument("--epochs", type=int, default=20)
    tr.add_argument("--patches", type=int, default=48, help="48x48 patches per slice per epoch")
    tr.add_argument("--threads", type=int, default=1)
    tr.add_argument("--perceptual-weight", type=float, default=0.1, help="adversarial: LPIPS weight")
    tr.add_argument("--adversarial-weight", type=float, default=1e-3, help="adversarial: critic weight")
    tr.add_argument(
        "--critic-steps", type=int, default=1, help="adversarial: critic steps per generator step"
    )
    tr.add_argument("--critic-lr", type=float, default=1e-4, help="adversarial: the critic's learning rate")
    tr.add_argument("--resume", action="store_true")
    sc = sub.add_parser("score", help="score trained runs on the held-apart slices")
    sc.add_argument("runs", nargs="+")
    sc.add_argument("--threads", type=int, default=1)
    sc.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    return cmd_train(args) if args.command == "train" else cmd_score(args)


if __name__ == "__main__":
    sys.exit(main())
