"""scripts/calibrate_texture_ramp.py: its rule (``--rule robust``) keeps the ramps that keep the routine noise
reduction and picks the one likeliest to keep a PSNR and a texture margin over BM3D on the mean of resampled
patients; ``--rule patients`` (the rule before) keeps the texture and a PSNR margin on the mean and picks the
one that meets every target in the most patients, ``--rule mean`` (the one before it) the best PSNR; the
shipped blend is a ramp it tried."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from types import ModuleType

import pytest

from meddenoise.models.texture import (
    BLEND_TEXTURE_AMOUNT,
    BLEND_TEXTURE_CORRELATED_AMOUNT,
    BLEND_TEXTURE_CORRELATED_BETWEEN,
    BLEND_TEXTURE_FULL_HU,
    BLEND_TEXTURE_START_HU,
)

#: A value the same for both made-up patients, or one each (A, B).
PerPatient = float | tuple[float, float]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "calibrate_texture_ramp.py"


def _script() -> ModuleType:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import calibrate_texture_ramp
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return calibrate_texture_ramp


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _summarize(
    tmp_path: Path,
    ramps: dict[str, tuple[PerPatient, PerPatient, float]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *options: str,
) -> tuple[int, str]:
    """The script's verdict on made-up results: ``ramps`` maps a method to (PSNR, distance, routine
    removed), the same at both doses, PSNR and distance the same for both patients or one each; BM3D told
    is at 31 dB and distance 0.1 for both. ``options``: more of the script's arguments."""
    rows, routine = [], []

    def of(value: PerPatient, patient: int) -> float:
        return value[patient] if isinstance(value, tuple) else value

    for method, (psnr, distance, removed) in {"noisy": (30.0, 0.0, 0.0), **ramps}.items():
        for dose in (0.25, 0.1):
            for index, patient in enumerate(("A", "B")):
                rows.append(
                    {
                        "dose": dose,
                        "patient": patient,
                        "method": method,
                        "psnr": of(psnr, index),
                        "nps_distance": of(distance, index),
                    }
                )
        if method != "noisy":
            routine += [{"method": method, "patient": p, "noise_reduction": removed} for p in ("A", "B")]
    _write(tmp_path / "out" / "per_image.csv", rows)
    _write(tmp_path / "out" / "routine.csv", routine)
    bm3d = [
        {"dose": d, "patient": p, "method": "bm3d (true σ)", "psnr": 31.0, "nps_distance": 0.1}
        for d in (0.25, 0.1)
        for p in ("A", "B")
    ]
    _write(tmp_path / "bm3d" / "per_image.csv", bm3d)
    args = ["--data", str(tmp_path), "--out", str(tmp_path / "out"), "--bm3d", str(tmp_path / "bm3d")]
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args, "--summarize", *options])
    code = _script().main()
    return code, capsys.readouterr().out


def test_the_mean_rule_picks_the_best_psnr_among_the_ramps_that_keep_texture_and_routine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mean = ("--rule", "mean", "--routine-min", "0.30")  # the rule before 2026-12-02 night, as documented
    code, out = _summarize(
        tmp_path,
        {
            "ct t0 (blind)": (40.0, 0.3, 0.40),  # best PSNR, texture lost: never a candidate
            "ct 0.9 coarse 1 20-35 HU (blind)": (35.0, 0.05, 0.35),
            "ct 0.6 coarse 1 20-35 HU (blind)": (36.0, 0.10, 0.31),  # at BM3D's distance: meets, best
            "ct 0.5 coarse 1 20-35 HU (blind)": (37.0, 0.11, 0.33),  # over BM3D's distance
            "ct 0.4 coarse 1 15-30 HU (blind)": (38.0, 0.08, 0.29),  # too little routine noise removed
        },
        monkeypatch,
        capsys,
        *mean,
    )
    assert code == 0 and out.strip().splitlines()[-1] == "chosen: ct 0.6 coarse 1 20-35 HU (blind)", out
    none = {"ct 0.5 coarse 1 20-35 HU (blind)": (37.0, 0.2, 0.33)}
    code, out = _summarize(tmp_path / "none", none, monkeypatch, capsys, *mean)
    assert code == 1 and "no candidate meets the rule" in out


