"""TrainConfig: JSON round trip, defaults and clear validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meddenoise.training import TrainConfig, TrainConfigError


def test_round_trip_through_json_file(tmp_path: Path) -> None:
    cfg = TrainConfig(
        model="gondara-dae",
        model_params={"filters": 8},
        loss="bce",
        optimizer="adadelta",
        lr_schedule="cosine",
        epochs=7,
        batch_size=3,
        noise="gaussian(p=0.1,sigma=1)",
        noise_mode="fixed",
        mode="noise2void",
        patch_size=16,
        patches_per_image=2,
        augment_flips=True,
        seed=11,
    )
    path = cfg.save(tmp_path / "cfg.json")
    again = TrainConfig.load(path)
    assert again == cfg
    assert json.loads(path.read_text())["model_params"] == {"filters": 8}


def test_defaults_are_the_papers_batch_and_epochs() -> None:
    cfg = TrainConfig()
    assert (cfg.model, cfg.batch_size, cfg.epochs, cfg.optim.optimizer) == ("gondara-dae", 10, 100, "adam")
    assert cfg.learning_rate == pytest.approx(1e-3)
    assert TrainConfig(optimizer="adadelta").learning_rate == pytest.approx(1.0)


def test_noise_spec_is_canonicalised_and_checked() -> None:
    from meddenoise.noise import parse_noise

    spec = "gaussian(p=0.1,sigma=1)"
    assert TrainConfig(noise=spec).noise == str(parse_noise(spec))
    with pytest.raises(ValueError, match="noise"):
        TrainConfig(noise="nonsense-noise(q=1)")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"epochz": 3}, "epochz"),
        ({"loss": "hinge"}, "loss"),
        ({"model": "no-such-net"}, "unknown model"),
        ({"epochs": 0}, "epochs"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"mode": "noise2void", "loss": "ssim"}, "per-pixel loss"),
        ({"model": "stacked-dae", "model_params": {"filterz": 3}}, "model_params"),
        ({"patches_per_image": 4}, "patch_size"),
    ],
)
def test_invalid_configs_fail_with_one_clear_line(data: dict, fragment: str) -> None:
    with pytest.raises(TrainConfigError) as info:
        TrainConfig.from_dict(data, source="my.json")
    message = str(info.value)
    assert message.startswith("my.json: invalid training config")
    assert fragment in message
    assert "\n" not in message


def test_unreadable_config_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TrainConfigError, match=r"bad\.json: not valid JSON"):
        TrainConfig.load(bad)
    with pytest.raises(TrainConfigError, match="cannot read"):
        TrainConfig.load(tmp_path / "missing.json")
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(TrainConfigError, match="expected a JSON object"):
        TrainConfig.load(listing)
