"""Choose a noise-texture ramp of the ``ct`` model on its training slices (how ``--texture blend`` was chosen).

Runs the LDCT protocol (``meddenoise.evaluation.ldct``, blind, its matched kernel) on a folder of CT
slices the model was trained on (``scripts/train_pretrained.py --write-training-slices DIR``: never a
held-apart patient) for ``ct`` without texture, its default, BM3D told the true std, and each candidate
ramp: a share ``amount`` of the removed component put back, ``coarse`` of its coarse part with it (1 = the
whole component, a blend with the input), from none at ``start`` HU to all of it at ``full`` HU, with
``auto``'s correlation gate; with three more values the share rises to ``high`` as the removed component's
lag-1 correlation goes from ``low corr`` to ``high corr`` (a soft kernel's coarse noise). The network runs
once per slice and dose; the candidates reuse its output.

The rule, fixed before any held-apart scan is scored (``--rule robust``, the default since 2026-12-02):
of the candidates that still remove at least ``--routine-min`` (0.30) of the routine scans' flat-tissue
noise, the one likeliest to meet issue 13's targets on the *mean* of an unseen set of patients like these:
in 4,000 resamples of ``--resample`` (27) patients drawn with replacement, the share whose means keep
``--psnr-margin`` (1.3) dB over BM3D's PSNR and a texture distance ``--texture-margin`` (0.01) under
BM3D's at every dose (the margins cover the shift from the training slices to the held-apart patients
measured on 2026-12-02), to 0.01, then the best PSNR at the last dose. ``--rule patients`` (2026-12-02
night): of the candidates whose mean texture distance is at or under BM3D's at every dose, whose mean
PSNR is ``--psnr-margin`` (1.25) dB over BM3D's at every dose and that remove ``--routine-min`` (0.35),
the one meeting the PSNR (>= 1 dB over BM3D) and texture (closer) targets together in the most (dose,
patient) pairs, then the best PSNR at the last dose. ``--rule mean`` is the rule before: no PSNR margin,
the best PSNR at the last dose (with ``--routine-min 0.30``, its value then). Prints the table and the
choice; writes the protocol's files (``per_image.csv``, ``routine.csv``, ...) under ``--out``.

Usage::

    .venv/bin/python scripts/train_pretrained.py --write-training-slices TRAIN_CT
    .venv/bin/python scripts/calibrate_texture_ramp.py --data TRAIN_CT --out runs/texture-ramp
        [--ramps 0.6:1:20:35,0.4:1:15:20:0.7:0.7:0.9,...] [--bm3d runs/texture-ramp-bm3d] [--seed 1000]
        [--strengths 1,2] [--rule robust|patients|mean] [--routine-min 0.30] [--psnr-margin 1.3]
        [--texture-margin 0.01] [--resample 27]
        [--kernel matched|ramp|hann:0.9]

BM3D takes ~12 s per slice and dose (~8 min for 21 slices at two doses, one core); ``--bm3d DIR`` reuses
the ``per_image.csv`` of an earlier run's BM3D folder (the script writes it to ``OUT-bm3d``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import meddenoise.evaluation.ldct as ldct
from meddenoise.denoiser import passes_told
from meddenoise.evaluation.benchmark import benchmark_choices
from meddenoise.methods import DenoiserChoice
from meddenoise.methods.factory import split_texture, with_strength, with_texture
from meddenoise.models.denoiser import BatchDenoiser
from meddenoise.models.texture import auto_texture_ramp

#: The 94 ramps tried for ``--texture blend`` (amount:coarse:start HU:full HU[:high:low corr:high corr]), beside
#: the default's.
DEFAULT_RAMPS = ",".join(
    [
        *(f"{a}:1:30:50" for a in (0.5, 0.6, 0.7, 0.8)),
        *(f"{a}:0.5:30:50" for a in (0.6, 0.7, 0.8, 0.9, 1)),
        *(f"{a}:0:30:50" for a in (0.8, 0.9, 1)),
        *(f"{a}:0.25:30:50" for a in (0.8, 0.9, 1)),
        *(
            f"{a}:1:{start}:{start + rise}"
            for start in (15, 20, 25, 30)
            for rise in (15, 25)
            for a in (0.6, 0.7, 0.8)
        ),
        "0.9:0.5:20:40",
        "0.9:0.5:25:50",
        # added 2026-12-02 with --strengths 1,2: half the whole component at the lower levels
        *(f"0.5:1:{start}:{full}" for start, full in ((15, 30), (20, 35), (25, 40), (15, 40), (20, 45))),
        # added 2026-12-02 night: the amount rising with the removed component's lag-1 correlation
        *(
            f"{low}:1:{start}:{full}:{high}:{corr}:0.9"
            for low in (0.3, 0.4, 0.5)
            for high in (0.7, 0.8)
            for corr in (0.6, 0.7)
            for start, full in ((10, 20), (15, 20), (15, 30), (12, 24))
        ),
    ]
)


class ReusedOutput(BatchDenoiser):
    """``inner``, run once per distinct batch, noise level and number of passes: the candidates share the
    network's output."""

    def __init__(self, inner: BatchDenoiser) -> None:
        self.inner, self.name, self.uses_sigma = inner, inner.name, inner.uses_sigma
        self._outputs: dict[
            tuple[str, tuple[float, ...] | None, tuple[tuple[int, float], ...]], np.ndarray
        ] = {}

    def batch_and_levels(
        self, images: np.ndarray, sigma: float | Sequence[float] | np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return self.inner.batch_and_levels(images, sigma)

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch = np.ascontiguousarray(images, dtype=np.float32)
        levels = None if sigma is None else tuple(np.ravel(np.asarray(sigma, np.float64)).tolist())
        key = (hashlib.sha1(batch.tobytes()).hexdigest(), levels, passes_told(self.inner))
        if key not in self._outputs:
            self._outputs[key] = self.inner.denoise_batch(batch, sigma=sigma)
        return self._outputs[key].copy()


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _summary(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The protocol's means per (dose, method) of a run's CSV rows (:meth:`LDCTResult.summary`: per patient
    first); the routine table's rows, which have no dose, under ``"1.0"``."""
    entries = ldct.LDCTResult(rows=rows, routine=[], methods=(), doses=()).summary()
    return {(str(entry["dose"]), entry["method"]): entry for entry in entries}


def _patients_won(mine: dict[str, dict[str, float]], bm3d: dict[str, dict[str, float]]) -> int:
    """In how many patients (means per metric and patient) ``mine`` is the protocol's ``MARGIN_DB`` (1 dB)
    over BM3D's PSNR *and* closer to the scan's noise texture: two of its per-patient counts at once."""
    patients = set(mine["psnr"])
    psnr = ldct._winners(mine, bm3d, patients, *ldct._COUNTS["psnr_margin"])
    return len(psnr & ldct._winners(mine, bm3d, patients, *ldct._COUNTS["texture_closer"]))


#: The robust rule: patients per resample (the project's CT data set has as many patients again that it
#: never sees), resamples, and the margins a resampled mean keeps over BM3D told (PSNR in dB: the target's
#: 1 and 0.3; texture distance), about the shift from the training slices to the held-apart patients
#: measured on 2026-12-02 (+0.4 dB, -0.01); the routine noise a candidate still removes.
ROBUST_PATIENTS = 27
ROBUST_DRAWS = 4000
ROBUST_PSNR_MARGIN = 1.3
ROBUST_ROUTINE_MIN = 0.30


def robust_success(
    mine: dict[str, dict[str, dict[str, float]]],
    bm3d: dict[str, dict[str, dict[str, float]]],
    *,
    psnr_margin: float = ROBUST_PSNR_MARGIN,
    texture_margin: float = 0.01,
    size: int = ROBUST_PATIENTS,
    draws: int = ROBUST_DRAWS,
    seed: int = 1000,
) -> float:
    """The share of ``draws`` resamples of ``size`` patients (with replacement) in which the patient means
    of ``mine`` keep ``psnr_margin`` dB over BM3D's PSNR *and* a texture distance ``texture_margin`` under
    BM3D's at every dose: how likely the targets hold on the mean of an unseen set of patients like these.

    ``mine`` and ``bm3d`` map a dose to the protocol's per-patient means (``ldct._patient_means``: metric ->
    patient -> value); the patients of ``mine`` are resampled (the same draws for every candidate and dose).
    """
    doses = sorted(mine)
    patients = sorted(mine[doses[0]]["psnr"])
    picks = np.random.default_rng(seed).integers(0, len(patients), size=(draws, size))
    success = np.ones(draws, dtype=bool)
    for dose in doses:
        psnr = np.array([mine[dose]["psnr"][p] - bm3d[dose]["psnr"][p] for p in patients])
        closer = np.array([bm3d[dose]["nps_distance"][p] - mine[dose]["nps_distance"][p] for p in patients])
        success &= (psnr[picks].mean(axis=1) >= psnr_margin) & (closer[picks].mean(axis=1) > texture_margin)
    return float(success.mean())


def ramp_choices(specs: str, strengths: Sequence[float] = (1.0,)) -> dict[str, DenoiserChoice]:
    """``ct`` without texture, as shipped, and one choice per ``amount:coarse:start:full`` of ``specs``, at
    each of ``strengths`` (above 1 ``ct`` runs again on its own output inside the texture; names ``ct s2
    ...``)."""
    ((_, shipped),) = benchmark_choices(["ct"], classical=()).items()
    base, _ = split_texture(shipped)
    if not isinstance(base.denoiser, BatchDenoiser):
        raise SystemExit("the ct model is not a network here (an ONNX back end?)")
    reused = replace(base, denoiser=ReusedOutput(base.denoiser))
    width = base.intensity.width
    auto = auto_texture_ramp(width)
    choices: dict[str, DenoiserChoice] = {}
    for strength in strengths:
        named = "ct" if strength == 1 else f"ct s{strength:g}"

        def at(choice: DenoiserChoice, power: float = strength) -> DenoiserChoice:
            return choice if power == 1 else with_strength(choice, power)

        choices[f"{named} t0"] = at(reused)
        choices[f"{named} (default)"] = at(with_texture(reused, auto, label=False))
        for spec in specs.split(","):
            values = [float(v) for v in spec.split(":")]
            if len(values) not in (4, 7):
                expected = "amount:coarse:start:full[:high:low corr:high corr]"
                raise SystemExit(f"ramp {spec!r}: expected {expected}")
            amount, coarse, start, full = values[:4]
            ramp = replace(
                auto, amount=amount, coarse=coarse, start=start / width, full=full / width, scanner=None
            )
            name = f"{named} {amount:g} coarse {coarse:g} {start:g}-{full:g} HU"
            if len(values) == 7:  # the amount rises with the removed component's correlation
                high, low_corr, high_corr = values[4:]
                ramp = replace(ramp, correlated_amount=high, correlated_between=(low_corr, high_corr))
                name += f" to {high:g} at corr {low_corr:g}-{high_corr:g}"
            choices[name] = at(with_texture(reused, ramp, label=False))
    return choices


def _markdown(columns: Sequence[str], table: dict[str, list[object]]) -> str:
    """``table`` (row name -> cells) as a Markdown table, numbers to 3 decimals."""

    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| ramp | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(v) for v in cells) + " |" for name, cells in table.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="CT slices the ct model was trained on")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--ramps",
        default=DEFAULT_RAMPS,
        help="amount:coarse:start:full[:high:low corr:high corr] (HU; the amount rising to high with the "
        "removed component's lag-1 correlation), comma-separated",
    )
    parser.add_argument("--bm3d", type=Path, default=None, help="reuse this earlier BM3D run folder")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument(
        "--kernel",
        default="matched",
        help="the protocol's noise kernel: matched (the scan's own, the default), ramp, or a window with a "
        "cutoff such as hann:0.9 (a sharp kernel's noise on every slice); a --bm3d run must use the same",
    )
    parser.add_argument(
        "--strengths",
        default="1,2",
        help="comma-separated; above 1 ct runs again on its output (2 = two passes)",
    )
    parser.add_argument(
        "--rule",
        choices=("robust", "patients", "mean"),
        default="robust",
        help="robust: the likeliest to meet the targets on the mean of an unseen set of patients "
        "(resampled from these; the default since 2026-12-02); patients: most patients meeting every "
        "target at once (2026-12-02 night); mean: the best PSNR among the candidates (the rule before)",
    )
    parser.add_argument(
        "--routine-min",
        type=float,
        default=None,
        help="the share of the routine scans' flat-tissue noise a candidate still removes (default 0.30 "
        "for robust, 0.35 for patients and mean)",
    )
    parser.add_argument(
        "--psnr-margin",
        type=float,
        default=None,
        help="patients rule: the mean PSNR over BM3D told (dB) a candidate keeps at every dose (default "
        "1.25); robust rule: what a resampled mean must keep (default 1.3: the target's 1 dB and 0.3)",
    )
    parser.add_argument(
        "--texture-margin",
        type=float,
        default=0.01,
        help="robust rule: how much closer than BM3D's a resampled mean texture distance must be",
    )
    parser.add_argument(
        "--resample",
        type=int,
        default=ROBUST_PATIENTS,
        help="robust rule: patients per resample (default 27, as many as the project's other CT patients)",
    )
    parser.add_argument("--summarize", action="store_true", help="run nothing: judge the files under --out")
    args = parser.parse_args()

    bm3d_folder = args.bm3d or args.out.with_name(args.out.name + "-bm3d")
    if not args.summarize:
        images = [im for path in sorted(args.data.iterdir()) for im in ldct.load_ldct_images(path)]
        # the models blind (what the rule judges), BM3D told the true std
        result = ldct.ldct_benchmark(
            ramp_choices(args.ramps, [float(v) for v in args.strengths.split(",")]),
            images,
            seed=args.seed,
            progress=True,
            modes=("blind",),
            kernel=args.kernel,
        )
        result.save(args.out)
        if args.bm3d is None:
            bm3d = ldct.ldct_benchmark(
                benchmark_choices([], classical=("bm3d",)),
                images,
                seed=args.seed,
                routine=False,
                progress=True,
                modes=("told",),
                kernel=args.kernel,
            )
            bm3d.save(bm3d_folder)

    rows, bm3d_rows = _rows(args.out / "per_image.csv"), _rows(bm3d_folder / "per_image.csv")
    summary = _summary(rows)
    told = {dose: entry for (dose, method), entry in _summary(bm3d_rows).items() if method.startswith("bm3d")}
    per_patient = ldct._patient_means(rows)
    bm3d_patients = {
        str(dose): metrics
        for (dose, method), metrics in ldct._patient_means(bm3d_rows).items()
        if method.startswith("bm3d")
    }
    routine = {
        method: entry["noise_reduction"]
        for (_, method), entry in _summary(_rows(args.out / "routine.csv")).items()
    }
    doses = sorted({dose for dose, _ in summary}, key=float, reverse=True)
    methods = sorted({method for _, method in summary} - {ldct.NOISY})
    columns: list[str] = []
    values: dict[str, dict[str, float]] = {}
    reference: dict[str, tuple[float, float]] = {}
    for dose in doses:
        values[f"PSNR {dose}"] = {m: summary[(dose, m)]["psnr"] for m in methods}
        values[f"dist. {dose}"] = {m: summary[(dose, m)]["nps_distance"] for m in methods}
        columns += [f"PSNR {dose}", f"dist. {dose}"]
        reference[dose] = (told[dose]["psnr"], told[dose]["nps_distance"])
    routine_min = args.routine_min
    if routine_min is None:
        routine_min = ROBUST_ROUTINE_MIN if args.rule == "robust" else 0.35
    psnr_margin = args.psnr_margin
    if psnr_margin is None:
        psnr_margin = ROBUST_PSNR_MARGIN if args.rule == "robust" else 1.25
    margin = psnr_margin if args.rule == "patients" else -np.inf
    meets = {
        m: routine[m] >= routine_min
        and (
            args.rule == "robust"  # the resamples judge PSNR and texture
            or (
                all(values[f"dist. {d}"][m] <= reference[d][1] for d in doses)
                and all(values[f"PSNR {d}"][m] >= reference[d][0] + margin for d in doses)
            )
        )
        for m in methods
    }
    won = {
        m: sum(
            _patients_won(per_patient[(dose, m)], bm3d_patients[dose])
            for (dose, method) in per_patient
            if method == m
        )
        for m in methods
    }
    robust = {
        m: robust_success(
            {dose: per_patient[(dose, m)] for dose in doses},
            bm3d_patients,
            psnr_margin=psnr_margin,
            texture_margin=args.texture_margin,
            size=args.resample,
            seed=args.seed,
        )
        for m in methods
    }
    last = f"PSNR {doses[-1]}"
    table: dict[str, list[object]] = {
        m: [*(values[c][m] for c in columns), routine[m], won[m], robust[m], meets[m]]
        for m in sorted(methods, key=lambda m: -values[last][m])
    }
    print(
        "BM3D told the true std: "
        + "; ".join(f"{d}: {p:.2f} dB, distance {t:.3f}" for d, (p, t) in reference.items())
    )
    print(_markdown([*columns, "routine removed", "patients won", "robust", "meets"], table))
    candidates = [m for m in methods if meets[m] and "coarse" in m]
    if not candidates:
        print("no candidate meets the rule")
        return 1
    if args.rule == "robust":  # the likeliest on an unseen set (to 0.01), then the best PSNR
        best = max(candidates, key=lambda m: (round(robust[m], 2), values[last][m]))
    elif args.rule == "patients":  # most (dose, patient) pairs meeting every target, then the best PSNR
        best = max(candidates, key=lambda m: (won[m], values[last][m]))
    else:
        best = max(candidates, key=lambda m: values[last][m])
    print(f"chosen: {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
