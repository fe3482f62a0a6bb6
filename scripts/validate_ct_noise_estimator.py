"""Validation table of `estimate_ct_noise` (docs/noise.md): real chest CT against hand-placed flat ROIs.

For each slice of ``chest-ct-dicom`` with hand-placed 30x30 ROIs in flat soft tissue (the ROIs of
``scripts/validate_noise_estimator.py``): the ROIs' std (ddof=1, median over the slice's ROIs) beside
`estimate_ct_noise` and `estimate_noise_std`; then the same slice with white Gaussian noise of 10 and
30 HU added and with the project's `lowdose-ct` noise at dose 0.25 and 0.1 (pixel size from the DICOM)
added, where the expected total is ``sqrt(own^2 + added^2)`` with ``added`` the std of the inserted
noise in the same ROIs. Prints markdown tables.

Usage::

    .venv/bin/python scripts/validate_ct_noise_estimator.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from meddenoise.io import read_image
from meddenoise.noise import estimate_ct_noise, estimate_noise_std, parse_noise

#: (top row, left column, tissue) of 30x30 ROIs in flat soft tissue, placed by hand (docs/noise.md); also
#: the table of scripts/validate_noise_estimator.py.
CT_ROIS: dict[str, list[tuple[int, int, str]]] = {
    "ID_0047": [
        (156, 81, "liver"),
        (374, 178, "left paraspinal muscle"),
        (374, 280, "right paraspinal muscle"),
    ],
    "ID_0064": [(242, 202, "ascending aorta"), (236, 244, "pulmonary trunk")],
    "ID_0008": [(276, 20, "shoulder muscle"), (348, 318, "paraspinal muscle"), (277, 476, "deltoid")],
    "ID_0004": [(142, 256, "heart (contrast)"), (292, 267, "descending aorta")],
    "ID_0014": [(188, 110, "pleural effusion"), (242, 102, "pleural effusion")],
    "ID_0000": [(408, 190, "paraspinal muscle"), (236, 226, "pulmonary artery")],
    "ID_0091": [(254, 260, "mediastinum")],
}


def roi_std(pixels: np.ndarray, rois: list[tuple[int, int, str]]) -> float:
    """Median over the ROIs of their std (ddof=1)."""
    return float(np.median([pixels[r : r + 30, c : c + 30].std(ddof=1) for r, c, _ in rois]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", default="../shared/data")
    folder = Path(parser.parse_args().data) / "chest-ct-dicom"
    print(
        "| slice | ROI std (HU) | estimate_ct_noise | ratio | estimate_noise_std | ratio |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    added_rows = []
    ratios = []
    for key, rois in CT_ROIS.items():
        (path,) = folder.glob(f"{key}_*.dcm")
        image = read_image(path)
        hu = image.pixels.astype(np.float64)
        own = roi_std(hu, rois)
        ct, old = estimate_ct_noise(hu), estimate_noise_std(hu)
        ratios.append(ct / own)
        print(f"| {key} | {own:.1f} | {ct:.1f} | {ct / own:.2f} | {old:.1f} | {old / own:.2f} |")
        spacing = image.meta.pixel_spacing[0] if image.meta.pixel_spacing else 0.7
        cells = []
        rng = np.random.default_rng(0)
        for _label, noise in [
            ("white 10", rng.normal(0.0, 10.0, hu.shape)),
            ("white 30", rng.normal(0.0, 30.0, hu.shape)),
            *(
                (
                    f"lowdose-ct {dose}",
                    parse_noise(f"lowdose-ct(dose={dose},pixel_mm={spacing:.4g})")(hu, rng=1) - hu,
                )
                for dose in (0.25, 0.1)
            ),
        ]:
            expected = float(np.hypot(own, roi_std(noise, rois)))
            got = estimate_ct_noise(hu + noise)
            cells.append(f"{expected:.1f} / {got:.1f}")
        added_rows.append(f"| {key} | " + " | ".join(cells) + " |")
    print(f"\nmedian ratio estimate_ct_noise / ROI std: {np.median(ratios):.2f}\n")
    print(
        "| slice | + white 10 HU: expected / estimate | + white 30 HU | + lowdose-ct dose 0.25 | + lowdose-ct dose 0.1 |\n"
        "|---|---:|---:|---:|---:|"
    )
    print("\n".join(added_rows))


if __name__ == "__main__":
    main()
