"""Adversarial + perceptual training (the GAN family of the survey: WGAN-VGG, MedGAN, CycleGAN-style losses).

The generator (the denoising network) minimises

    pixel(pred, clean) + perceptual_weight * LPIPS(pred, clean) - adversarial_weight * mean(D(pred))

where ``pixel`` is the wrapped objective's MSE or L1, LPIPS is the project's own LPIPS-Alex v0.1
(:mod:`meddenoise.metrics.lpips`, its weights read offline from ``meddenoise fetch-weights``'s cache) and
``D`` a small patch critic (:class:`PatchCritic`) whose score of an image is the mean of its patch scores.
Yang et al. 2018 (WGAN-VGG) combine the same three terms with a VGG perceptual loss.

The critic learns with its own Adam, ``critic_steps`` steps after every generator step, on that step's
clean targets (real) and the generator's outputs (fake, detached):

* ``wgan-gp`` (the default; Gulrajani et al. 2017): ``mean(D(fake)) - mean(D(real)) + gp_weight * GP``
  with ``GP = mean((||grad D(x_hat)||_2 - 1)^2)`` at ``x_hat = eps * real + (1 - eps) * fake``, ``eps``
  uniform per sample (:func:`gradient_penalty`). The critic has no normalisation layers, as the penalty
  is per sample.
* ``hinge`` (Miyato et al. 2018): ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``.

The generator's adversarial term is ``-mean(D(pred))`` for both. Batches come from the wrapped objective
(``base``: ``supervised`` or the noise-level-``conditioned`` one), so an adversarial run sees exactly the
inputs, targets and noise levels the plain run with the same seed sees: the comparison is like for like.
With ``adversarial_weight = 0`` the critic is not trained and with both weights 0 the loss *is* the
wrapped objective's loss. The validation loss (which picks ``best``) leaves the adversarial term out: a
critic's score drifts as it trains, so it cannot compare epochs.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from meddenoise.metrics.lpips import LPIPSNet, LPIPSWeightsMissing, load_lpips_model, lpips_tensor
from meddenoise.training.objectives.base import (
    Batch,
    NoiseFn,
    Objective,
    ObjectiveConfig,
    register_objective,
)
from meddenoise.training.objectives.conditioned import ConditionedConfig
from meddenoise.training.objectives.supervised import SupervisedConfig

__all__ = [
    "AdversarialConfig",
    "AdversarialObjective",
    "PatchCritic",
    "critic_loss",
    "critic_score",
    "gradient_penalty",
]

GanLoss = Literal["wgan-gp", "hinge"]


@register_objective
class AdversarialConfig(ObjectiveConfig):
    """Pixel + LPIPS perceptual + patch-critic adversarial loss around a supervised or conditioned objective."""

    kind: Literal["adversarial"] = "adversarial"
    base: SupervisedConfig | ConditionedConfig = Field(
        default_factory=SupervisedConfig,
        discriminator="kind",
        description="The objective that makes the batches (supervised or conditioned); its loss is the "
        "pixel loss and always equals 'loss'.",
    )
    perceptual_weight: float = Field(
        0.1, ge=0.0, description="Weight of LPIPS-Alex(pred, clean); 0 needs no LPIPS weights."
    )
    adversarial_weight: float = Field(
        1e-3,
        ge=0.0,
        description="Weight of the generator's adversarial term -mean(D(pred)); 0 trains no critic.",
    )
    gan: GanLoss = Field("wgan-gp", description="Critic loss: wgan-gp (gradient penalty) or hinge.")
    gp_weight: float = Field(10.0, ge=0.0, description="Weight of the gradient penalty (wgan-gp).")
    critic_steps: int = Field(1, ge=1, le=10, description="Critic steps after every generator step.")
    critic_lr: float = Field(1e-4, gt=0.0, description="Learning rate of the critic's Adam.")
    critic_betas: tuple[float, float] = Field(
        (0.5, 0.9), description="Adam betas of the critic (Gulrajani 2017 and Yang 2018 use (0.5, 0.9))."
    )
    critic_width: int = Field(32, ge=1, le=256, description="Channels of the critic's first layer.")

    @model_validator(mode="before")
    @classmethod
    def _share_pixel_loss(cls, data: Any) -> Any:
        # One pixel loss: a 'loss' given here is the base's; else the base's own 'loss' becomes it.
        if not isinstance(data, dict):
            return data
        base = data.get("base")
        if isinstance(base, ObjectiveConfig):
            base = base.model_dump()
        base = dict(base) if isinstance(base, dict) else {"kind": "supervised"}
        if "loss" in data:
            base["loss"] = data["loss"]
        elif "loss" in base:
            data = {**data, "loss": base["loss"]}
        return {**data, "base": base}

    @model_validator(mode="after")
    def _pixel_loss(self) -> AdversarialConfig:
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"the adversarial objective's pixel loss is mse or l1, not {self.loss!r}")
        if self.base.loss != self.loss:  # only reachable through model_construct
            raise ValueError(f"base.loss {self.base.loss!r} differs from loss {self.loss!r}")
        return self

    def build(self) -> AdversarialObjective:
        perceptual = None
        if self.perceptual_weight > 0:
            try:
                perceptual = load_lpips_model()
            except LPIPSWeightsMissing as exc:
                raise ValueError(
                    f"{exc} (the adversarial objective's perceptual loss; objective.perceptual_weight 0 "
                    "trains without it)"
                ) from None
        return AdversarialObjective(self, perceptual=perceptual)


class PatchCritic(nn.Module):
    """A small patch critic: (N, 1, H, W) → (N, 1, H/4, W/4) scores, one per ~22x22 receptive field.

    Two stride-2 4x4 convolutions and two 3x3 ones, LeakyReLU(0.2) between them, no normalisation
    (the WGAN-GP penalty is per sample, which batch statistics would break).
    """

    def __init__(self, *, width: int = 32) -> None:
        super().__init__()
        slope = 0.2
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),
            nn.LeakyReLU(slope),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(slope),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.LeakyReLU(slope),
            nn.Conv2d(4 * width, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def critic_score(critic: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The critic's score of each image ``(N,)``: the mean of its patch scores (higher = more real)."""
    scores: torch.Tensor = critic(images)
    return scores.flatten(1).mean(dim=1)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP's penalty ``mean_i (||grad_x D(x_hat_i)||_2 - 1)^2`` at ``x_hat = eps * real + (1 - eps) * fake``.

    ``eps`` is ``(N,)``, one mixing weight per sample; ``D`` is :func:`critic_score`. The result keeps
    its graph (``create_graph``), so its gradient reaches the critic's parameters.
    """
    mix = eps.to(real).view(-1, *([1] * (real.ndim - 1)))
    x_hat = (mix * real + (1 - mix) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic_score(critic, x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def critic_loss(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    gan: GanLoss,
    gp_weight: float,
    eps: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The critic's loss on one batch and its score gap ``mean(D(real)) - mean(D(fake))`` (detached).

    ``eps`` (``(N,)`` in [0, 1]) places the gradient penalty's samples; required for ``wgan-gp``.
    """
    d_real, d_fake = critic_score(critic, real), critic_score(critic, fake)
    gap = (d_real.mean() - d_fake.mean()).detach()
    if gan == "hinge":
        return torch.relu(1.0 - d_real).mean() + torch.relu(1.0 + d_fake).mean(), gap
    if eps is None:
        raise ValueError("wgan-gp needs the mixing weights eps of its gradient penalty")
    loss = d_fake.mean() - d_real.mean()
    if gp_weight > 0:
        loss = loss + gp_weight * gradient_penalty(critic, real, fake, eps)
    return loss, gap


