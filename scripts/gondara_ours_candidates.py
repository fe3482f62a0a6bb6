"""Try a candidate "ours" training against the paper-faithful DAE of ``meddenoise reproduce gondara2016``.

Uses the reproduction's own data, split and test noise (seed 0) and scores SSIM (7x7, data_range=1) and
PSNR on the 58 combined test images for two settings, Gaussian p=0.1 sigma=1 and p=0.2 sigma=10.
Paper-faithful DAE (full run, 2026-11-30): 0.840 / 27.62 dB and 0.351 / 15.92 dB.

``ours`` trains the reproduction's own "ours" (:func:`...gondara2016.training.ours_config`) per setting,
with the epochs, loss, U-Net channels and patch size given here; ``blind`` one network on a mixture of
every setting (the reproduction's "ours" before 2026-11-30).

``--keys`` picks other settings, ``--blocks`` / ``--channels`` the U-Net, ``--precision`` the arithmetic,
``--ensemble`` the test-time self-ensemble (8: as the reproduction applies it); ``--threads 1`` lets two
candidates share a 2-core machine; ``--init-from`` starts ours from a checkpoint (e.g. a full run's
``runs/ours-g0.1s1/best.json``), ``--lr`` sets Adam's starting rate, ``--batch`` the batch size and
``--ssim-data-range`` the data_range of the SSIM loss, ``--val-fraction`` the share of the training images
held out for validation; ``--pretrain-epochs N`` first trains ours N epochs on ``chest-xray-64``'s train
and valid images (NIH ChestX-ray14 at 64x64, other radiographs than the paper's; its test images are not
used) with the same noise, then trains on the reproduction's images from there; ``--crops N`` adds N random
crops of each training image (a side of ``--crop-min``-1 of the full-size original's, area-averaged to
64x64) to ours' training images (give it ``--epochs`` divided by N + 1 for the same steps). Each line gives SSIM at
data_range 1 and 2 (the latter per dataset too: Tables II and III are matched at data_range=2) and PSNR.

    .venv/bin/python scripts/gondara_ours_candidates.py ours --epochs 40 --loss mse
    .venv/bin/python scripts/gondara_ours_candidates.py ours --epochs 80 --channels 16,32,64,128
    .venv/bin/python scripts/gondara_ours_candidates.py ours --keys g0.1s1 --epochs 200 --blocks 2 \
        --precision bf16 --ensemble 8 --threads 1
    .venv/bin/python scripts/gondara_ours_candidates.py blind --epochs 10 --model unet
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from meddenoise._utils import as_rng, shared_data_dir
from meddenoise.data import load_images
from meddenoise.evaluation import score_images
from meddenoise.experiments.protocol import TrainedModel, derived_seed, train_denoiser
from meddenoise.experiments.reproductions.gondara2016 import SETTINGS, GondaraConfig, load_gondara_data
from meddenoise.experiments.reproductions.gondara2016.data import FOLDERS, GROUPS
from meddenoise.experiments.reproductions.gondara2016.settings import SCORES
from meddenoise.experiments.reproductions.gondara2016.training import ours_config
from meddenoise.models.denoiser import BatchDenoiser
from meddenoise.models.ensemble import SelfEnsemble
from meddenoise.noise import parse_noise
from meddenoise.training import TrainConfig

KEYS = ("g0.1s1", "g0.2s10")


def _chest_xrays(data_dir: Path) -> np.ndarray:
    """chest-xray-64's train and valid images in [0, 1], read as the reproduction reads its own (its test
    images stay unseen)."""
    files = sorted(p for p in (data_dir / "chest-xray-64").glob("*.png") if not p.name.startswith("test_"))
    return load_images(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["ours", "blind"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--model", default="unet", help="blind: the network")
    parser.add_argument("--loss", default="ssim", help="ours: its loss")
    parser.add_argument("--channels", default="16,32,64,128", help="ours: the U-Net's channels")
    parser.add_argument("--patch", type=int, default=None, help="ours: patch size (default whole images)")
    parser.add_argument("--blocks", type=int, default=1, help="ours: the U-Net's residual blocks per stage")
    parser.add_argument(
        "--batch", type=int, default=None, help="ours: batch size (default: the reproduction's)"
    )
    parser.add_argument("--keys", default=",".join(KEYS), help="ours: the settings, comma-separated")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    parser.add_argument(
        "--ensemble", type=int, choices=[1, 2, 4, 8], default=1, help="x N self-ensemble at test"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="ours: the training seed")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="ours: start from this checkpoint (e.g. another setting's best.json)",
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="ours: Adam's starting learning rate (default 1e-3)"
    )
    parser.add_argument(
        "--ssim-data-range",
        type=float,
        default=1.0,
        help="ours: data_range of the SSIM loss (Tables II/III: 2)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="ours: share of the training images held out for validation (0: train on all of them)",
    )
    parser.add_argument(
        "--pretrain-epochs",
        type=int,
        default=0,
        help="ours: epochs on chest-xray-64's train and valid images first (0: none)",
    )
    parser.add_argument(
        "--crops", type=int, default=0, help="ours: random crops of each training image added (0: none)"
    )
    parser.add_argument("--crop-min", type=float, default=0.8, help="ours: smallest crop side / image side")
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir())
    args = parser.parse_args()
    keys = tuple(args.keys.split(","))
    unknown = [k for k in keys if k not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; choose from {list(SETTINGS)}")
    if args.crops < 0 or not 0.0 < args.crop_min <= 1.0:
        parser.error(f"--crops must be >= 0 and --crop-min in (0, 1], got {args.crops} and {args.crop_min}")
    torch.set_num_threads(args.threads)
    gondara = GondaraConfig()
    data = load_gondara_data(args.data_dir, gondara)
    train, test = data.combined_train, data.combined_test
    if args.crops:
        from meddenoise.data.transforms import resize

        rng = as_rng(derived_seed(args.seed, "crops"))
        extra = []
        for g in GROUPS:
            names = data.names[f"{g}_train"]
            for full in load_images([args.data_dir / FOLDERS[g] / name for name in names]):
                h, w = full.shape
                for _ in range(args.crops):
                    side = rng.uniform(args.crop_min, 1.0)
                    ch, cw = round(side * h), round(side * w)
                    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
                    extra.append(resize(full[y0 : y0 + ch, x0 : x0 + cw], gondara.size))
        train = np.concatenate([train, np.stack(extra)]).astype(np.float32)
        print(f"training images with crops: {len(train)}", flush=True)
    group = np.concatenate([[g] * len(data.test[g]) for g in GROUPS])
    noisy = {
        k: parse_noise(SETTINGS[k].spec)(test, rng=derived_seed(0, "test-noise", k)).astype(np.float32)
        for k in keys
    }
    common = TrainConfig(
        model=args.model,
        noise=None,
        loss="mse",
        optimizer="adam",
        lr_schedule="cosine",
        epochs=args.epochs,
        batch_size=16,
        augment_flips=True,
        val_fraction=0.1,
        seed=args.seed,
        num_threads=args.threads,
        precision=args.precision,
    )
    started = time.perf_counter()

    def report(key: str, model: TrainedModel) -> None:
        assert isinstance(model.denoiser, BatchDenoiser)  # train_denoiser wraps a network
        out = SelfEnsemble(model.denoiser, args.ensemble)(noisy[key])
        s = score_images(test, out, [sc for sc in SCORES if not sc.masked])
        by_group = ", ".join(f"{g} {s['ssim_dr2'][group == g].mean():.4f}" for g in GROUPS)
        print(
            f"{args.kind} {args.epochs} ep x{args.ensemble}, {key}: SSIM {s['ssim'].mean():.4f} "
            f"(data_range=2: {s['ssim_dr2'].mean():.4f}; {by_group}), PSNR {s['psnr'].mean():.2f} dB "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        if args.kind == "ours":
            ours = GondaraConfig(
                ours_epochs=args.epochs,
                ours_loss=args.loss,
                ours_params={"channels": [int(c) for c in args.channels.split(",")], "blocks": args.blocks},
                ours_patch_size=args.patch,
                **({} if args.batch is None else {"ours_batch_size": args.batch}),
                precision=args.precision,
                threads=args.threads,
            )
            for key in keys:
                # the defaults (no checkpoint, data_range 1, lr None = Adam's 1e-3) leave ours_config as is
                init_from = args.init_from
                if args.pretrain_epochs:
                    pretrain = ours_config(ours, key, seed=args.seed).derive(epochs=args.pretrain_epochs)
                    out = Path(tmp) / f"{key}-pretrain"
                    train_denoiser(
                        f"{key} pretrain", pretrain, _chest_xrays(args.data_dir), out_dir=out, progress=False
                    )
                    print(f"pretrained {key} ({time.perf_counter() - started:.0f} s)", flush=True)
                    init_from = out / "best.json"
                config = ours_config(ours, key, seed=args.seed).derive(
                    init_from=None if init_from is None else str(init_from),
                    objective={"ssim_data_range": args.ssim_data_range},
                    optim={"lr": args.lr},
                    val_fraction=args.val_fraction,
                )
                report(key, train_denoiser(key, config, train, out_dir=Path(tmp) / key, progress=False))
        else:
            noisy_train = np.concatenate(
                [parse_noise(SETTINGS[k].spec)(train, rng=derived_seed(0, "mix", k)) for k in SETTINGS]
            ).astype(np.float32)
            clean = np.concatenate([train] * len(SETTINGS))
            model = train_denoiser(
                "blind", common, noisy_train, train_targets=clean, out_dir=Path(tmp) / "b", progress=False
            )
            for key in keys:
                report(key, model)


if __name__ == "__main__":
    main()
