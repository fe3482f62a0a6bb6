"""Where the network trains: ``device`` is validated, "auto" resolves once per run (cuda where torch sees
a GPU), a GPU the machine lacks is one clear line, a run may resume on another device, and the model a
run returns lives on the CPU where every caller denoises with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_helpers import make_images

from meddenoise import provenance
from meddenoise.training import TrainConfig, train
from meddenoise.training.config import TrainConfigError
from meddenoise.training.trainer import _resumable


def _config(**changes: object) -> TrainConfig:
    fields: dict[str, object] = {
        "model": "dncnn",
        "model_params": {"depth": 3, "width": 4},
        "noise": "gaussian(p=0.1,sigma=1)",
        "epochs": 1,
        "batch_size": 4,
        "num_threads": 1,
        "precision": "fp32",
    }
    return TrainConfig(**{**fields, **changes})


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "auto"])
def test_device_names_that_are_accepted(device: str) -> None:
    assert TrainConfig(device=device).device == device


@pytest.mark.parametrize("device", ["gpu", "cuda:", "CUDA", "mps", "cuda:x"])
def test_other_device_names_are_refused(device: str) -> None:
    with pytest.raises((TrainConfigError, ValueError), match="device"):
        TrainConfig(device=device)


@pytest.mark.parametrize("gpu", [True, False])
def test_auto_device_resolves_to_the_gpu_when_torch_sees_one(
    monkeypatch: pytest.MonkeyPatch, gpu: bool
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    asked: list[str] = []

    def native(device_type: str = "cpu") -> bool:
        asked.append(device_type)
        return device_type == "cuda"

    monkeypatch.setattr(provenance, "native_bf16", native)
    resolved = TrainConfig(device="auto").resolved()
    assert resolved.device == ("cuda" if gpu else "cpu")
    # precision "auto" asks about the device the run trains on: bf16 on the GPU, fp32 on this CPU
    assert asked == [resolved.device]
    assert resolved.precision == ("bf16" if gpu else "fp32")
    if gpu:
        assert resolved.channels_last is True
    assert TrainConfig(device="cpu").resolved().device == "cpu"


def test_a_gpu_the_machine_lacks_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda:0': torch sees no such GPU here") as err:
        train(_config(device="cuda:0"), make_images(8), out_dir=tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_run_may_resume_on_another_device_but_not_with_other_settings(tmp_path: Path) -> None:
    saved = _config(device="cuda")
    _resumable(saved, _config(device="cpu"), tmp_path / "last.json")  # no error: the device may change
    with pytest.raises(ValueError, match="cannot resume"):
        _resumable(saved, _config(device="cpu", batch_size=8), tmp_path / "last.json")


def test_a_cpu_run_records_its_device_and_returns_a_cpu_model(tmp_path: Path) -> None:
    result = train(_config(device="auto"), make_images(8), out_dir=tmp_path / "run", progress=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert result.config.device == expected
    assert json.loads((tmp_path / "run" / "last.json").read_text())["config"]["device"] == expected
    assert {p.device.type for p in result.model.parameters()} == {"cpu"}