class AdversarialObjective:
    """Batches from the wrapped objective; generator loss pixel + perceptual + adversarial; a critic of its own.

    A :class:`~meddenoise.training.objectives.base.TrainableObjective`: the trainer seeds the critic
    (:meth:`prepare`), steps it (:meth:`update`) and checkpoints it with its Adam state.
    """

    def __init__(self, config: AdversarialConfig, *, perceptual: LPIPSNet | None = None) -> None:
        if config.perceptual_weight > 0 and perceptual is None:
            raise ValueError("perceptual_weight > 0 needs the LPIPS network")
        self.config = config
        self.base: Objective = config.base.build()
        self.perceptual = perceptual
        self.critic = PatchCritic(width=config.critic_width)
        self.critic_optimizer = self._make_optimizer()
        self._seen: tuple[torch.Tensor, torch.Tensor] | None = None

    def _make_optimizer(self) -> torch.optim.Adam:
        cfg = self.config
        return torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, betas=cfg.critic_betas)

    # --- batches: the wrapped objective's -----------------------------------------------------------

    def sources(
        self,
        images: np.ndarray,
        targets: np.ndarray | None,
        *,
        noise: NoiseFn | None,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        return self.base.sources(images, targets, noise=noise, rng=rng)

    def batch(self, crops: np.ndarray, *, noise: NoiseFn | None, rng: np.random.Generator) -> Batch:
        return self.base.batch(crops, noise=noise, rng=rng)

    # --- the generator's loss -----------------------------------------------------------------------

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        cfg = self.config
        total = self.base.loss(pred, target, mask)
        if self.perceptual is not None:
            total = total + cfg.perceptual_weight * lpips_tensor(pred, target, model=self.perceptual).mean()
        if self.critic.training and cfg.adversarial_weight > 0:
            self._seen = (pred.detach(), target.detach())
            total = total - cfg.adversarial_weight * critic_score(self.critic, pred).mean()
        return total

    # --- the critic (TrainableObjective) ------------------------------------------------------------

    def prepare(self, *, seed: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.critic = PatchCritic(width=self.config.critic_width)
        self.critic_optimizer = self._make_optimizer()
        self._seen = None

    def parts(self) -> dict[str, nn.Module]:
        return {"critic": self.critic}

    def part_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"critic": self.critic_optimizer}

    def update(self, *, rng: np.random.Generator) -> dict[str, float]:
        if self._seen is None:
            return {}
        fake, real = self._seen
        self._seen = None
        cfg = self.config
        losses, gaps = [], []
        for _ in range(cfg.critic_steps):
            eps = torch.from_numpy(rng.random(len(real)).astype(np.float32)) if cfg.gan == "wgan-gp" else None
            self.critic_optimizer.zero_grad(set_to_none=True)
            loss, gap = critic_loss(self.critic, real, fake, gan=cfg.gan, gp_weight=cfg.gp_weight, eps=eps)
            loss.backward()
            self.critic_optimizer.step()
            losses.append(float(loss.detach()))
            gaps.append(float(gap))
        return {"critic_loss": float(np.mean(losses)), "critic_gap": float(np.mean(gaps))}