def test_the_patients_rule_picks_the_ramp_that_meets_every_target_in_the_most_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Among the ramps whose means keep BM3D's texture, 35 % of the routine noise removed and 1.25 dB over
    BM3D's PSNR: the most (dose, patient) pairs at >= 1 dB over BM3D *and* closer to its texture, then the
    best PSNR."""
    rising = "ct 0.4 coarse 1 15-20 HU to 0.7 at corr 0.7-0.9 (blind)"
    ramps: dict[str, tuple[PerPatient, PerPatient, float]] = {
        "ct 0.6 coarse 1 15-30 HU (blind)": (34.0, (0.05, 0.12), 0.36),  # one patient of two: 2 pairs
        rising: (33.0, 0.09, 0.36),  # both patients: 4 pairs, chosen over the better PSNR
        "ct 0.5 coarse 1 15-30 HU (blind)": (33.5, (0.09, 0.11), 0.36),  # B's texture lost: 2 pairs
        "ct 0.3 coarse 1 15-30 HU (blind)": (33.5, 0.09, 0.34),  # 4 pairs, routine under 35 %
    }
    patients = ("--rule", "patients")
    code, out = _summarize(tmp_path, ramps, monkeypatch, capsys, *patients)
    assert code == 0 and out.strip().splitlines()[-1] == f"chosen: {rising}", out
    assert f"| {rising} | 33.000 | 0.090 | 33.000 | 0.090 | 0.360 | 4 |" in out
    # 1.2 dB over BM3D on the mean: every patient >= 1 dB, yet under the margin the rule keeps
    close = {"ct 0.6 coarse 1 15-30 HU (blind)": (32.2, 0.09, 0.36)}
    code, out = _summarize(tmp_path / "close", close, monkeypatch, capsys, *patients)
    assert code == 1 and "no candidate meets the rule" in out
    code, out = _summarize(tmp_path / "close1", close, monkeypatch, capsys, *patients, "--psnr-margin", "1.0")
    assert code == 0 and "chosen: ct 0.6 coarse 1 15-30 HU (blind)" in out


def test_the_robust_rule_picks_the_ramp_likeliest_to_keep_both_margins_on_resampled_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """BM3D told is at 31 dB and distance 0.1: a ramp counts in a resample of 27 patients when its means keep
    1.3 dB and 0.01 of texture distance over BM3D's at both doses. Steady margins win over a better mean
    that one patient carries; a mean under the PSNR margin never counts; the routine floor is 30 %."""
    steady = "ct 0.5 coarse 1 12-24 HU to 0.7 at corr 0.6-0.9 (blind)"
    uneven = "ct 0.6 coarse 1 15-30 HU (blind)"
    ramps: dict[str, tuple[PerPatient, PerPatient, float]] = {
        steady: (32.5, 0.08, 0.31),  # +1.5 dB and 0.02 closer in both patients: every resample
        uneven: ((36.0, 30.5), (0.02, 0.15), 0.36),  # +2.25 dB and 0.015 on the mean, from patient A alone
        "ct 0.4 coarse 1 15-20 HU (blind)": (32.2, 0.05, 0.36),  # +1.2 dB: under the margin in every resample
        "ct 0.3 coarse 1 15-20 HU (blind)": (33.0, 0.05, 0.29),  # both margins, too little routine
    }
    code, out = _summarize(tmp_path, ramps, monkeypatch, capsys)
    assert code == 0 and out.strip().splitlines()[-1] == f"chosen: {steady}", out
    assert f"| {steady} | 32.500 | 0.080 | 32.500 | 0.080 | 0.310 | 4 | 1.000 | True |" in out
    assert "| ct 0.4 coarse 1 15-20 HU (blind) | 32.200 | 0.050 | 32.200 | 0.050 | 0.360 | 4 | 0.000 |" in out
    share = float(next(line for line in out.splitlines() if line.startswith(f"| {uneven} |")).split("|")[-3])
    assert 0.3 < share < 0.9  # about the chance that patient A makes 13 or more of the 27
    module = _script()
    mine = {"0.25": {"psnr": {"A": 36.0, "B": 30.5}, "nps_distance": {"A": 0.02, "B": 0.15}}}
    bm3d = {"0.25": {"psnr": {"A": 31.0, "B": 31.0}, "nps_distance": {"A": 0.1, "B": 0.1}}}
    assert module.robust_success(mine, bm3d, seed=1) == pytest.approx(share, abs=0.05)
    assert module.robust_success(mine, bm3d, texture_margin=-1.0) > 0.95  # PSNR alone: A needs a third
    # a looser PSNR margin lets the one at +1.2 dB count, and it is then the best PSNR at the same share
    code, out = _summarize(tmp_path / "loose", ramps, monkeypatch, capsys, "--psnr-margin", "1.1")
    assert code == 0 and "chosen: ct 0.4 coarse 1 15-20 HU (blind)" not in out  # 32.2 < 32.5 at share 1


def test_the_shipped_blend_is_among_the_ramps_tried() -> None:
    low, high = BLEND_TEXTURE_CORRELATED_BETWEEN
    shipped = (
        f"{BLEND_TEXTURE_AMOUNT:g}:1:{BLEND_TEXTURE_START_HU:g}:{BLEND_TEXTURE_FULL_HU:g}"
        f":{BLEND_TEXTURE_CORRELATED_AMOUNT:g}:{low:g}:{high:g}"
    )
    ramps = _script().DEFAULT_RAMPS.split(",")
    assert shipped in ramps and len(ramps) == len(set(ramps)) == 94


def test_a_ramp_whose_amount_rises_with_the_correlation_is_named_and_built_as_asked() -> None:
    choices = _script().ramp_choices("0.4:1:15:20:0.7:0.7:0.9", (2.0,))
    name = "ct s2 0.4 coarse 1 15-20 HU to 0.7 at corr 0.7-0.9"
    assert list(choices) == ["ct s2 t0", "ct s2 (default)", name]
    ramp = choices[name].denoiser.base.amount  # under the strength: the texture wrapper's ramp
    assert (ramp.amount, ramp.correlated_amount, ramp.correlated_between) == (0.4, 0.7, (0.7, 0.9))
    assert (ramp.start * 2048, ramp.full * 2048) == pytest.approx((15.0, 20.0))
    with pytest.raises(SystemExit, match="expected amount:coarse:start:full"):
        _script().ramp_choices("0.4:1:15:20:0.7", (1.0,))


def test_candidates_at_strength_two_run_the_network_twice_and_are_cached_apart() -> None:
    """``--strengths 1,2``: the same ramp once per strength; the shared network output is kept per number of
    passes, so a two-pass candidate never reuses a one-pass output (or the other way round)."""
    import numpy as np

    choices = _script().ramp_choices("0.6:1:20:35", (1.0, 2.0))
    assert list(choices) == [
        "ct t0",
        "ct (default)",
        "ct 0.6 coarse 1 20-35 HU",
        "ct s2 t0",
        "ct s2 (default)",
        "ct s2 0.6 coarse 1 20-35 HU",
    ]
    image = np.random.default_rng(0).normal(0.52, 0.02, (1, 64, 64)).astype(np.float32)
    once = choices["ct t0"].denoiser.denoise_batch(image, sigma=0.02)
    twice = choices["ct s2 t0"].denoiser.denoise_batch(image, sigma=0.02)
    assert float((twice - image).std()) > float((once - image).std())  # the second pass removed more
    np.testing.assert_array_equal(choices["ct t0"].denoiser.denoise_batch(image, sigma=0.02), once)


def test_the_noise_kernel_is_handed_to_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--kernel hann:0.9``: every slice gets a sharp kernel's noise (matched, the scan's own, by default)."""
    script = _script()
    told: list[object] = []

    class Stop(Exception):
        pass

    def benchmark(*args: object, **kwargs: object) -> None:
        told.append(kwargs.get("kernel"))
        raise Stop

    monkeypatch.setattr(script.ldct, "load_ldct_images", lambda path: [])
    monkeypatch.setattr(script.ldct, "ldct_benchmark", benchmark)
    monkeypatch.setattr(script, "ramp_choices", lambda specs, strengths: {})
    (tmp_path / "data").mkdir()
    for extra in ([], ["--kernel", "hann:0.9"]):
        argv = [str(SCRIPT), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), *extra]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(Stop):
            script.main()
    assert told == ["matched", "hann:0.9"]
