"""meddenoise.pretrained.cards: the shipped cards are exactly what write_model_card writes from their data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from meddenoise.pretrained import PRETRAINED_DIR, get_card, sha256_file
from meddenoise.pretrained.cards import ModelCardData, Quality, read_model_card, write_model_card

SHIPPED = ("ct", "general", "mri", "xray")


def _card_text_with_config(card: ModelCardData, folder: Path, **config: Any) -> str:
    """The Markdown card written to ``folder`` from ``card`` with its training config's ``config`` keys changed."""
    training = replace(card.training, config={**card.training.config, **config})
    _, md = write_model_card(replace(card, training=training), folder)
    return md.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SHIPPED)
def test_writing_a_shipped_card_from_its_data_gives_the_same_files(name: str, tmp_path: Path) -> None:
    card = read_model_card(PRETRAINED_DIR / f"{name}.json")
    json_path, md_path = write_model_card(card, tmp_path)  # patch size and timing threads from the card
    assert json_path.read_bytes() == (PRETRAINED_DIR / f"{name}.json").read_bytes()
    assert md_path.read_bytes() == (PRETRAINED_DIR / f"{name}.md").read_bytes()
    assert sha256_file(PRETRAINED_DIR / card.weights) == card.sha256 == get_card(name).sha256


def test_the_markdown_quality_table_follows_the_measured_data(tmp_path: Path) -> None:
    card = read_model_card(PRETRAINED_DIR / "ct.json")
    rows = {**card.quality.rows, "model": Quality(psnr=40.123, ssim=0.98765)}
    changed = replace(card, quality=replace(card.quality, rows=rows))
    _, md = write_model_card(changed, tmp_path, patch_size=16, torch_threads=4)
    text = md.read_text(encoding="utf-8")
    assert "| **ct** (this model), blind | " in text and "| 40.12 / 0.9877 |" in text
    assert "BM3D, told the true std" in text and "std 20 HU" in text
    assert "random 16x16 patches" in text and "torch threads 4" in text


def test_a_card_keeps_a_flag_architecture_parameter(tmp_path: Path) -> None:
    """A flag (e.g. ffdunet's correlation_input) survives write and read as a bool, not an int."""
    card = read_model_card(PRETRAINED_DIR / "ct.json")
    params = {**card.architecture_params, "correlation_input": True}
    flagged = replace(card, architecture_params=params)
    json_path, _ = write_model_card(flagged, tmp_path)
    assert read_model_card(json_path).architecture_params["correlation_input"] is True


def test_the_card_says_how_the_loss_weighted_each_patchs_level(tmp_path: Path) -> None:
    card = read_model_card(PRETRAINED_DIR / "xray.json")

    def weighted(power: float) -> str:
        objective = dict(cast(Mapping[str, object], card.training.config["objective"]))
        objective.update(level_weight_power=power, level_weight_floor=0.005)
        return _card_text_with_config(card, tmp_path / str(power), objective=objective, frozen=[])

    assert "epochs, Adam, MSE, seed" in weighted(0.0)
    assert "Adam, MSE weighted per patch by max(std, 0.005)^-1.5, seed" in weighted(1.5)


def test_the_card_says_which_tensors_the_training_kept_frozen(tmp_path: Path) -> None:
    card = read_model_card(PRETRAINED_DIR / "xray.json")

    def with_frozen(names: list[str]) -> str:
        return _card_text_with_config(card, tmp_path / str(len(names)), frozen=names)

    said = ", 2 tensors kept at their starting values (`frozen`, in the config), seed"
    assert said in with_frozen(["encoders.2.0.weight", "encoders.3.0.conv.weight"])
    patterns = (
        ", the parameters matching 2 `frozen` patterns kept at their starting values (in the config), seed"
    )
    assert patterns in with_frozen(["encoders.2.0.weight", "encoders.3.*"])
    assert "starting values" not in with_frozen([])


def test_an_unreadable_card_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"name": "x"}')
    with pytest.raises(ValueError, match=r"x\.json: not a readable model card"):
        read_model_card(bad)


def test_the_card_says_how_strength_goes_past_one(tmp_path: Path) -> None:
    import json

    from meddenoise.pretrained.registry import ModelCard, PretrainedModelError

    card = read_model_card(PRETRAINED_DIR / "ct.json")
    assert card.strength_above_one == "repeat"
    assert "| strength above 1 | runs again on its own output" in (PRETRAINED_DIR / "ct.md").read_text()
    json_path, md_path = write_model_card(replace(card, strength_above_one="level"), tmp_path)
    assert "| strength above 1 | told `strength` times the noise level |" in md_path.read_text()
    data = json.loads(json_path.read_text())
    with pytest.raises(PretrainedModelError, match="strength_above_one: expected one of level, repeat"):
        ModelCard.from_dict({**data, "strength_above_one": "twice"})
    with pytest.raises(ValueError, match=r"ct\.json: not a readable model card"):
        json_path.write_text(json.dumps({**data, "strength_above_one": "twice"}))
        read_model_card(json_path)


def test_readme_and_denoise_doc_show_the_table_generated_from_the_cards() -> None:
    """The quality tables in README.md and docs/denoise.md are scripts/cards_table.py's output, verbatim."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "cards_table.py"), "--check", "README.md", "docs/denoise.md"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
