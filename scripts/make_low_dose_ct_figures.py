"""Figures of docs/low-dose-ct.md: original / low-dose / ours / BM3D, removed components, NPS curves.

One routine-dose chest CT slice (``chest-ct-dicom``), the project's ``lowdose-ct`` simulation at 25 %
dose with the DICOM's pixel size (seed 0) and the scan's own kernel and noise level (the LDCT protocol's
``kernel="matched"``), denoised by the shipped ``ct`` model as ``meddenoise
denoise`` does by default (noise level ``auto`` = ``estimate_ct_noise`` in HU, strength 1) and by BM3D
told the true std of the simulated noise (``true_noise_std``). Writes three small PNGs into
``docs/img/``:

* ``ldct-panels.png``: the four images (centre 256x256, soft-tissue window L40/W400) and, below, what
  each method removed from its input (``input - output``, window +-100 HU); ``ct`` also at
  ``--strength 0.5`` (told half the estimated level: sharper, more noise left); the last panel of that
  row is what ``ct`` removes from the routine-dose slice itself (no noise added).
* ``ldct-nps.png``: radial NPS (flat fat/soft-tissue 32x32 ROIs) of the simulated noise and of each
  output's error (output - routine dose), in HU^2 mm^2 against cycles/mm.
* ``ldct-texture.png``: the same slice at 10 % dose: routine, low dose, ``ct`` as shipped, ``ct
  --texture blend --strength 2`` and BM3D told the true std (centre 128x128, L40/W400), and the NPS of their errors.

Usage::

    .venv/bin/python scripts/make_low_dose_ct_figures.py [--data ../shared/data] [--slice ID_0047]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meddenoise.evaluation.ldct import matched_cutoff, scale_to_scan_level, true_noise_std
from meddenoise.io import read_image
from meddenoise.methods import build_denoiser
from meddenoise.metrics.ct import flat_rois, noise_power_spectrum
from meddenoise.noise import LowDoseCTNoise, estimate_ct_noise
from meddenoise.pipeline import DenoiseOptions
from meddenoise.pipeline.core import denoise_pixels

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def run(
    name: str,
    pixels: np.ndarray,
    noise_level: str | float,
    strength: float = 1.0,
    texture: float | str | None = None,
) -> np.ndarray:
    """``pixels`` (HU) denoised by ``name`` through the pipeline, as ``meddenoise denoise`` does."""
    choice = build_denoiser(name, texture=texture)
    out, _ = denoise_pixels(
        pixels,
        choice.denoiser,
        intensity=choice.intensity,
        modality="CT",
        units="HU",
        options=DenoiseOptions(noise_level=noise_level, strength=strength),
    )
    return out.astype(np.float64)


def centre(image: np.ndarray, size: int = 256) -> np.ndarray:
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--slice", default="ID_0047")
    args = parser.parse_args()
    (path,) = (Path(args.data) / "chest-ct-dicom").glob(f"{args.slice}_*.dcm")
    image = read_image(path)
    clean = image.pixels.astype(np.float64)
    pixel_mm = float(np.mean(image.meta.pixel_spacing)) if image.meta.pixel_spacing else 0.7
    # the protocol's default kernel="matched": the scan's own kernel (Hann cutoff) and noise level
    cutoff = matched_cutoff(clean, pixel_mm, np.random.default_rng(1))

    def low_dose(dose: float) -> np.ndarray:
        noisy = LowDoseCTNoise(dose=dose, pixel_mm=pixel_mm, filter="hann", cutoff=cutoff)(clean, rng=0)
        return scale_to_scan_level(noisy, clean, estimate_ct_noise(clean), dose).astype(np.float64)

    noisy = low_dose(0.25)
    sigma = true_noise_std(noisy, clean)
    ours = run("ct", noisy, "auto")
    gentle = run("ct", noisy, "auto", strength=0.5)
    bm3d = run("bm3d", noisy, sigma)
    routine = run("ct", clean, "auto")

    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 5, figsize=(12.5, 6.2))
    top = [
        ("routine dose", clean),
        ("25 % dose (lowdose-ct)", noisy),
        ("ct model, blind", ours),
        ("ct, blind, --strength 0.5", gentle),
        (f"BM3D, told {sigma:.0f} HU", bm3d),
    ]
    bottom = [
        ("simulated noise", noisy - clean),
        ("removed by ct", noisy - ours),
        ("removed by ct, strength 0.5", noisy - gentle),
        ("removed by BM3D", noisy - bm3d),
        ("ct on routine dose: removed", clean - routine),
    ]
    for ax, (title, img) in zip(axes[0], top, strict=True):
        ax.imshow(centre(img), cmap="gray", vmin=-160, vmax=240)
        ax.set_title(title, fontsize=9)
    for ax, (title, img) in zip(axes[1], bottom, strict=True):
        ax.imshow(centre(img), cmap="gray", vmin=-100, vmax=100)
        ax.set_title(title, fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"{path.name[:7]} (TCGA-LUAD), centre 256x256, L40/W400; bottom row +-100 HU", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "ldct-panels.png", dpi=72)
    plt.close(fig)

    corners = flat_rois(clean, size=32)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    curves = [
        ("25 % dose noise", noisy),
        ("ct, blind", ours),
        ("ct, strength 0.5", gentle),
        ("BM3D, true σ", bm3d),
    ]
    for label, img in curves:
        error = img - clean
        nps = noise_power_spectrum([error[r : r + 32, c : c + 32] for r, c in corners], pixel_mm=pixel_mm)
        ax.plot(
            nps.frequencies,
            nps.radial,
            label=f"{label}: peak {nps.peak_frequency:.2f}, mean {nps.mean_frequency:.2f} /mm",
        )
    _label_nps(ax, f"NPS of the error in {len(corners)} flat 32x32 ROIs")
    fig.tight_layout()
    fig.savefig(OUT / "ldct-nps.png", dpi=80)
    plt.close(fig)

    tenth = low_dose(0.1)
    tenth_sigma = true_noise_std(tenth, clean)
    texture_panels = [  # (title, NPS legend, image)
        ("routine dose", "", clean),
        ("10 % dose (lowdose-ct)", "10 % dose", tenth),
        ("ct model, blind", "ct", run("ct", tenth, "auto")),
        (
            "ct, blind, --texture blend --strength 2",
            "ct s2 tblend",
            run("ct", tenth, "auto", strength=2.0, texture="blend"),
        ),
        (f"BM3D, told {tenth_sigma:.0f} HU", "BM3D", run("bm3d", tenth, tenth_sigma)),
    ]
    fig = plt.figure(figsize=(18, 3.4))
    for k, (title, _, img) in enumerate(texture_panels):
        ax = fig.add_subplot(1, 6, k + 1)
        ax.imshow(centre(img, 128), cmap="gray", vmin=-160, vmax=240)  # the mediastinum, larger
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(1, 6, 6)
    for _, legend, img in texture_panels[1:]:
        error = img - clean
        nps = noise_power_spectrum([error[r : r + 32, c : c + 32] for r, c in corners], pixel_mm=pixel_mm)
        ax.plot(nps.frequencies, nps.radial, label=legend)
    _label_nps(ax, "NPS of the error, 10 % dose")
    fig.tight_layout()
    fig.savefig(OUT / "ldct-texture.png", dpi=72)
    plt.close(fig)
    print(
        f"wrote ldct-panels.png, ldct-nps.png and ldct-texture.png in {OUT}; true σ {sigma:.1f} / {tenth_sigma:.1f} HU"
    )


def _label_nps(ax: plt.Axes, title: str) -> None:
    ax.set_xlabel("spatial frequency (cycles/mm)")
    ax.set_ylabel("NPS (HU² mm²)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


if __name__ == "__main__":
    main()
