"""What a training objective is: its config (selected by ``kind``), its batches and its loss.

An objective decides what the network sees and what it is compared with. Given the images of a data
set it makes the arrays that are cropped and augmented together (:meth:`Objective.sources`), turns
one batch of crops into ``(inputs, targets, mask)`` (:meth:`Objective.batch`) and scores the
network's prediction (:meth:`Objective.loss`). Its settings are a pydantic :class:`ObjectiveConfig`
subclass with a literal ``kind``; :func:`register_objective` makes the kind usable as
``TrainConfig(objective={"kind": ...})``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from meddenoise.training.losses import LossFn, get_loss

__all__ = [
    "OBJECTIVES",
    "PER_PIXEL_LOSSES",
    "Batch",
    "ConfiguredLoss",
    "LossName",
    "NoiseFn",
    "Objective",
    "ObjectiveConfig",
    "TrainableObjective",
    "as_float32",
    "register_objective",
]

LossName = Literal["mse", "l1", "bce", "ssim", "msssim_l1"]
#: Losses that take a per-pixel mask (a weighted mean); the structural ones refuse it.
PER_PIXEL_LOSSES: tuple[LossName, ...] = ("mse", "l1", "bce")
NoiseFn = Callable[..., np.ndarray]

#: kind → config class of every registered objective.
OBJECTIVES: dict[str, type[ObjectiveConfig]] = {}


@dataclass(frozen=True)
class Batch:
    """One training batch ``(B, H, W)`` float32: network input, target, optional loss mask (0/1, or weights:
    the per-pixel losses take a weighted mean), the per-sample noise std ``(B,)`` on the [0, 1] scale when
    the network is told it (conditioned training), and the per-sample lag-1 correlation of the noise
    ``(B,)`` when the network is told that too."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray | None
    sigma: np.ndarray | None = None
    correlation: np.ndarray | None = None


def as_float32(array: np.ndarray) -> np.ndarray:
    """``array`` as float32 (no copy when it already is)."""
    return np.asarray(array, dtype=np.float32)


class Objective(Protocol):
    """A training objective built from its config by :meth:`ObjectiveConfig.build`."""

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """The ``(N, H, W)`` arrays that are cropped and augmented together, one sample each.

        ``noise`` is given for ``noise_mode="fixed"`` (corrupt ``images`` once, here, with ``rng``);
        it is None when ``images`` are already noisy, and ``targets`` then holds the explicit targets
        (or None). Raise ``ValueError`` for data the objective cannot train on.
        """
        ...

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        """One batch from ``crops`` ``(S, B, H, W)``: one crop of each array of :meth:`sources`.

        With ``noise_mode="fresh"`` the trainer skips :meth:`sources`: ``crops`` is then
        ``(1, B, H, W)`` clean crops and ``noise`` draws new corruptions with ``rng``.
        """
        ...

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The scalar loss of a prediction ``(B, 1, H, W)`` against a batch's target and mask."""
        ...


@runtime_checkable
class TrainableObjective(Protocol):
    """An objective with trainable parts of its own (an adversarial loss's critic), besides the network.

    The trainer seeds the parts (:meth:`prepare`), puts them in train mode for training batches and in
    eval mode for validation batches (as it does the network: an objective may leave a term out of
    the validation loss that way), calls :meth:`update` after every optimiser step of the main phase,
    and checkpoints every part's weights and optimiser state with ``last`` for an exact resume.
    """

    def prepare(self, *, seed: int) -> None:
        """(Re)initialise the parts and their optimisers from ``seed`` (leaving the caller's torch RNG alone)."""
        ...

    def parts(self) -> dict[str, nn.Module]:
        """The trainable parts by name (names without dots)."""
        ...

    def part_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers of the parts, by name."""
        ...

    def update(self, *, rng: np.random.Generator) -> dict[str, float]:
        """Train the parts on what the last training batch's :meth:`Objective.loss` saw; every random
        draw from ``rng``. Returns values to average into the epoch's history row (may be empty)."""
        ...


class ObjectiveConfig(BaseModel):
    """Settings shared by every objective: the per-pixel or structural loss it minimises."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    loss: LossName = Field(
        "mse", description="mse, l1, bce (as in the papers), ssim or msssim_l1 (Zhao 2017)."
    )
    ssim_window: Literal["gaussian11", "uniform7"] = Field(
        "gaussian11", description="Window of the SSIM loss: Gaussian 11x11 (sigma 1.5) or uniform 7x7."
    )
    ssim_data_range: float = Field(
        1.0,
        gt=0.0,
        description="data_range of the SSIM loss (its constants C1, C2 scale with its square); 2 is what "
        "old scikit-image assumed for float images, the reading of Gondara's Tables II and III.",
    )
    msssim_alpha: float = Field(
        0.84, ge=0.0, le=1.0, description="Weight of MS-SSIM in msssim_l1 (Zhao 2017)."
    )

    def loss_fn(self) -> LossFn:
        """The configured loss ``fn(pred, target, mask=None)``."""
        return get_loss(
            self.loss,
            ssim_window=self.ssim_window,
            ssim_data_range=self.ssim_data_range,
            msssim_alpha=self.msssim_alpha,
        )

    def targets_are_images(self) -> bool:
        """Whether the trainer's explicit targets are images in [0, 1] (checked as such)."""
        return True

    def build(self) -> Objective:
        """The objective these settings describe."""
        raise NotImplementedError(f"objective {self.kind!r} does not implement build()")


class ConfiguredLoss:
    """Base of objectives whose loss is the config's ``loss`` (with the batch's mask, if any)."""

    def __init__(self, config: ObjectiveConfig) -> None:
        self.config = config
        self._loss = config.loss_fn()

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self._loss(pred, target, mask)


C = TypeVar("C", bound=ObjectiveConfig)


def register_objective(config_class: type[C]) -> type[C]:
    """Register an objective's config class under its ``kind`` default (class decorator)."""
    kind = config_class.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{config_class.__name__}: an objective config needs a default 'kind'")
    if kind in OBJECTIVES and OBJECTIVES[kind] is not config_class:
        raise ValueError(f"objective {kind!r} is registered twice")
    OBJECTIVES[kind] = config_class
    return config_class
