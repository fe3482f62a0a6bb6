"""Training phases: stretches of epochs that train some parameters with their own loss.

Every run ends with the trainer's :class:`MainPhase` (the whole model, the objective's loss). A
model may declare phases that come first by having a ``pretraining_phases`` method
(:class:`PhasedModel`); the stacked DAE declares its greedy layer-wise pretraining that way
(:class:`meddenoise.models.stacked.GreedyLayerPhase`). The trainer runs every phase the same way and
never asks which model it trains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from meddenoise.training.config import TrainConfig

__all__ = ["Criterion", "MainPhase", "PhasedModel", "TrainingPhase", "plan_phases"]

#: ``criterion(pred, target, mask) -> scalar``: the objective's loss.
Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


class TrainingPhase(Protocol):
    """What the trainer needs of a phase: a name, a length, what it trains and its loss."""

    @property
    def name(self) -> str: ...

    @property
    def epochs(self) -> int: ...

    def parameters(self) -> list[nn.Parameter]:
        """The parameters this phase optimises (the others must not change)."""
        ...

    def loss(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        criterion: Criterion,
        rng: np.random.Generator,
        sigma: torch.Tensor | None = None,
        correlation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The scalar loss of one batch ``(B, 1, H, W)``; ``rng`` for any draw the phase makes; ``sigma``
        ``(B,)`` the noise std of each sample when the objective tells the network (conditioned training),
        ``correlation`` ``(B,)`` its noise's lag-1 correlation when the objective tells that too."""
        ...


@runtime_checkable
class PhasedModel(Protocol):
    """A model that declares phases to run before end-to-end training."""

    def pretraining_phases(
        self, *, epochs_per_layer: int, code_corruption: float
    ) -> Sequence[TrainingPhase]: ...


@dataclass(frozen=True)
class MainPhase:
    """End-to-end training of the whole model with the objective's loss."""

    model: nn.Module
    epochs: int
    name: str = "train"

    def parameters(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def loss(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        criterion: Criterion,
        rng: np.random.Generator,
        sigma: torch.Tensor | None = None,
        correlation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if sigma is None:
            pred = self.model(inputs)
        elif correlation is None:
            pred = self.model(inputs, sigma=sigma)
        else:
            pred = self.model(inputs, sigma=sigma, correlation=correlation)
        return criterion(pred.float(), targets, mask)


def plan_phases(config: TrainConfig, model: nn.Module) -> list[TrainingPhase]:
    """The model's declared pretraining phases (``config.pretrain``), then the main phase."""
    phases: list[TrainingPhase] = []
    if isinstance(model, PhasedModel):
        phases.extend(
            model.pretraining_phases(
                epochs_per_layer=config.pretrain.epochs_per_layer,
                code_corruption=config.pretrain.code_corruption,
            )
        )
    return [*phases, MainPhase(model, config.epochs)]
