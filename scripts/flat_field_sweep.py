"""How much white noise a CT denoiser leaves on flat fields, by intensity and noise level.

A flat field of value ``v`` HU plus white Gaussian noise of std ``s`` HU goes through ``meddenoise.denoise``
(told ``s``, CT, the method's own intensity mapping and defaults unless ``--plain``); the script prints the
std of the output (its 16-px border left out) divided by ``s``: 0 is a perfect denoiser, 1 one that keeps
all the noise. Where a model keeps far more than its neighbours, it has learned to read noise as anatomy.

The fields sit at ``-1024 + k * s`` HU (``--k``: multiples of the noise std above the floor of the CT
window, where the shipped ``ct`` model's failure lies) or at fixed values (``--hu``)::

    .venv/bin/python scripts/flat_field_sweep.py --methods ct,general --sigmas 10,20,50,100
    .venv/bin/python scripts/flat_field_sweep.py --methods ct --hu -1000,-850,-600,40,700 --sigmas 50
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from meddenoise.api import denoise
from meddenoise.classical import CLASSICAL_METHODS

#: The CT window floor of the shipped models (``-1024 .. 1024`` HU).
FLOOR_HU = -1024.0
BORDER = 16


def kept_noise(method: str, value: float, sigma: float, *, size: int, plain: bool, seed: int) -> float:
    """The output std over ``sigma`` for a ``size`` x ``size`` field at ``value`` HU with white noise ``sigma``."""
    rng = np.random.default_rng([seed, round(value - FLOOR_HU + 4096), round(sigma)])
    field = (value + sigma * rng.standard_normal((size, size))).astype(np.float32)
    if method in CLASSICAL_METHODS:
        out = denoise(field, modality="CT", noise_level=sigma, method=method)
    elif plain:
        out = denoise(field, modality="CT", noise_level=sigma, model=method, texture=0, edge_restore=0)
    else:
        out = denoise(field, modality="CT", noise_level=sigma, model=method)
    out = np.asarray(out)
    return float(out[BORDER:-BORDER, BORDER:-BORDER].std() / sigma)


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods", default="ct", help="comma-separated shipped models, checkpoints or filters"
    )
    parser.add_argument("--sigmas", default="10,20,50,100", help="white noise std in HU, comma-separated")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--k", default="0.5,1.5,2.5,3.5,4.5,6,8", help="field values as -1024 + k * sigma HU")
    where.add_argument("--hu", default=None, help="field values in HU instead, comma-separated")
    parser.add_argument("--size", type=int, default=160, help="field side in pixels")
    parser.add_argument(
        "--plain", action="store_true", help="models without their edge restoration and texture"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sigmas = _floats(args.sigmas)
    steps = _floats(args.hu) if args.hu is not None else _floats(args.k)
    header = "HU" if args.hu is not None else "k (field at -1024 + k sigma)"
    print(f"noise kept (output std / noise std) on flat {args.size}x{args.size} fields, told the std")
    print(f"| method | sigma HU | {' | '.join(f'{header.split()[0]} {s:g}' for s in steps)} |")
    print(f"|---|---:|{'---:|' * len(steps)}")
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for sigma in sigmas:
            values = [s if args.hu is not None else FLOOR_HU + s * sigma for s in steps]
            kept = [
                kept_noise(method, v, sigma, size=args.size, plain=args.plain, seed=args.seed) for v in values
            ]
            print(f"| {method} | {sigma:g} | {' | '.join(f'{k:.2f}' for k in kept)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
