"""Where the network trains (and, on a GPU, batches made ahead): ``device`` is validated, "auto" resolves once per run (cuda where torch sees
a GPU), a GPU the machine lacks is one clear line, a run may resume on another device, and the model a
run returns lives on the CPU where every caller denoises with it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import make_images

from meddenoise import provenance
from meddenoise.training import TrainConfig, train, trainer
from meddenoise.training.batches import prefetched
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


def test_prefetched_batches_are_the_same_batches_in_the_same_order() -> None:
    items = [np.full(3, i) for i in range(7)]
    assert [int(a[0]) for a in prefetched(iter(items), 2)] == list(range(7))
    assert [int(a[0]) for a in prefetched(iter(items), 0)] == list(range(7))


def test_a_producer_error_reaches_the_caller_and_leaving_early_stops_the_producer() -> None:
    def failing() -> Iterator[np.ndarray]:
        yield np.zeros(1)
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(prefetched(failing(), 2))
    made: list[int] = []

    def endless() -> Iterator[np.ndarray]:
        i = 0
        while True:
            made.append(i)
            yield np.full(1, i)
            i += 1

    stream = prefetched(endless(), 2)
    assert int(next(stream)[0]) == 0
    stream.close()  # the producer stops: no thread keeps making batches
    before = len(made)
    time.sleep(0.2)
    assert len(made) == before <= 5
    assert not [t for t in threading.enumerate() if t.name == "meddenoise-batches"]


def test_a_run_with_batches_made_ahead_trains_exactly_as_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_images(12)
    plain = train(_config(epochs=2), images, out_dir=tmp_path / "plain", progress=False)
    # what a GPU run does (batches made ahead), on the CPU, where the arithmetic is deterministic
    monkeypatch.setattr(trainer, "_prefetch_depth", lambda *args: 2)
    ahead = train(_config(epochs=2), images, out_dir=tmp_path / "ahead", progress=False)
    assert [r["train_loss"] for r in ahead.history] == [r["train_loss"] for r in plain.history]
    for a, b in zip(ahead.model.state_dict().values(), plain.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
