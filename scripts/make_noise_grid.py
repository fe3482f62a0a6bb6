"""Draw docs/img/noise_grid.png: one built-in CT slice under every noise model.

The slice is pydicom-data's ``explicit_VR-UN.dcm`` (a built-in 512x512 abdominal CT sample, not
research data), in Hounsfield units. The [0, 1] models see it mapped linearly from the HU window
[-1024, 1024]; ``lowdose-ct`` works on the HU values themselves (with the file's pixel spacing) and is
shown in a soft-tissue window (-160..240 HU) where CT noise is judged. Panels show the central
256x256 pixels so that the noise texture is visible.

Usage::

    .venv/bin/python scripts/make_noise_grid.py [--out docs/img/noise_grid.png] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from pydicom.data import get_testdata_file

from meddenoise._utils import atomic_path
from meddenoise.io import read_image
from meddenoise.noise import estimate_sigma, parse_noise

SAMPLE = "explicit_VR-UN.dcm"
WINDOW = (-1024.0, 1024.0)
SOFT_TISSUE = (-160.0, 240.0)
CROP = (slice(128, 384), slice(128, 384))
SPECS = [
    "gaussian(p=0.1,sigma=1)",
    "gaussian(p=0.3,sigma=1.5)",
    "poisson(p=0.2,lam=5)",
    "poisson(p=0.2,lam=5,reading=additive)",
    "masking(fraction=0.25)",
    "photon(peak=30)",
    "poisson-gaussian(peak=30,sigma=0.02)",
    "rician(sigma=0.05)",
    "speckle(looks=4)",
    "saltpepper(amount=0.05)",
    "lowdose-ct(dose=0.25)",
    "lowdose-ct(dose=0.05)",
    "gaussian(p=0.05,sigma=1)+saltpepper(amount=0.02)",
    "photon(peak=100)+rician(sigma=0.02)",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/noise_grid.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    path = get_testdata_file(SAMPLE)
    if not isinstance(path, str):
        raise SystemExit(f"{SAMPLE}: not in pydicom-data (pip install pydicom-data)")
    image = read_image(path)
    hu = image.pixels.astype(np.float64)
    spacing = image.meta.pixel_spacing[0] if image.meta.pixel_spacing else 0.7
    low, high = WINDOW
    clean = np.clip((hu - low) / (high - low), 0, 1)

    soft_low, soft_high = SOFT_TISSUE
    panels = [(f"clean ({SAMPLE})", clean)]
    for spec in SPECS:
        if spec.startswith("lowdose-ct"):
            model = parse_noise(spec.replace(")", f",pixel_mm={spacing:.4g})"))
            noisy_hu = model(hu, rng=args.seed)
            sigma_hu = estimate_sigma(noisy_hu[CROP])
            noisy = np.clip((noisy_hu - soft_low) / (soft_high - soft_low), 0, 1)
            panels.append((f"{spec}\nsoft-tissue window, sigma_est {sigma_hu:.0f} HU", noisy))
        else:
            noisy = parse_noise(spec)(clean, rng=args.seed)
            panels.append((f"{spec}\nsigma_est {estimate_sigma(noisy[CROP]):.3f}", noisy))

    cols = 5
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.45 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(img[CROP], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=7)
    fig.suptitle(
        f"meddenoise noise models on {SAMPLE} (centre crop), seed {args.seed}; [0, 1] = {low:g}..{high:g} HU",
        fontsize=11,
    )
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
