"""The low-dose CT benchmark protocol (meddenoise.evaluation.ldct, `benchmark --protocol ldct`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.data.intensity import IntensitySpec
from meddenoise.denoiser import Denoiser
from meddenoise.evaluation.ldct import (
    LDCTResult,
    ldct_benchmark,
    load_ldct_images,
    matched_cutoff,
    parse_doses,
    parse_kernel,
    true_noise_std,
)
from meddenoise.methods import DenoiserChoice
from meddenoise.metrics import psnr
from meddenoise.metrics.ct import TISSUE_BANDS, tissue_mask
from meddenoise.noise import LowDoseCTNoise, estimate_ct_noise

CT = Path(get_testdata_file("CT_small.dcm"))  # 128x128, PixelSpacing 0.661468 mm, PatientID set
runner = CliRunner()


class Recorder(Denoiser):
    """Takes a noise level, records it, returns its input."""

    name = "recorder"
    uses_sigma = True

    def __init__(self) -> None:
        self.sigmas: list[float | None] = []

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        self.sigmas.append(sigma)
        return image


def test_scores_follow_the_protocol_and_told_and_blind_get_their_levels() -> None:
    [image] = load_ldct_images(CT)
    assert image.pixel_mm == pytest.approx(0.661468) and image.patient
    recorder = Recorder()
    span = 2048.0  # the window mapping below: -1024..1024 HU
    choice = DenoiserChoice(recorder, IntensitySpec("window", level=0, width=span), "recorder", "instance")
    result = ldct_benchmark(
        {"rec": choice}, [image], (0.5,), seed=3, routine=False, progress=False, kernel="ramp"
    )
    # the noisy slice, rebuilt from the seed rule: child 0 of child 0 of SeedSequence(3)
    child = np.random.SeedSequence(3).spawn(1)[0].spawn(1)[0]
    clean = image.full.astype(np.float64)
    noisy = LowDoseCTNoise(dose=0.5, pixel_mm=0.661468)(clean, rng=np.random.default_rng(child))
    noisy32 = noisy.astype(np.float32)
    expected_psnr = psnr(np.clip(noisy32, -1024, 1900), np.clip(clean, -1024, 1900), data_range=2924.0)
    row = next(r for r in result.rows if r["method"] == "noisy")
    assert row["psnr"] == pytest.approx(expected_psnr, rel=1e-6)
    # told: the std of the simulated noise in fat and soft tissue; blind: the CT estimate of the noisy slice
    told, blind = recorder.sigmas
    assert told * span == pytest.approx(true_noise_std(noisy32, clean), rel=1e-5)
    assert blind * span == pytest.approx(estimate_ct_noise(noisy32), rel=1e-5)
    assert {r["method"] for r in result.rows} == {"noisy", "rec (true σ)", "rec (blind)"}
    text = result.to_markdown()
    assert "DIFFERENT dataset" in text and "| RED-CNN | 28.002 |" in text


def test_modes_keep_only_the_runs_asked_for() -> None:
    [image] = load_ldct_images(CT)
    recorder = Recorder()
    choice = DenoiserChoice(recorder, IntensitySpec("window", level=0, width=2048.0), "recorder", "instance")
    result = ldct_benchmark(
        {"rec": choice}, [image], (0.5,), routine=False, progress=False, kernel="ramp", modes=("blind",)
    )
    assert {r["method"] for r in result.rows} == {"noisy", "rec (blind)"}
    assert len(recorder.sigmas) == 1  # the told run never ran
    with pytest.raises(ValueError, match="no methods"):
        ldct_benchmark({"rec": choice}, [image], (0.5,), routine=False, progress=False, modes=("plain",))


def test_routine_dose_measures_the_unaltered_scan() -> None:
    [image] = load_ldct_images(CT)
    choice = DenoiserChoice(Recorder(), IntensitySpec("window", level=0, width=2048), "identity", "instance")
    result = ldct_benchmark({"id": choice}, [image], (), routine=True, progress=False)
    [row] = result.routine
    # an identity leaves HU, edges and noise as they are
    assert row["shift_soft_hu"] == pytest.approx(0.0, abs=1e-3) and row["gradient_ratio"] == pytest.approx(
        1.0
    )
    assert row["noise_reduction"] == pytest.approx(0.0, abs=1e-6)


def test_scores_are_averaged_per_patient_first() -> None:
    rows = [
        {"dose": 0.25, "method": "m", "patient": "a", "psnr": 30.0},
        {"dose": 0.25, "method": "m", "patient": "b", "psnr": 40.0},
        {"dose": 0.25, "method": "m", "patient": "b", "psnr": 40.0},
        {"dose": 0.25, "method": "m", "patient": "b", "psnr": 40.0},
    ]
    [entry] = LDCTResult(rows=rows, routine=[], methods=("m",), doses=(0.25,)).summary()
    assert entry["psnr"] == pytest.approx(35.0)  # not 37.5, the mean over slices
    assert entry["patients"] == 2


def test_patients_are_counted_against_bm3d_told_on_psnr_texture_and_edges() -> None:
    def row(method: str, patient: str, psnr: float, distance: float, edges: float) -> dict[str, object]:
        values = {"psnr": psnr, "nps_distance": distance, "gradient_ratio": edges}
        return {"dose": 0.1, "method": method, "patient": patient, **values}

    rows = [
        row("noisy", "a", 30.0, 0.0, 1.0),
        row("bm3d (true σ)", "a", 35.0, 0.10, 0.99),
        row("bm3d (true σ)", "b", 36.0, 0.10, 0.99),
        row("bm3d (true σ)", "c", 36.0, 0.10, 0.99),
        # patient a: +1.5 dB, closer, sharper; patient b: its two slices average +0.5 dB, farther, blunter;
        # patient c: +1.5 dB and closer, but blunter (not every target at once)
        row("ct (blind)", "a", 36.5, 0.05, 0.995),
        row("ct (blind)", "b", 35.0, 0.20, 0.98),
        row("ct (blind)", "b", 38.0, 0.20, 0.98),
        row("ct (blind)", "c", 37.5, 0.05, 0.98),
    ]
    methods = ("noisy", "bm3d (true σ)", "ct (blind)")
    result = LDCTResult(rows=rows, routine=[], methods=methods, doses=(0.1,))
    [counts] = result.against_reference()
    assert counts == {
        "dose": 0.1,
        "method": "ct (blind)",
        "patients": 3,
        "psnr_margin": 2,
        "texture_closer": 2,
        "edges_sharper": 1,
        "every_target": 1,
    }
    assert "| ct (blind) | 0.1 | 2 of 3 | 2 of 3 | 1 of 3 | 1 of 3 |" in result.to_markdown()
    # without BM3D told in the run there is nothing to count against
    alone = LDCTResult(
        rows=[r for r in rows if r["method"] != "bm3d (true σ)"], routine=[], methods=methods, doses=(0.1,)
    )
    assert alone.against_reference() == [] and "Patient by patient" not in alone.to_markdown()


def test_true_noise_std_counts_fat_and_soft_tissue_only() -> None:
    clean = np.full((64, 64), 40.0)
    clean[:, :32] = -1000.0  # air: its noise is not counted
    noise = np.zeros_like(clean)
    noise[:, :32] = 500.0 * np.random.default_rng(0).standard_normal((64, 32))
    noise[:, 32:] = 10.0 * np.random.default_rng(1).standard_normal((64, 32))
    mask = tissue_mask(clean, (-200.0, 300.0))
    assert true_noise_std(clean + noise, clean) == pytest.approx(noise[mask].std())
    assert mask.any() and not mask[:, :30].any() and TISSUE_BANDS["soft"][0] == 0.0


def test_bad_doses_are_refused() -> None:
    assert parse_doses("0.25,0.1") == (0.25, 0.1) and parse_doses("none") == ()
    with pytest.raises(ValueError, match="fraction"):
        parse_doses("1.5")
    with pytest.raises(ValueError, match="no dose"):
        parse_doses("")


def test_kernels_are_parsed_and_bad_ones_refused() -> None:
    assert parse_kernel("ramp") == ("ramp", 1.0) and parse_kernel("Hann:0.5") == ("hann", 0.5)
    assert parse_kernel("matched") is None
    for bad, fragment in (("gauss", "unknown CT kernel"), ("hann:x", "not a number"), ("hann:0", "(0, 1]")):
        with pytest.raises(ValueError, match=None) as info:
            parse_kernel(bad)
        assert fragment in str(info.value)


def _water_phantom(size: int = 256) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    hu = np.full((size, size), -1000.0)
    hu[xx**2 + yy**2 < (0.45 * size) ** 2] = 40.0
    return hu


@pytest.mark.parametrize("cutoff", [0.3, 0.5, 1.0])
def test_matched_cutoff_recovers_the_kernel_of_the_scans_own_noise(cutoff: float) -> None:
    phantom = _water_phantom()
    # a "routine scan": the phantom with noise reconstructed by a Hann kernel of a known cutoff
    scan = LowDoseCTNoise(dose=0.5, pixel_mm=0.7, filter="hann", cutoff=cutoff)(
        phantom, rng=np.random.default_rng(0)
    )
    found = matched_cutoff(scan, 0.7, np.random.default_rng(1))
    assert found == pytest.approx(cutoff, abs=0.1)


def test_a_kernel_sets_the_texture_of_the_simulated_noise_and_is_recorded() -> None:
    [image] = load_ldct_images(CT)
    choice = DenoiserChoice(Recorder(), IntensitySpec("window", level=0, width=2048), "identity", "instance")
    runs = {
        kernel: ldct_benchmark(
            {"id": choice}, [image], (0.5,), seed=3, routine=False, progress=False, kernel=kernel
        )
        for kernel in ("ramp", "hann:0.4", "matched")
    }
    noisy = {k: next(r for r in res.rows if r["method"] == "noisy") for k, res in runs.items()}
    # a soft kernel: coarser noise (lower NPS frequencies) and less of it, from the same photon draws
    assert noisy["hann:0.4"]["nps_mean"] < noisy["ramp"]["nps_mean"]
    assert noisy["hann:0.4"]["sigma_true"] < noisy["ramp"]["sigma_true"]
    # ... whose share of coarse mottle (below 0.1 cycles/mm) is larger
    coarse_share = {
        k: r["nps_coarse_hu"] ** 2 / (r["nps_coarse_hu"] ** 2 + r["nps_fine_hu"] ** 2)
        for k, r in noisy.items()
    }
    assert coarse_share["hann:0.4"] > 1.5 * coarse_share["ramp"]
    assert "error < 0.1 /mm HU" in runs["ramp"].to_markdown()
    assert noisy["ramp"]["kernel_cutoff"] == 1.0 and noisy["hann:0.4"]["kernel_cutoff"] == 0.4
    assert runs["hann:0.4"].config["kernels"] == ["hann:0.4"]
    assert "kernel hann:0.4" in runs["hann:0.4"].to_markdown()
    # matched: the scan's own level too; at half dose the added noise equals the scan's own (sqrt(1/0.5 - 1) = 1)
    assert noisy["matched"]["sigma_true"] == pytest.approx(estimate_ct_noise(image.full), rel=0.01)
    matched = runs["matched"].config["kernels"][0]
    assert matched.startswith("hann:") and "kernel matched to each scan" in runs["matched"].to_markdown()
    with pytest.raises(ValueError, match="unknown CT kernel"):
        ldct_benchmark({"id": choice}, [image], (0.5,), routine=False, progress=False, kernel="sharp")


class Blur(Denoiser):
    """Smooths by a Gaussian of 1.5 px whatever it is told: a "plastic" texture left behind."""

    name = "blur"

    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        from scipy import ndimage

        return ndimage.gaussian_filter(image, 1.5)


def test_texture_distance_is_zero_for_the_noise_itself_and_grows_for_a_blur() -> None:
    [image] = load_ldct_images(CT)
    window = IntensitySpec("window", level=0, width=2048)
    choices = {
        "id": DenoiserChoice(Recorder(), window, "identity", "instance"),
        "blur": DenoiserChoice(Blur(), window, "blur", "instance"),
    }
    result = ldct_benchmark(choices, [image], (0.25,), seed=1, routine=False, progress=False, kernel="ramp")
    rows = {r["method"]: r for r in result.rows}
    # the identity's error is the added noise (up to float32 rounding through the intensity mapping)
    assert rows["noisy"]["nps_distance"] == 0.0
    assert rows["id (true σ)"]["nps_distance"] == pytest.approx(0.0, abs=1e-5)
    # a blur leaves low-frequency noise (and removes some anatomy): a texture far from the ramp's fine grain
    assert rows["blur"]["nps_distance"] > 0.3
    assert rows["blur"]["nps_mean"] < rows["noisy"]["nps_mean"]
    assert "texture dist." in result.to_markdown()


@pytest.mark.integration
def test_cli_runs_the_ldct_protocol(tmp_path: Path) -> None:
    out = tmp_path / "ldct"
    args = ["benchmark", "--protocol", "ldct", "--data", str(CT), "--models", "", "--classical", "median",
            "--doses", "0.5", "--kernel", "hann:0.6", "--out", str(out), "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "Simulated dose 0.5 (lowdose-ct, kernel hann:0.6" in result.output and "| median |" in result.output
    )
    assert "Routine dose" in result.output and "DIFFERENT dataset" in result.output
    assert (out / "results.json").exists() and (out / "per_image.csv").exists()
    assert "<table>" in (out / "report.html").read_text() and "RED-CNN" in (out / "report.html").read_text()
    png = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(png)
    refused = runner.invoke(app, ["benchmark", "--protocol", "ldct", "--data", str(png), "--no-progress"])
    assert refused.exit_code == 2 and "not a CT image in HU" in refused.output
