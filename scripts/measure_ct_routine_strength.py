"""Routine-dose faithfulness of a CT denoiser at several strengths (docs/low-dose-ct.md).

Runs the method through the pipeline exactly as ``meddenoise denoise`` does (noise level ``auto`` =
``estimate_ct_noise`` in HU, the given ``--strength``) on the first N slices of a CT folder with no noise
added, and prints ``routine_dose_faithfulness`` per strength as a Markdown table: mean over each
patient's slices, then over patients.

Usage::

    .venv/bin/python scripts/measure_ct_routine_strength.py [--data ../shared/data/chest-ct-dicom]
        [--method ct] [--limit 8] [--strengths 1,1.5,2,3]
"""

from __future__ import annotations

import argparse

import numpy as np

from meddenoise.evaluation.ldct import load_ldct_images
from meddenoise.methods import build_denoiser
from meddenoise.metrics.ct import routine_dose_faithfulness
from meddenoise.pipeline import DenoiseOptions
from meddenoise.pipeline.core import denoise_pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", default="../shared/data/chest-ct-dicom")
    parser.add_argument("--method", default="ct")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--strengths", default="1,1.5,2,3")
    args = parser.parse_args()
    images = load_ldct_images(args.data, limit=args.limit)
    choice = build_denoiser(args.method)
    print(
        f"{args.method} on {len(images)} slices of {len({im.patient for im in images})} patients, no noise added"
    )
    print(
        "| strength | soft-tissue shift HU | fat shift HU | edge grad. ratio | noise reduction | resid. structure |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for strength in (float(s) for s in args.strengths.split(",")):
        per_patient: dict[str, list[list[float]]] = {}
        for im in images:
            out, _ = denoise_pixels(
                im.full,
                choice.denoiser,
                intensity=choice.intensity,
                modality="CT",
                units="HU",
                options=DenoiseOptions(strength=strength),
            )
            m = routine_dose_faithfulness(out, im.full.astype(np.float64))
            values = [m.shift_soft, m.shift_fat, m.gradient_ratio, m.noise_reduction, m.residual_structure]
            per_patient.setdefault(im.patient, []).append(values)
        mean = np.mean([np.mean(v, axis=0) for v in per_patient.values()], axis=0)
        print(
            f"| {strength:g} | {mean[0]:.2f} | {mean[1]:.2f} | {mean[2]:.3f} | {mean[3]:.3f} | {mean[4]:.3f} |"
        )


if __name__ == "__main__":
    main()
