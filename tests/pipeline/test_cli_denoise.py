"""``meddenoise denoise``, ``info`` and ``models`` through typer's CliRunner."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import Result
from pydicom.data import get_testdata_file
from scipy import ndimage
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.io import read_image
from meddenoise.models.texture import removed_correlation
from meddenoise.noise import estimate_ct_noise
from meddenoise.pipeline.core import CT_NOISE_ESTIMATOR
from meddenoise.pretrained import get_card

pytestmark = pytest.mark.integration  # every test here drives the command line

runner = CliRunner()


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "a").mkdir(parents=True)
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "a" / "mr.dcm")
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "ct.dcm")
    return folder


def test_denoise_a_folder_mirrors_the_tree_and_prints_a_summary(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["denoise", str(folder), "-o", str(out), "--method", "median", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "2 file(s) denoised, 0 failed" in result.output
    assert (out / "a" / "mr.dcm").is_file() and (out / "ct.dcm").is_file()
    assert pydicom.dcmread(out / "ct.dcm").Modality == "CT"


def test_failures_are_listed_and_set_the_exit_code(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    (folder / "broken.dcm").write_text("not dicom")
    result = runner.invoke(
        app, ["denoise", str(folder), "-o", str(tmp_path / "out"), "--method", "median", "-q"]
    )
    assert result.exit_code == 1
    assert "FAILED" in result.output and "broken.dcm" in result.output
    assert "2 file(s) denoised, 1 failed" in result.output


def test_refuses_to_write_onto_inputs_and_rejects_bad_options(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    before = (folder / "ct.dcm").read_bytes()
    result = runner.invoke(app, ["denoise", str(folder), "-o", str(folder), "--method", "median", "-q"])
    assert result.exit_code == 2 and "refusing" in result.output
    assert (folder / "ct.dcm").read_bytes() == before
    result = runner.invoke(app, ["denoise", str(folder), "-o", str(tmp_path / "o"), "--method", "nope"])
    assert result.exit_code == 2 and "unknown classical method" in result.output
    result = runner.invoke(app, ["denoise", str(folder), "-o", str(tmp_path / "o"), "--noise-level", "x"])
    assert result.exit_code == 2 and "noise level" in result.output


def test_info_reports_the_facts_of_a_dicom(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", get_testdata_file("CT_small.dcm")])
    assert result.exit_code == 0, result.output
    for expected in ("dicom", "CT", "128 x 128", "HU", "pixel spacing", "noise estimator"):
        assert expected in result.output
    # the noise estimate is in the image's own units (HU here), by the estimator `auto` uses, named
    hu = read_image(Path(get_testdata_file("CT_small.dcm"))).pixels
    line = next(line for line in result.output.splitlines() if line.startswith("noise std (HU)"))
    assert float(line.split()[3]) == pytest.approx(estimate_ct_noise(hu), rel=1e-3)
    assert CT_NOISE_ESTIMATOR in result.output
    bad = tmp_path / "x.dcm"
    bad.write_text("text")
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 1 and "x.dcm" in result.output


def test_default_model_auto_denoises_with_the_shipped_model_for_the_modality(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["denoise", str(folder / "ct.dcm"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    written = pydicom.dcmread(out / "ct.dcm")
    assert "pretrained ct" in str(written.get("DerivationDescription", ""))
    assert written.pixel_array.dtype == pydicom.dcmread(folder / "ct.dcm").pixel_array.dtype


def _ct_at_20_hu(tmp_path: Path, out: str, *options: str) -> tuple[Result, pydicom.Dataset | None]:
    """``denoise`` of the sample CT slice with ``ct`` told 20 HU into ``tmp_path/out``, plus ``options``;
    the result and the written DICOM (``None`` when the command failed)."""
    folder = tmp_path / "in"
    if not folder.exists():
        _inputs(tmp_path)
    args = ["denoise", str(folder / "ct.dcm"), "-q", "--model", "ct", "--noise-level", "20"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / out), *options])
    written = tmp_path / out / "ct.dcm"
    return result, pydicom.dcmread(written) if result.exit_code == 0 and written.exists() else None


def test_ensemble_runs_the_model_on_flipped_copies_and_says_so_in_the_derived_dicom(tmp_path: Path) -> None:
    _, one = _ct_at_20_hu(tmp_path, "x1")
    pair, written = _ct_at_20_hu(tmp_path, "x2", "--ensemble", "2")
    assert one is not None and written is not None, pair.output
    assert "pretrained ct x2" in str(written.get("DerivationDescription", ""))
    assert np.abs(written.pixel_array.astype(int) - one.pixel_array.astype(int)).max() > 0  # not one pass
    bad, _ = _ct_at_20_hu(tmp_path, "x3", "--ensemble", "3")
    assert bad.exit_code == 2 and "size must be one of 1, 2, 4, 8, got 3" in bad.output


def test_ct_restores_edges_unless_told_not_to_and_says_so_in_the_derived_dicom(tmp_path: Path) -> None:
    _, restored = _ct_at_20_hu(tmp_path, "e")
    off, plain = _ct_at_20_hu(tmp_path, "e0", "--edge-restore", "0")
    assert restored is not None and plain is not None, off.output
    # the model as shipped keeps its name; the description says what was done
    assert "pretrained ct;" in str(restored.get("DerivationDescription", ""))
    assert f"strength 1.0; edge restoration {get_card('ct').edge_restore} on correlated noise" in str(
        restored.get("DerivationDescription", "")
    )
    assert "pretrained ct e0;" in str(plain.get("DerivationDescription", ""))
    assert "edge restoration" not in str(plain.get("DerivationDescription", ""))
    assert np.abs(restored.pixel_array.astype(int) - plain.pixel_array.astype(int)).max() > 0
    bad, _ = _ct_at_20_hu(tmp_path, "e2", "--edge-restore", "2")
    assert bad.exit_code == 2 and "edge restore must be a number in [0, 1]" in bad.output


def test_texture_puts_fine_noise_back_and_says_so_in_the_derived_dicom(tmp_path: Path) -> None:
    _, default = _ct_at_20_hu(tmp_path, "t0", "--texture", "0")
    run, textured = _ct_at_20_hu(tmp_path, "t5", "--texture", "0.5")
    assert default is not None and textured is not None, run.output
    description = str(textured.get("DerivationDescription", ""))
    assert (
        "pretrained ct t0.5;" in description
        and f"edge restoration {get_card('ct').edge_restore} on correlated noise; noise texture 0.5"
        in description
    )
    assert "noise texture" not in str(default.get("DerivationDescription", ""))
    assert "pretrained ct t0;" in str(default.get("DerivationDescription", ""))  # ct's own texture turned off

    # half the fine grain the model removed is back: the fine part of input - output shrinks to about half
    def hu(ds: pydicom.Dataset) -> np.ndarray:
        return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    source = hu(pydicom.dcmread(tmp_path / "in" / "ct.dcm"))
    fine = [
        float(np.std((r := source - hu(ds)) - ndimage.gaussian_filter(r, 1.5))) for ds in (default, textured)
    ]
    assert 0.4 < fine[1] / fine[0] < 0.7
    bad, _ = _ct_at_20_hu(tmp_path, "t2", "--texture", "2")
    assert bad.exit_code == 2 and "texture must be a number in [0, 1]" in bad.output


def test_auto_texture_puts_back_the_share_of_the_noise_level_and_says_which(tmp_path: Path) -> None:
    # auto is ct's default. Told white noise at 20 HU: under the fine-grained ramp's 30 HU, so nothing comes
    # back: the pixels of --texture 0
    white = ("--noise-correlation", "white")
    _, off = _ct_at_20_hu(tmp_path, "a0", "--texture", "0", *white)
    run, auto = _ct_at_20_hu(tmp_path, "a20", *white)
    assert off is not None and auto is not None, run.output
    assert np.array_equal(auto.pixel_array, off.pixel_array)
    assert "pretrained ct;" in str(auto.get("DerivationDescription", ""))  # the model as shipped
    assert "noise texture auto 0" in run.output and "scanner" not in run.output
    _, asked = _ct_at_20_hu(tmp_path, "aa", "--texture", "auto", *white)  # asking for it changes nothing
    assert asked is not None and np.array_equal(asked.pixel_array, auto.pixel_array)
    # told 40 HU: halfway up the ramp (30-50 HU), the same pixels as a fixed share of 0.35
    folder = tmp_path / "in"
    args = ["denoise", str(folder / "ct.dcm"), "-q", "--model", "ct", "--noise-level", "40", *white]
    run40 = runner.invoke(app, [*args, "-o", str(tmp_path / "a40"), "--texture", "auto"])
    fixed = runner.invoke(app, [*args, "-o", str(tmp_path / "f35"), "--texture", "0.35"])
    assert run40.exit_code == 0 and fixed.exit_code == 0, run40.output + fixed.output
    # the sample slice's own noise is correlated, so the fine-grained ramp's whole share comes back
    assert "noise texture auto up to 0.35" in str(
        pydicom.dcmread(tmp_path / "a40" / "ct.dcm").DerivationDescription
    )
    np.testing.assert_array_equal(
        pydicom.dcmread(tmp_path / "a40" / "ct.dcm").pixel_array,
        pydicom.dcmread(tmp_path / "f35" / "ct.dcm").pixel_array,
    )
    # the same slice with 40 HU of white noise added, told 40 HU: white noise gets no texture back
    white = pydicom.dcmread(folder / "ct.dcm")
    noise = np.random.default_rng(0).normal(0, 40 / float(white.RescaleSlope), white.pixel_array.shape)
    white.PixelData = np.clip(np.rint(white.pixel_array + noise), -32768, 32767).astype(np.int16).tobytes()
    (tmp_path / "white").mkdir()
    white.save_as(tmp_path / "white" / "ct.dcm")
    wargs = ["denoise", str(tmp_path / "white" / "ct.dcm"), "-q", "--model", "ct", "--noise-level", "40"]
    plain = runner.invoke(app, [*wargs, "-o", str(tmp_path / "w0")])
    gated = runner.invoke(app, [*wargs, "-o", str(tmp_path / "wa"), "--texture", "auto"])
    assert plain.exit_code == 0 and gated.exit_code == 0, plain.output + gated.output
    np.testing.assert_array_equal(
        pydicom.dcmread(tmp_path / "wa" / "ct.dcm").pixel_array,
        pydicom.dcmread(tmp_path / "w0" / "ct.dcm").pixel_array,
    )
    # no level given: the wrapper reads its own estimate, so the line names no share it cannot know
    blind = runner.invoke(
        app, [*args[:-4], "--noise-level", "none", "-o", str(tmp_path / "an"), "--texture", "auto"]
    )
    assert blind.exit_code == 0 and "noise level left to the denoiser" in blind.output, blind.output
    assert re.search(r"noise texture auto(;|\s*$)", blind.output.splitlines()[0]), blind.output
    bad, _ = _ct_at_20_hu(tmp_path, "ab", "--texture", "sometimes")
    assert bad.exit_code == 2 and "expected a number in [0, 1], 'auto' or 'blend'" in bad.output


@pytest.mark.parametrize("level", ["20", "40"])
def test_auto_gives_a_scanners_noise_what_blend_at_strength_two_gives_and_says_so(
    tmp_path: Path, level: str
) -> None:
    """ct's default told a kernel's noise correlation (0.8) writes the pixels of ``--texture blend
    --strength 2``; told 0.5 those of the fine-grained ramp alone (white noise's); 0.6 is in part a
    scanner's (the mix itself: tests/models/test_texture.py)."""
    _inputs(tmp_path)
    args = ["denoise", str(tmp_path / "in" / "ct.dcm"), "-q", "--model", "ct", "--noise-level", level]

    def pixels(out: str, *options: str) -> tuple[Result, np.ndarray]:
        result = runner.invoke(app, [*args, "-o", str(tmp_path / out), *options])
        assert result.exit_code == 0, result.output
        return result, pydicom.dcmread(tmp_path / out / "ct.dcm").pixel_array.astype(np.float64)

    run, scanner = pixels("k", "--noise-correlation", "0.8")
    _, setting = pixels("b", "--noise-correlation", "0.8", "--texture", "blend", "--strength", "2")
    np.testing.assert_array_equal(scanner, setting)
    assert "a scanner's noise: one more pass" in run.output and "strength 1.0;" in run.output
    _, white = pixels("w", "--noise-correlation", "0.5")  # at the first value: white noise's output
    _, once = pixels("w1", "--noise-correlation", "0.5", "--texture", "auto")
    np.testing.assert_array_equal(white, once)
    assert np.abs(scanner - white).max() > 2  # not vacuous: the two differ
    half, _ = pixels("h", "--noise-correlation", "0.6")
    assert "a scanner's noise: one more pass" in half.output


def test_blend_texture_puts_back_a_share_of_the_whole_removed_component_and_says_so(tmp_path: Path) -> None:
    """The blend ramp: none up to 12 HU, all of the share from 24 HU, linear between; the share is 0.5 of
    the removed component up to a lag-1 correlation of 0.6, 0.7 from 0.9; the output is ``(1 - a)`` of the
    network's plus ``a`` of the input (the sample's own noise is a scanner's: the correlation gate is open)."""
    _inputs(tmp_path)
    folder = tmp_path / "in"
    source = pydicom.dcmread(folder / "ct.dcm").pixel_array.astype(np.float64)

    def run(level: str, texture: str) -> tuple[Result, np.ndarray, pydicom.Dataset]:
        args = ["denoise", str(folder / "ct.dcm"), "-q", "--model", "ct", "--noise-level", level]
        out = tmp_path / f"{texture}{level}"
        result = runner.invoke(app, [*args, "-o", str(out), "--texture", texture])
        assert result.exit_code == 0, result.output
        written = pydicom.dcmread(out / "ct.dcm")
        return result, written.pixel_array.astype(np.float64), written

    for level, part in (("10", 0.0), ("18", 0.5), ("40", 1.0)):
        _, alone, _ = run(level, "0")
        result, blended, written = run(level, "blend")
        inside = (alone > source.min() + 50) & (alone < source.max() - 50)  # away from the window's clipping
        removed = (source - alone)[inside]
        assert np.abs(removed).max() > 5  # the network did change the slice: not vacuous
        # the share it got, read back from the output, and the one the ramp gives this removed component
        got = float(np.sum((blended - alone)[inside] * removed) / np.sum(removed * removed))
        correlation = removed_correlation(source, alone)
        assert correlation > 0.15  # a scanner's noise: the white-noise gate is open
        expected = part * (0.5 + 0.2 * min(max((correlation - 0.6) / 0.3, 0.0), 1.0))
        assert got == pytest.approx(expected, abs=0.02), (level, correlation)
        assert np.abs(blended - ((1 - got) * alone + got * source))[inside].max() <= 1.0, level  # rounding
        said = f"noise texture blend up to {0.7 * part:.2g}" if part else "noise texture blend 0"
        assert said in result.output, result.output
    assert "noise texture blend up to 0.7" in str(written.DerivationDescription)


def test_noise_level_note_once_and_noise_line_per_file(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)  # two files (MR, CT) and a blind filter given a noise level
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "mr2.dcm")
    args = ["denoise", str(folder), "-o", str(tmp_path / "out"), "--method", "median", "-q"]
    result = runner.invoke(app, [*args, "--noise-level", "20", "--strength", "0.5"])
    assert result.exit_code == 0, result.output
    assert result.output.count("does not take a noise level") == 1
    assert "note: median does not take a noise level; the noise level 20" in result.output
    # one line per file with what was used (the two MR files are one series: one line)
    assert (
        f"{folder / 'ct.dcm'}: noise 20.0 HU (given), not used by the denoiser; strength 0.5" in result.output
    )
    assert "(+1 more files of its series): noise 20.0 counts (given)" in result.output
    auto = runner.invoke(app, [*args[:3], str(tmp_path / "out2"), *args[4:]])
    assert auto.exit_code == 0 and "does not take" not in auto.output
    assert f"{folder / 'ct.dcm'}: estimated noise " in auto.output and "HU" in auto.output
    bad = runner.invoke(app, [*args, "--strength", "-1"])
    assert bad.exit_code == 2 and "strength" in bad.output


def test_denoise_help_states_the_real_tile_default() -> None:
    from meddenoise.pipeline import DEFAULT_OVERLAP, DEFAULT_TILE, WHOLE_IMAGE_MAX

    result = runner.invoke(app, ["denoise", "--help"], terminal_width=200)
    text = " ".join(result.output.replace("│", " ").split())
    assert f"up to {WHOLE_IMAGE_MAX}x{WHOLE_IMAGE_MAX} whole, a larger one in {DEFAULT_TILE}-px tiles" in text
    assert f"(default {DEFAULT_OVERLAP})" in text
