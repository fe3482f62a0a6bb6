"""Which formula did Gondara (2016) use for its noise?  Compare readings with the published noisy SSIMs.

The paper (Table I) gives only "proportion p" with a normal (mu, sigma) or Poisson (lambda) draw.
This script applies candidate readings to the paper's data at 64x64 and prints the mean SSIM of
noisy vs clean next to the published "Noisy" rows:

* Table II (p=0.1, sigma=1): 0.45 on mini-MIAS (test: the last 22 images), 0.62 on dental.
* Table III (p=0.1, sigma=1, combined set): 0.63.
* Table IV (combined test set): 0.10 at p=0.5 sigma=1, 0.03 at p=0.2 sigma=5, 0.01 at p=0.2
  sigma=10, 0.33 for Poisson p=0.2 lambda=5.

Data: ``<data>/mini-mias`` (322 images 1024x1024) and ``<data>/dental-ceph`` (150 images
1024x821, a stand-in for the paper's 400-image ISBI set), shrunk to 64x64 by area averaging
(PIL ``Image.BOX``) and scaled to [0, 1]. SSIM: scikit-image, 7x7 uniform window, with
``data_range=1`` and ``data_range=2`` (old scikit-image's default for float images).
"Combined" weights the two sets' means as in the paper's pool (322 mammograms, 400 dental).

With ``--dae`` it also trains the paper's CNN DAE (``gondara-dae``, 100 epochs, batch 10, the noise
drawn once as in the paper) on the pooled data for the main Poisson readings and prints its test SSIM
next to the published 0.85 (Table IV): a reading under which the paper's DAE cannot get near 0.85
is unlikely to be the paper's. Test set: 100 images drawn (seeded) from the pool of both sets; the
rest train.

Usage::

    .venv/bin/python scripts/gondara_noise_reading.py [--data ../shared/data] [--seed 0] [--markdown]
        [--dae [--dae-epochs 100] [--dae-readings signal,standardised,additive]]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity
from tqdm import tqdm

from meddenoise._utils import shared_data_dir
from meddenoise.noise import parse_noise

SIZE = 64
PAPER_POOL = {"mini-mias": 322, "dental-ceph": 400}

# Published noisy-input SSIMs: (setting, dataset) -> value.
PUBLISHED = {
    ("gauss p=0.1 s=1", "mini-mias test"): 0.45,
    ("gauss p=0.1 s=1", "dental-ceph"): 0.62,
    ("gauss p=0.1 s=1", "combined"): 0.63,
    ("gauss p=0.5 s=1", "combined"): 0.10,
    ("gauss p=0.2 s=5", "combined"): 0.03,
    ("gauss p=0.2 s=10", "combined"): 0.01,
    ("poisson p=0.2 lam=5", "combined"): 0.33,
}

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _poisson_readings(p: float, lam: float) -> dict[str, tuple[Corruption, bool]]:
    """Candidate formulas for Gondara's Poisson noise: name -> (function on [0,1] array, at full resolution?).

    The first four are the readings ``poisson(reading=...)`` offers; the rest were tried and rejected.
    """

    def model_reading(reading: str) -> Corruption:
        model = parse_noise(f"poisson(p={p},lam={lam},reading={reading})")
        return model.apply

    def mean_normalised(
        x: np.ndarray, g: np.random.Generator
    ) -> np.ndarray:  # Poisson(lam)/lam: mean 1, std 1/sqrt(lam)
        return np.clip(x + p * g.poisson(lam, x.shape) / lam, 0, 1)

    def max_normalised(
        x: np.ndarray, g: np.random.Generator
    ) -> np.ndarray:  # draw scaled to [0, 1] by its maximum over the whole dataset
        draw = g.poisson(lam, x.shape).astype(np.float64)
        return np.clip(x + p * draw / draw.max(), 0, 1)

    def rescaled(
        x: np.ndarray, g: np.random.Generator
    ) -> np.ndarray:  # additive, then the dataset divided by its maximum instead of clipped
        noisy = x + p * g.poisson(lam, x.shape)
        return noisy / noisy.max()

    def on_255_scale(
        x: np.ndarray, g: np.random.Generator
    ) -> np.ndarray:  # counts added on the 0-255 grey scale
        return np.clip(x + p * g.poisson(lam, x.shape) / 255.0, 0, 1)

    def pixel_fraction(
        x: np.ndarray, g: np.random.Generator
    ) -> np.ndarray:  # a proportion p of pixels gets a Poisson(lam) grey-level jump on 0-255
        hit = g.random(x.shape) < p
        return np.clip(x + hit * g.poisson(lam, x.shape) / 255.0, 0, 1)

    def photon_mix(x: np.ndarray, g: np.random.Generator) -> np.ndarray:  # (1-p) x + p Poisson(lam x)/lam
        return np.clip((1 - p) * x + p * g.poisson(lam * x) / lam, 0, 1)

    def uint8_rounded(
        x: np.ndarray, g: np.random.Generator
    ) -> np.ndarray:  # the default reading stored as 8-bit images
        return np.rint(model_reading("signal")(x, g) * 255) / 255

    readings: dict[str, tuple[Corruption, bool]] = {
        f"{r} (poisson reading={r})": (model_reading(r), False)
        for r in ("signal", "additive", "centred", "standardised")
    }
    readings.update(
        {
            "signal, rounded to uint8": (uint8_rounded, False),
            "mean-normalised clip(x+p*P(lam)/lam)": (mean_normalised, False),
            "max-normalised clip(x+p*P(lam)/max P)": (max_normalised, False),
            "additive, divided by max (no clip)": (rescaled, False),
            "255-scale clip(x+p*P(lam)/255)": (on_255_scale, False),
            "pixel-fraction: p of pixels +P(lam)/255": (pixel_fraction, False),
            "photon-mix (1-p)x+p*P(lam x)/lam": (photon_mix, False),
            "additive at full size, then resized": (model_reading("additive"), True),
            "centred at full size, then resized": (model_reading("centred"), True),
            "signal at full size, then resized": (model_reading("signal"), True),
        }
    )
    return readings


def _box_resize(image: Image.Image) -> np.ndarray:
    small = image.resize((SIZE, SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64) / 255.0


def load_set(folder: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Full-resolution 8-bit images (for noise-before-resize readings) and 64x64 box-resized [0, 1] ones."""
    files = sorted(folder.glob("*.png"))
    if not files:
        raise SystemExit(f"{folder}: no PNG images found")
    full, small = [], []
    for path in files:
        with Image.open(path) as img:
            grey = img.convert("L")
            full.append(np.asarray(grey))  # kept as uint8: 472 full-size float copies would need 4 GB
            small.append(_box_resize(grey))
    return full, np.stack(small)


