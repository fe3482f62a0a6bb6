"""Objectives: the noise2void loss counts only the masked pixels; a new objective plugs in by registering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest
import torch
from training_helpers import make_images

from meddenoise.noise import parse_noise
from meddenoise.training import TrainConfig, TrainConfigError, train
from meddenoise.training.batches import BatchSource, seeded_rng
from meddenoise.training.objectives import OBJECTIVES, Batch, ObjectiveConfig, register_objective
from meddenoise.training.objectives.base import NoiseFn
from meddenoise.training.phases import MainPhase
from meddenoise.training.trainer import batch_loss


class _FixedOutput(torch.nn.Module):
    """A "network" whose prediction is its parameter, whatever the input."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = torch.nn.Parameter(output.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output + 0 * x


def test_noise2void_loss_is_the_mse_of_the_masked_pixels_only() -> None:
    images = make_images(6)
    cfg = TrainConfig(mode="noise2void", blind_spot_fraction=0.05, noise="gaussian(p=0.1,sigma=1)")
    objective = cfg.objective.build()
    source = BatchSource(
        cfg,
        images,
        targets=None,
        noise=parse_noise(str(cfg.noise)),
        fixed_rng=seeded_rng(0, 1),
        objective=objective,
    )
    batch = next(source.batches(np.random.default_rng(2), batch_size=6))
    assert batch.mask is not None
    hidden = batch.mask.astype(bool)
    assert 0 < hidden.sum() < 0.1 * hidden.size  # a few pixels per image, not all of them

    pred = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0))

    def loss_of(output: torch.Tensor) -> float:
        phase = MainPhase(_FixedOutput(output), epochs=1)
        return float(batch_loss(phase, batch, objective, rng=np.random.default_rng(3)).detach())

    by_hand = float(np.mean((pred.numpy()[:, 0][hidden] - batch.targets[hidden]) ** 2))
    assert loss_of(pred) == pytest.approx(by_hand, rel=1e-6)
    # Whatever the network predicts at unmasked pixels does not matter ...
    other = torch.where(torch.from_numpy(hidden)[:, None], pred, torch.rand(pred.shape) * 5)
    assert loss_of(other) == pytest.approx(by_hand, rel=1e-6)
    # ... while the masked pixels do.
    moved = pred.clone()
    first = np.argwhere(hidden)[0]
    moved[first[0], 0, first[1], first[2]] += 0.5
    assert loss_of(moved) != pytest.approx(by_hand, rel=1e-6)


# --- a toy objective, registered by the test --------------------------------------------------------


class ToyConfig(ObjectiveConfig):
    """Learn to predict the image brightened by ``gain`` (a target no built-in objective makes)."""

    kind: Literal["toy-brighten"] = "toy-brighten"
    gain: float = 1.5

    def build(self) -> ToyObjective:
        return ToyObjective(self)


class ToyObjective:
    calls: ClassVar[dict[str, int]] = {"sources": 0, "batch": 0, "loss": 0}

    def __init__(self, config: ToyConfig) -> None:
        self.config = config

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        self.calls["sources"] += 1
        return [images, np.clip(images * self.config.gain, 0, 1)]

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        self.calls["batch"] += 1
        return Batch(crops[0], crops[1], None)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        self.calls["loss"] += 1
        return torch.mean(torch.abs(pred - target))


@pytest.fixture
def toy_objective() -> Iterator[type[ToyConfig]]:
    register_objective(ToyConfig)
    ToyObjective.calls.update(sources=0, batch=0, loss=0)
    try:
        yield ToyConfig
    finally:
        del OBJECTIVES["toy-brighten"]


def test_a_registered_objective_trains_and_round_trips(
    tmp_path: Path, toy_objective: type[ToyConfig]
) -> None:
    cfg = TrainConfig(
        model="gondara-dae",
        model_params={"filters": 4},
        objective={"kind": "toy-brighten", "gain": 2.0},
        noise="gaussian(p=0.1,sigma=1)",
        noise_mode="fixed",
        epochs=1,
        batch_size=4,
        val_fraction=0.25,
        num_threads=1,
    )
    assert isinstance(cfg.objective, ToyConfig) and cfg.objective.gain == 2.0
    result = train(cfg, make_images(8), out_dir=tmp_path / "run", progress=False)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])
    assert ToyObjective.calls["sources"] == 2  # training and validation sets
    assert ToyObjective.calls["batch"] >= 3 and ToyObjective.calls["loss"] >= 3
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["objective"] == {"kind": "toy-brighten", "loss": "mse", "ssim_window": "gaussian11",
                                  "ssim_data_range": 1.0, "msssim_alpha": 0.84, "gain": 2.0}  # fmt: skip
    # the run records its resolved precision and layout
    as_run = cfg.resolved().derive(precision=result.config.precision)  # timing may keep fp32
    assert TrainConfig.load(tmp_path / "run" / "config.json") == as_run
    with pytest.raises(TrainConfigError, match=r"objective\.gain"):
        TrainConfig.from_dict({"objective": {"kind": "toy-brighten", "gain": "lots"}})
    with pytest.raises(ValueError, match="registered twice"):

        @register_objective
        class Again(ObjectiveConfig):
            kind: Literal["toy-brighten"] = "toy-brighten"


def test_unknown_objective_kind_is_one_clear_line() -> None:
    with pytest.raises(
        TrainConfigError, match=r"x\.json: invalid training config: objective: .*unknown objective"
    ):
        TrainConfig.from_dict({"objective": {"kind": "gan"}}, source="x.json")
