"""Validation tables of `estimate_noise_std` (docs/noise.md): white, correlated, low-dose CT and real CT noise.

Prints markdown tables: white Gaussian noise (0-255 scale, not clipped) on synthetic images, Set12 and
every 40th Train400 image; Gaussian-blurred (correlated) noise; the project's `lowdose-ct` noise in a
water phantom; real chest CT against hand-placed flat-tissue ROIs; the noise-free MNI152 template (the
`mri` model's held-apart slices; skipped without nilearn), clean and with white noise. `estimate_sigma`
beside it.

Usage::

    .venv/bin/python scripts/validate_noise_estimator.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import glob
import time

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from validate_ct_noise_estimator import CT_ROIS  # the one hand-placed ROI table (scripts/ is on sys.path)

from meddenoise.data import mni152_path
from meddenoise.io import read_image
from meddenoise.noise import estimate_noise_std as est
from meddenoise.noise import estimate_sigma as wmad
from meddenoise.noise import parse_noise

parser = argparse.ArgumentParser(description=__doc__.split(chr(10), 1)[0])
parser.add_argument("--data", default="../shared/data")
DATA = parser.parse_args().data
imgs = [np.asarray(Image.open(f), np.float64) for f in sorted(glob.glob(DATA + "/set12/*.png"))]
tr = [np.asarray(Image.open(f), np.float64) for f in sorted(glob.glob(DATA + "/train400/*.png"))[::40]]
yy, xx = np.mgrid[:256, :256] / 256
smooth = 100 + 80 * np.sin(3 * xx) * np.cos(2 * yy) + 30 * xx
pc = 60 + 100 * (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.1) + 40 * (xx > 0.7)
print("| images (0-255 scale) | sigma 0 | 5 | 15 | 25 | 50 |\n|---|---:|---:|---:|---:|---:|")
for name, ims in [
    ("smooth synthetic 256²", [smooth]),
    ("piecewise-constant synthetic 256²", [pc]),
    ("Set12 (12), median [min, max]", imgs),
    ("Train400 (every 40th: 10), median [min, max]", tr),
]:
    for fn, fname in [(est, "estimate_noise_std"), (wmad, "estimate_sigma")]:
        cells = []
        for sig in [0, 5, 15, 25, 50]:
            r = np.random.default_rng(sig)
            e = np.array([fn(im + r.normal(0, sig, im.shape)) for im in ims])
            cells.append(
                f"{np.median(e):.2f}" if len(e) == 1 else f"{np.median(e):.1f} [{e.min():.1f}, {e.max():.1f}]"
            )
        print(f"| {name}: `{fname}` | " + " | ".join(cells) + " |")
print()
print(
    "| correlated noise, std 20 (Gaussian-blurred white noise, blur std w px) | w 0.7 | 1.0 | 1.5 | 2.0 |\n|---|---:|---:|---:|---:|"
)
for bg_name in ["flat 512²", "smooth synthetic 512²", "Set12 02.png"]:
    for fn, fname in [(est, "estimate_noise_std"), (wmad, "estimate_sigma")]:
        cells = []
        for w in [0.7, 1.0, 1.5, 2.0]:
            n = gaussian_filter(np.random.default_rng(7).normal(0, 1, (512, 512)), w)
            n /= n.std()
            bg = {
                "flat 512²": np.full((512, 512), 100.0),
                "smooth synthetic 512²": np.kron(smooth, np.ones((2, 2))),
                "Set12 02.png": imgs[1],
            }[bg_name]
            cells.append(f"{fn(bg + 20 * n[: bg.shape[0], : bg.shape[1]]):.1f}")
        print(f"| {bg_name}: `{fname}` | " + " | ".join(cells) + " |")
print()
yy2, xx2 = np.mgrid[:256, :256] - 127.5
ph = np.where(xx2**2 + yy2**2 < 110**2, 40.0, -1000.0)
ph[(xx2 - 30) ** 2 + (yy2 + 20) ** 2 < 25**2] = 200.0
inside = xx2**2 + yy2**2 < 100**2
print(
    "| lowdose-ct on a 256² water phantom (HU) | noise std inside | estimate_noise_std | estimate_sigma |\n|---|---:|---:|---:|"
)
for d in [0.5, 0.25, 0.1]:
    noisy = parse_noise(f"lowdose-ct(dose={d})")(ph, rng=1)
    print(f"| dose={d} | {(noisy - ph)[inside].std():.1f} | {est(noisy):.1f} | {wmad(noisy):.1f} |")
print()
files = {f.split("/")[-1][:7]: f for f in glob.glob(DATA + "/chest-ct-dicom/*.dcm")}
print(
    "| slice | ROIs (row, col) of 30x30: HU std | reference (median) | estimate_noise_std | ratio | estimate_sigma | ms |\n|---|---|---:|---:|---:|---:|---:|"
)
for k, rois in CT_ROIS.items():
    p = read_image(files[k]).pixels.astype(np.float64)
    stds = [p[r : r + 30, c : c + 30].std(ddof=1) for r, c, _ in rois]
    ref = float(np.median(stds))
    t = time.perf_counter()
    estimate = est(p)
    dt = (time.perf_counter() - t) * 1000
    print(
        f"| {k} | "
        + "; ".join(f"{n} ({r}, {c}): {s:.1f}" for (r, c, n), s in zip(rois, stds, strict=True))
        + f" | {ref:.1f} | {estimate:.1f} | {estimate / ref:.2f} | {wmad(p):.1f} | {dt:.0f} |"
    )
print()
mni = mni152_path()
if mni is None:
    print("(MNI152 table skipped: nilearn, extra `mri`, is not installed)")
else:
    axial = read_image(mni, slice_axis=2).pixels.astype(np.float64)
    held_apart = range(70, 90)  # the mri model's held-apart slab (scripts/train_pretrained.py)
    fractions = [0.005, 0.01, 0.02, 0.05]
    print(
        "| MNI152 axial z=70..89 (20 slices), median [min, max] | clean: % of range | "
        + " | ".join(f"+ white {100 * f:g} % of range: estimate / true" for f in fractions)
        + " |\n|---|"
        + "---:|" * (1 + len(fractions))
    )
    for fn, fname in [(est, "estimate_noise_std"), (wmad, "estimate_sigma")]:
        cells = []
        for fraction in [0.0, *fractions]:
            ratios = []
            for z in held_apart:
                span = float(np.ptp(axial[z]))  # range: max - min
                noise = np.random.default_rng(z).normal(0, fraction * span, axial[z].shape)
                ratios.append(fn(axial[z] + noise) / (fraction * span if fraction else span / 100))
            e = np.array(ratios)
            cells.append(f"{np.median(e):.2f} [{e.min():.2f}, {e.max():.2f}]")
        print(f"| `{fname}` | " + " | ".join(cells) + " |")
