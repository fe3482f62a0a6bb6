"""The shipped pretrained models: files, checksums, cards, loading, denoising, `meddenoise models`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.metrics import psnr
from meddenoise.pretrained import (
    PRETRAINED_DIR,
    PretrainedModelError,
    get_card,
    list_pretrained,
    load_pretrained,
    pretrained_for_modality,
    sha256_file,
)

SHIPPED = ("ct", "general", "mri", "xray")


def test_every_shipped_model_has_weights_json_and_markdown_cards() -> None:
    assert tuple(card.name for card in list_pretrained()) == SHIPPED
    for name in SHIPPED:
        for suffix in (".safetensors", ".json", ".md"):
            assert (PRETRAINED_DIR / f"{name}{suffix}").is_file(), (name, suffix)
        # a wheel-friendly size: the four shipped ffdunets are 9.2 MB each (2,300,448 float32 parameters)
        assert (PRETRAINED_DIR / f"{name}.safetensors").stat().st_size < 12_000_000


@pytest.mark.parametrize("name", SHIPPED)
def test_weights_match_the_sha256_of_their_card(name: str) -> None:
    card = get_card(name)
    assert sha256_file(card.weights_path) == card.sha256
    assert card.sha256 in (PRETRAINED_DIR / f"{name}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SHIPPED)
def test_cards_say_data_licences_noise_command_seed_quality_and_speed(name: str) -> None:
    raw = json.loads((PRETRAINED_DIR / f"{name}.json").read_text(encoding="utf-8"))
    card = get_card(name)
    assert card.training_data and all(
        item.get("licence") and item.get("credit") for item in card.training_data
    )
    banned = ("mias", "dental", "set12", "train400", "mnist")
    assert not any(b in json.dumps(card.training_data).lower() for b in banned)
    assert card.noise and "scripts/train_pretrained.py" in card.command and isinstance(card.seed, int)
    for method in ("model", "nlmeans", "noisy"):
        assert 0 < card.quality[method]["ssim"] <= 1 and card.quality[method]["psnr"] > 10
    # measured by the benchmark at clinical levels, clean input included, BM3D told the true std beside it
    levels = card.quality["per_sigma"]
    assert "0" in levels and len(levels) >= 3 and "bm3d" in levels["0"] and "model" in levels["0"]
    assert "told the true std" in card.quality["noise"] or "true std" in card.quality["noise"]
    assert card.ms_per_512 is not None and card.ms_per_512 > 0
    assert raw["held_apart"] and card.parameters > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_each_model_loads_and_denoises(name: str, rng: np.random.Generator) -> None:
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    clean = (0.4 + 0.3 * (xx > 0.5) + 0.1 * np.sin(6 * yy)).astype(np.float32)
    noisy = np.clip(clean + 0.08 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    denoiser = load_pretrained(name)
    out = denoiser(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert psnr(out, clean, data_range=1.0) > psnr(noisy, clean, data_range=1.0) + 3


def test_modalities_map_to_models_and_unknown_names_fail() -> None:
    assert pretrained_for_modality("CT") == "ct"
    assert pretrained_for_modality("MR") == "mri"
    assert pretrained_for_modality("CR") == "xray"
    assert pretrained_for_modality("US") == "general"
    assert pretrained_for_modality(None) == "general"
    with pytest.raises(PretrainedModelError, match="shipped models"):
        get_card("nosuchmodel")


@pytest.mark.integration
def test_models_command_lists_them() -> None:
    result = CliRunner().invoke(app, ["models", "--verbose"])
    assert result.exit_code == 0, result.output
    for name in SHIPPED:
        assert name in result.output
    assert "TCGA-LUAD" in result.output and "MNI152" in result.output and "sha256" in result.output
    ct = get_card("ct")
    size = (PRETRAINED_DIR / ct.weights).stat().st_size
    assert f"{ct.weights}, {size:,} bytes, stored as int8 (run in float32)" in result.output
    assert "edge restore: 0.8 by default (--edge-restore 0 turns it off)" in result.output
    assert "edge restore: none by default" in result.output  # the other models
