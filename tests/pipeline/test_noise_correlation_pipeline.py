"""The noise's kind (its lag-1 correlation) reaches a model that takes it: `denoise` and the benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from meddenoise.data.intensity import IntensitySpec
from meddenoise.evaluation.benchmark import BenchImage, benchmark
from meddenoise.methods import DenoiserChoice
from meddenoise.models.denoiser import ModelDenoiser
from meddenoise.pipeline import DenoiseOptions
from meddenoise.pipeline.core import denoise_pixels, describe_noise, parse_noise_correlation

CT_WINDOW = IntensitySpec(method="window", level=0.0, width=2048.0)


class RecordingKind(nn.Module):
    """An identity 'network' that records the noise correlation it is told."""

    uses_sigma = True
    uses_correlation = True

    def __init__(self) -> None:
        super().__init__()
        self.told: list[float] = []

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, *, correlation: torch.Tensor) -> torch.Tensor:
        self.told.extend(float(c) for c in correlation)
        return x


def _phantom_hu(rng: np.random.Generator, *, blur: float) -> np.ndarray:
    """A 256x256 body of fat and soft tissue in HU with 15 HU of noise, blurred by ``blur`` px (0: white)."""
    yy, xx = np.mgrid[:256, :256] - 127.5
    body = np.where(xx**2 + yy**2 < 120**2, np.where(xx < 0, 40.0, -100.0), -1000.0)
    noise = rng.standard_normal(body.shape)
    if blur:
        noise = ndimage.gaussian_filter(noise, blur)
    return (body + 15.0 * noise / noise.std()).astype(np.float32)


def test_parse_noise_correlation() -> None:
    assert parse_noise_correlation("white") == 0.0
    assert parse_noise_correlation(" Auto ") == "auto"
    assert parse_noise_correlation(0.5) == 0.5
    for bad in ("pink", "1.5", -2.0):
        with pytest.raises(ValueError, match="noise correlation"):
            parse_noise_correlation(bad)


def test_denoise_estimates_the_kind_in_hu_or_tells_the_given_one() -> None:
    rng = np.random.default_rng(0)
    network = RecordingKind()
    denoiser = ModelDenoiser(network, name="kind", channels_last=False)
    scanner, white = _phantom_hu(rng, blur=1.0), _phantom_hu(rng, blur=0.0)
    _, report = denoise_pixels(
        np.stack([scanner, white]), denoiser, intensity=CT_WINDOW, units="HU", modality="CT"
    )
    assert report.uses_correlation and len(report.correlations) == 2
    assert report.correlations[0] > 0.5 and report.correlations[1] < 0.15
    assert network.told == pytest.approx(report.correlations)  # what was read is what the network got
    low, high = sorted(report.correlations)
    assert f"correlation {low:.2f}-{high:.2f};" in describe_noise([report])  # estimated: no "(given)"
    network.told.clear()
    options = DenoiseOptions(noise_correlation="white")
    _, report = denoise_pixels(
        scanner, denoiser, intensity=CT_WINDOW, units="HU", modality="CT", options=options
    )
    assert network.told == [0.0] and report.correlations == [0.0]
    assert describe_noise([report]).endswith("strength 1.0") and "correlation 0.00 (given)" in describe_noise(
        [report]
    )
    assert denoiser.correlation is None  # told for the call only


def test_a_model_without_the_input_reports_no_correlation() -> None:
    class Plain(nn.Module):
        uses_sigma = True

        def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            return x

    rng = np.random.default_rng(1)
    denoiser = ModelDenoiser(Plain(), name="plain", channels_last=False)
    _, report = denoise_pixels(_phantom_hu(rng, blur=1.0), denoiser, intensity=CT_WINDOW, units="HU")
    assert not report.uses_correlation and report.correlations == []
    assert "correlation" not in describe_noise([report])


def test_the_benchmark_tells_white_noise_when_told_and_estimates_when_blind() -> None:
    rng = np.random.default_rng(2)
    network = RecordingKind()
    choice = DenoiserChoice(
        ModelDenoiser(network, name="kind", channels_last=False), CT_WINDOW, "kind", "checkpoint"
    )
    image = BenchImage("phantom", _phantom_hu(rng, blur=1.5), modality="CT", units="HU")
    benchmark({"kind": choice}, [image], "20", seed=0, modes=("told",), progress=False)
    assert network.told == [0.0]  # the benchmark's noise is white: said so, as BM3D assumes
    network.told.clear()
    benchmark({"kind": choice}, [image], "0", seed=0, modes=("blind",), progress=False)
    assert network.told and network.told[0] > 0.5  # read from the image: the scanner's correlated noise


def test_a_noise_kind_given_to_a_denoiser_that_takes_none_is_said_once(tmp_path: Path) -> None:
    """`--noise-correlation white` for a filter: one note per run, never for `auto` or a model that takes it."""
    import shutil
    import warnings

    from pydicom.data import get_testdata_file
    from typer.testing import CliRunner

    from meddenoise import denoise
    from meddenoise.cli.main import app

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.dcm", "b.dcm"):
        shutil.copy(get_testdata_file("CT_small.dcm"), folder / name)
    args = ["denoise", str(folder), "--method", "bm3d", "-q"]  # takes a level, not a kind
    given = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "o1"), "--noise-correlation", "white"])
    assert given.exit_code == 0, given.output
    assert given.output.count("note: bm3d does not take the noise's kind") == 1
    assert "does not take a noise level" not in given.output
    auto = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "o2")])
    assert auto.exit_code == 0 and "does not take" not in auto.output, auto.output
    field = np.random.default_rng(0).normal(40.0, 15.0, (64, 64)).astype(np.float32)
    with pytest.warns(UserWarning, match="median does not take the noise's kind"):
        denoise(field, method="median", modality="CT", noise_correlation="white")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        denoise(field, model="ct", modality="CT", noise_correlation="white")  # ct takes it: no note
        denoise(field, method="median", modality="CT")  # auto: no note


def test_auto_texture_gives_the_scanners_slices_one_more_pass_and_says_how_many() -> None:
    """``--texture auto`` around a network told the noise's kind that repeats (as ``ct``): a slice read as a
    scanner's noise runs twice, a white one once, and the line says on how many slices."""
    from meddenoise.models.texture import TextureKeeping, auto_texture_ramp

    class CountingKind(RecordingKind):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x: torch.Tensor, sigma: torch.Tensor, *, correlation: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return super().forward(x, sigma, correlation=correlation)

    rng = np.random.default_rng(3)
    network = CountingKind()
    model = ModelDenoiser(network, name="kind", channels_last=False)
    model.strength_above_one = "repeat"  # type: ignore[attr-defined]
    denoiser = TextureKeeping(model, auto_texture_ramp(CT_WINDOW.width))
    assert denoiser.scanner_between == (0.5, 0.7)
    scanner, white = _phantom_hu(rng, blur=1.0), _phantom_hu(rng, blur=0.0)
    _, report = denoise_pixels(np.stack([scanner, white]), denoiser, intensity=CT_WINDOW, units="HU")
    assert (
        report.scanner_between == (0.5, 0.7) and report.correlations[0] > 0.7 > 0.5 > report.correlations[1]
    )
    assert network.calls == 3  # two passes for the scanner's slice, one for the white one
    assert "; a scanner's noise on 1 of 2 slices: one more pass" in describe_noise([report])
    network.calls = 0
    _, report = denoise_pixels(
        scanner, denoiser, intensity=CT_WINDOW, units="HU", options=DenoiseOptions(noise_correlation="white")
    )
    assert network.calls == 1 and "scanner" not in describe_noise([report])
