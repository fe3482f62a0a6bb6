"""TrainConfig: JSON round trip, defaults and clear validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

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


# A config as the flat TrainConfig before the groups wrote it (to_dict() of the code at fd23607).
OLD_FLAT = {"model": "gondara-dae", "model_params": {"filters": 8}, "init_from": None, "mode": "noise2void",
            "loss": "l1", "ssim_window": "gaussian11", "msssim_alpha": 0.84, "noise": "gaussian(p=0.1,sigma=1)",
            "noise_mode": "fresh", "optimizer": "adadelta", "lr": None, "weight_decay": 0.0, "lr_schedule": "step",
            "lr_step_size": 7, "lr_gamma": 0.1, "lr_plateau_patience": 5, "epochs": 2, "batch_size": 4,
            "grad_clip": None, "val_fraction": 0.25, "early_stopping_patience": None, "early_stopping_min_delta": 0.0,
            "seed": 3, "augment_flips": True, "augment_rot90": False, "patch_size": 8, "patches_per_image": 1,
            "blind_spot_fraction": 0.05, "blind_spot_replacement": "neighbour", "blind_spot_radius": 2,
            "pretrain_epochs_per_layer": 3, "pretrain_code_corruption": 0.25, "channels_last": True, "bf16": False,
            "num_threads": 1}  # fmt: skip


def test_old_flat_config_json_migrates_into_the_groups(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(OLD_FLAT))
    cfg = TrainConfig.load(path)
    assert cfg.objective.model_dump() == {"kind": "noise2void", "loss": "l1", "ssim_window": "gaussian11",
                                          "ssim_data_range": 1.0, "msssim_alpha": 0.84, "fraction": 0.05,
                                          "replacement": "neighbour", "radius": 2}  # fmt: skip
    assert (cfg.optim.optimizer, cfg.optim.schedule, cfg.optim.step_size) == ("adadelta", "step", 7)
    assert cfg.learning_rate == 1.0
    assert (cfg.data.patch_size, cfg.data.augment_flips, cfg.pretrain.epochs_per_layer) == (8, True, 3)
    assert (cfg.model_params, cfg.epochs, cfg.seed, cfg.num_threads) == ({"filters": 8}, 2, 3, 1)
    # a flat supervised config carries default blind_spot_* values: they are dropped, not refused
    supervised = TrainConfig.from_dict({**OLD_FLAT, "mode": "supervised"})
    assert supervised.objective.model_dump() == {"kind": "supervised", "loss": "l1", "ssim_window": "gaussian11",
                                                 "ssim_data_range": 1.0, "msssim_alpha": 0.84}  # fmt: skip
    # the grouped form round-trips and is what is written now
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert "mode" not in cfg.to_dict() and cfg.to_dict()["objective"]["kind"] == "noise2void"


def test_a_run_with_an_old_flat_config_loads_and_resumes(tmp_path: Path) -> None:
    from training_helpers import make_images

    from meddenoise.training import load_checkpoint, train

    cfg = TrainConfig.from_dict({**OLD_FLAT, "mode": "supervised", "patch_size": None, "epochs": 1})
    run = tmp_path / "run"
    train(cfg, make_images(8), out_dir=run, progress=False)
    flat = {**OLD_FLAT, "mode": "supervised", "patch_size": None, "epochs": 1}
    for name in ("best.json", "last.json"):  # rewrite the sidecars as the old code wrote them
        doc = json.loads((run / name).read_text())
        doc["config"] = flat
        (run / name).write_text(json.dumps(doc))
    (run / "config.json").write_text(json.dumps(flat))
    _, loaded = load_checkpoint(run)
    assert loaded == cfg
    resumed = train(cfg.derive(epochs=2), make_images(8), out_dir=run, resume=True, progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2] and resumed.epochs_run == 1


def test_derive_validates_the_merged_config() -> None:
    cfg = TrainConfig(optimizer="adadelta", lr=0.5, model="stacked-dae", model_params={"channels": [4, 4]})
    # model_copy(update=...) does not validate; derive does
    assert cfg.model_copy(update={"epochs": 0}).epochs == 0
    with pytest.raises(TrainConfigError, match=r"derive: invalid training config: epochs"):
        cfg.derive(epochs=0)
    with pytest.raises(TrainConfigError, match="per-pixel loss"):
        cfg.derive(mode="noise2void", loss="ssim")
    with pytest.raises(TrainConfigError, match="patches_per_image needs patch_size"):
        cfg.derive(data={"patches_per_image": 2})
    with pytest.raises(TrainConfigError, match="model_params"):
        cfg.derive(model_params={"filters": 3})
    # a group dict changes only the fields it names; flat names of old configs work too
    assert cfg.derive(optim={"lr": 0.1}).optim.model_dump() == {**cfg.optim.model_dump(), "lr": 0.1}
    assert cfg.derive(lr=0.1) == cfg.derive(optim={"lr": 0.1})
    n2v = cfg.derive(mode="noise2void", blind_spot_fraction=0.1)
    assert (n2v.objective.kind, n2v.objective.model_dump()["fraction"]) == ("noise2void", 0.1)
    assert n2v.derive(objective={"radius": 3}).objective.model_dump()["fraction"] == 0.1
    assert cfg.derive(model="gondara-dae").model_params == {}  # another model's parameters do not carry over
    assert cfg.optim.lr == 0.5 and cfg.epochs == 100  # the original is unchanged (configs are frozen)
    with pytest.raises(ValueError, match="frozen"):
        cfg.epochs = 3  # type: ignore[misc]


def test_validation_builds_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from meddenoise.models.registry import MODEL_REGISTRY

    built: list[dict] = []

    def counting_builder(*, width: int = 4) -> torch.nn.Module:
        built.append({"width": width})
        return torch.nn.Conv2d(1, 1, 3, padding=1)

    monkeypatch.setitem(MODEL_REGISTRY, "counting", counting_builder)
    cfg = TrainConfig(model="counting", model_params={"width": 8})
    cfg = cfg.derive(epochs=3).derive(seed=2)
    TrainConfig.from_json(cfg.to_json())
    assert built == []
    with pytest.raises(TrainConfigError, match="model_params"):
        cfg.derive(model_params={"depth": 3})  # checked against the builder's signature
    assert built == []


def test_flat_fields_never_hide_a_typo_in_a_group() -> None:
    with pytest.raises(TrainConfigError, match=r"objective\.fractoin"):
        TrainConfig.from_dict({"objective": {"kind": "noise2void", "fractoin": 0.1}, "lr": 0.01})
    with pytest.raises(TrainConfigError, match=r"optim\.learning_rate"):
        TrainConfig.from_dict({"optim": {"learning_rate": 0.1}, "mode": "noise2void"})
    # --mode over a saved noise2void config: its blind-spot settings do not fit supervised and go
    saved = TrainConfig(mode="noise2void", blind_spot_fraction=0.1, loss="l1").to_dict()
    assert TrainConfig.from_dict({**saved, "mode": "supervised"}).objective.model_dump() == {
        "kind": "supervised", "loss": "l1", "ssim_window": "gaussian11", "ssim_data_range": 1.0,
        "msssim_alpha": 0.84}  # fmt: skip
