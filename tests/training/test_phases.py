"""Training phases: greedy pretraining trains one layer and leaves every other parameter bit-identical."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from training_helpers import make_images, stacked_dae_config

from meddenoise.models.stacked import StackedConvDAE
from meddenoise.training import TrainConfig, train
from meddenoise.training.phases import MainPhase, plan_phases
from meddenoise.training.trainer import _init_model


def _layer(key: str) -> int:
    # "encoders.1.conv.weight" -> 1
    return int(key.split(".")[1])


def test_greedy_pretraining_changes_only_the_layer_it_trains(tmp_path: Path) -> None:
    cfg = stacked_dae_config(
        optimizer="adamw",
        weight_decay=0.1,  # decay would move any parameter the optimiser held
        seed=1,
    )
    model, _ = _init_model(cfg)
    snapshots = [{k: v.detach().clone() for k, v in model.state_dict().items()}]
    out = tmp_path / "run"

    def snapshot(row: dict) -> None:
        snapshots.append(load_file(str(out / "last.safetensors")))

    result = train(cfg, make_images(8), out_dir=out, progress=False, on_epoch_end=snapshot)
    assert [r["phase"] for r in result.history] == ["pretrain-layer-0", "pretrain-layer-1", "train"]
    init, after_layer0, after_layer1, after_train = snapshots
    assert init.keys() == after_layer0.keys() and len(init) == 8
    for key in init:
        layer = _layer(key)
        # phase "pretrain-layer-0": layer 0 learns, layer 1 stays at its initialisation, bit for bit
        assert torch.equal(init[key], after_layer0[key]) == (layer != 0), key
        # phase "pretrain-layer-1": layer 1 learns, layer 0 keeps what it learnt, bit for bit
        assert torch.equal(after_layer0[key], after_layer1[key]) == (layer != 1), key
        # end-to-end fine-tuning: everything learns
        assert not torch.equal(after_layer1[key], after_train[key]), key


def test_the_model_declares_its_phases_and_others_get_only_the_main_phase() -> None:
    cfg = TrainConfig(
        model="stacked-dae", model_params={"channels": [4, 4, 4]}, pretrain_epochs_per_layer=2, epochs=5
    )
    model = StackedConvDAE(channels=(4, 4, 4))
    phases = plan_phases(cfg, model)
    assert [(p.name, p.epochs) for p in phases] == [
        ("pretrain-layer-0", 2),
        ("pretrain-layer-1", 2),
        ("pretrain-layer-2", 2),
        ("train", 5),
    ]
    assert {id(p) for p in phases[1].parameters()} == {id(p) for p in model.layer_parameters(1)}
    assert [p.name for p in plan_phases(cfg.derive(pretrain_epochs_per_layer=0), model)] == ["train"]
    gondara, _ = _init_model(TrainConfig(model="gondara-dae", model_params={"filters": 4}))
    (only,) = plan_phases(cfg.derive(model="gondara-dae"), gondara)
    assert isinstance(only, MainPhase) and only.epochs == 5