def _resize_array(x: np.ndarray) -> np.ndarray:
    return _box_resize(Image.fromarray(x.astype(np.float32), mode="F")) * 255.0


def mean_ssim(clean: np.ndarray, noisy: np.ndarray, data_range: float) -> float:
    scores = [
        structural_similarity(c, n, win_size=7, gaussian_weights=False, data_range=data_range)
        for c, n in zip(clean, noisy, strict=True)
    ]
    return float(np.mean(scores))


def corrupt(
    func: Corruption, full_res: bool, full: list[np.ndarray], small: np.ndarray, seed: int
) -> np.ndarray:
    gen = np.random.default_rng(seed)
    if not full_res:
        # The paper corrupts the flattened dataset at once: one draw over the whole batch.
        return func(small, gen)
    return np.stack([_resize_array(func(img / 255.0, gen)) for img in full])


def dae_check(
    sets: dict[str, tuple[list[np.ndarray], np.ndarray]], readings: list[str], *, epochs: int, seed: int
) -> None:
    """Train gondara-dae per Poisson reading at p=0.2, lam=5; print noisy and denoised test SSIM."""
    import tempfile

    import torch

    from meddenoise.models.denoiser import ModelDenoiser
    from meddenoise.training import TrainConfig, train

    torch.set_num_threads(2)
    pool = np.concatenate([small for _, small in sets.values()]).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(pool))
    test, training = pool[order[:100]], pool[order[100:]]
    print(f"DAE check: {len(training)} training / {len(test)} test images, {epochs} epochs (paper: 0.85)")
    for reading in readings:
        spec = f"poisson(p=0.2,lam=5,reading={reading})"
        config = TrainConfig(
            model="gondara-dae", noise=spec, noise_mode="fixed", epochs=epochs, batch_size=10, seed=seed
        )
        with tempfile.TemporaryDirectory() as run_dir:
            result = train(config, training, out_dir=run_dir, progress=False)
        noisy = parse_noise(spec)(test, rng=seed + 1)
        denoised = ModelDenoiser(result.model, name="gondara-dae")(noisy)
        print(
            f"  {spec}: noisy {mean_ssim(test, noisy, 1.0):.3f} / {mean_ssim(test, noisy, 2.0):.3f}, "
            f"DAE {mean_ssim(test, denoised, 1.0):.3f} / {mean_ssim(test, denoised, 2.0):.3f} "
            f"(dr=1 / dr=2; {result.seconds:.0f} s)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir(), help="research data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--dae", action="store_true", help="also train the paper's DAE per Poisson reading")
    parser.add_argument("--dae-only", action="store_true", help="skip the noisy-SSIM table")
    parser.add_argument("--dae-epochs", type=int, default=100)
    parser.add_argument("--dae-readings", default="signal,standardised,additive")
    args = parser.parse_args(argv)
    if args.data is None or not (args.data / "mini-mias").is_dir():
        print("error: research data not found; pass --data", file=sys.stderr)
        return 2

    sets = {name: load_set(args.data / name) for name in PAPER_POOL}
    if args.dae or args.dae_only:
        dae_check(sets, args.dae_readings.split(","), epochs=args.dae_epochs, seed=args.seed)
        if args.dae_only:
            return 0

    settings: dict[str, dict[str, tuple[Corruption, bool]]] = {}
    for p, sigma in [(0.1, 1), (0.5, 1), (0.2, 5), (0.2, 10)]:
        model = parse_noise(f"gaussian(p={p},sigma={sigma})")
        settings[f"gauss p={p} s={sigma}"] = {str(model): (model.apply, False)}
    settings["poisson p=0.2 lam=5"] = _poisson_readings(0.2, 5.0)

    rows = []
    jobs = [(s, r, fn) for s, readings in settings.items() for r, fn in readings.items()]
    for setting, reading, (func, full_res) in tqdm(jobs, desc="readings", file=sys.stderr):
        scores: dict[tuple[str, float], float] = {}
        for name, (full, small) in sets.items():
            noisy = corrupt(func, full_res, full, small, args.seed)
            for dr in (1.0, 2.0):
                scores[name, dr] = mean_ssim(small, noisy, dr)
                if name == "mini-mias":  # Table II's test set: the last 22 mammograms
                    scores["mini-mias test", dr] = mean_ssim(small[-22:], noisy[-22:], dr)
        for dr in (1.0, 2.0):
            total = sum(PAPER_POOL.values())
            scores["combined", dr] = sum(PAPER_POOL[k] * scores[k, dr] for k in PAPER_POOL) / total
        rows.append((setting, reading, scores))

    columns = ["mini-mias test", "dental-ceph", "combined"]
    sep = " | " if args.markdown else "  "
    header = ["setting", "reading"] + [f"{c} dr=1 / dr=2 (paper)" for c in columns]
    print(sep.join(header).join(["| ", " |"] if args.markdown else ["", ""]))
    if args.markdown:
        print("|" + "---|" * len(header))
    for setting, reading, scores in rows:
        cells = [setting, reading.strip()]
        for col in columns:
            published = PUBLISHED.get((setting, col))
            ref = f" ({published:.2f})" if published is not None else ""
            cells.append(f"{scores[col, 1.0]:.3f} / {scores[col, 2.0]:.3f}{ref}")
        print(sep.join(cells).join(["| ", " |"] if args.markdown else ["", ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
