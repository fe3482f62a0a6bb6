"""scripts/calibrate_texture_ramp.py: its rule picks the best PSNR among the ramps that keep the texture
(distance at or under BM3D's at every dose) and the routine noise reduction; the shipped blend is a ramp it tried."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from types import ModuleType

import pytest

from meddenoise.models.texture import (
    BLEND_TEXTURE_AMOUNT,
    BLEND_TEXTURE_FULL_HU,
    BLEND_TEXTURE_START_HU,
)

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
    ramps: dict[str, tuple[float, float, float]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    """The script's verdict on made-up results: ``ramps`` maps a method to (PSNR, distance, routine
    removed), the same at both doses; BM3D told is at distance 0.1; two patients with the same values."""
    rows, routine = [], []
    for method, (psnr, distance, removed) in {"noisy": (30.0, 0.0, 0.0), **ramps}.items():
        for dose in (0.25, 0.1):
            for patient in ("A", "B"):
                rows.append(
                    {
                        "dose": dose,
                        "patient": patient,
                        "method": method,
                        "psnr": psnr,
                        "nps_distance": distance,
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
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args, "--summarize"])
    code = _script().main()
    return code, capsys.readouterr().out


def test_the_rule_picks_the_best_psnr_among_the_ramps_that_keep_texture_and_routine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
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
    )
    assert code == 0 and out.strip().splitlines()[-1] == "chosen: ct 0.6 coarse 1 20-35 HU (blind)", out
    none = {"ct 0.5 coarse 1 20-35 HU (blind)": (37.0, 0.2, 0.33)}
    code, out = _summarize(tmp_path / "none", none, monkeypatch, capsys)
    assert code == 1 and "no candidate meets the rule" in out


def test_the_shipped_blend_is_among_the_ramps_tried() -> None:
    shipped = f"{BLEND_TEXTURE_AMOUNT:g}:1:{BLEND_TEXTURE_START_HU:g}:{BLEND_TEXTURE_FULL_HU:g}"
    ramps = _script().DEFAULT_RAMPS.split(",")
    assert shipped in ramps and len(ramps) == len(set(ramps)) == 46


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
