"""The adversarial objective: its critic learns and resumes exactly, its penalty, its terms, its composition."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from training_helpers import make_images

from meddenoise.metrics.lpips import lpips_available, lpips_tensor
from meddenoise.training import CheckpointError, TrainConfig, train
from meddenoise.training.objectives import AdversarialConfig, ConditionedConfig, TrainableObjective
from meddenoise.training.objectives.adversarial import critic_score, gradient_penalty

TINY_UNET = {"channels": [4, 8], "blocks": 0}
CONDITIONED = {"kind": "conditioned", "sigma_low": 0.02, "sigma_high": 0.1, "clean_fraction": 0.0}


def _config(objective: dict, *, epochs: int = 2, size_note: str = "") -> TrainConfig:
    return TrainConfig(
        model="ffdunet",
        model_params=TINY_UNET,
        noise=None,
        objective=objective,
        epochs=epochs,
        batch_size=4,
        val_fraction=0.25,
        seed=2,
        num_threads=1,
        precision="fp32",
        channels_last=False,
    )


def _adversarial(**fields: object) -> dict:
    return {"kind": "adversarial", "base": CONDITIONED, "perceptual_weight": 0.0, **fields}


def _smooth_and_noisy(n: int = 8, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    real = torch.from_numpy(make_images(n, size=size, seed=1))[:, None]
    fake = (real + 0.1 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    return real, fake


# --- the critic ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("gan", ["wgan-gp", "hinge"])
def test_critic_steps_update_the_critic_and_widen_its_score_gap(gan: str) -> None:
    objective = AdversarialConfig(
        base=CONDITIONED, perceptual_weight=0.0, gan=gan, critic_lr=3e-3, critic_width=8
    ).build()
    objective.prepare(seed=0)
    before = {k: v.clone() for k, v in objective.critic.state_dict().items()}
    real, fake = _smooth_and_noisy()
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(10):
        objective.loss(fake, real, None)  # what a training batch's loss sees: the critic learns from it
        gaps.append(objective.update(rng=rng)["critic_gap"])
    after = objective.critic.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():
        gap = float(critic_score(objective.critic, real).mean() - critic_score(objective.critic, fake).mean())
    # The critic tells the clean images from the noisy ones better than it did at the start.
    assert gap > gaps[0] + 0.05 and gap > 0


def test_the_critic_is_not_trained_without_a_training_batch_or_with_zero_weight() -> None:
    real, fake = _smooth_and_noisy()
    objective = AdversarialConfig(base=CONDITIONED, perceptual_weight=0.0).build()
    objective.prepare(seed=0)
    objective.critic.eval()  # validation: nothing is kept for the critic
    objective.loss(fake, real, None)
    assert objective.update(rng=np.random.default_rng(0)) == {}
    off = AdversarialConfig(base=CONDITIONED, perceptual_weight=0.0, adversarial_weight=0.0).build()
    off.prepare(seed=0)
    off.loss(fake, real, None)
    assert off.update(rng=np.random.default_rng(0)) == {}


def test_a_generator_step_raises_the_critics_score_of_its_output() -> None:
    """The adversarial term pulls the generator's output towards what the critic scores as real."""
    real, fake = _smooth_and_noisy()
    objective = AdversarialConfig(
        base=CONDITIONED,
        perceptual_weight=0.0,
        adversarial_weight=10.0,
        gan="hinge",
        critic_lr=3e-3,
        critic_width=8,
    ).build()
    objective.prepare(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(10):  # a critic that tells the noisy images from the clean ones
        objective.loss(fake, real, None)
        objective.update(rng=rng)
    generator = nn.Conv2d(1, 1, 3, padding=1)
    with torch.no_grad():  # starts as the identity: its output is the noisy image
        generator.weight.zero_()
        generator.weight[0, 0, 1, 1] = 1.0
        generator.bias.zero_()
    optimizer = torch.optim.SGD(generator.parameters(), lr=0.01)
    with torch.no_grad():
        score_before = float(critic_score(objective.critic, generator(fake)).mean())
        gap_before = float(critic_score(objective.critic, real).mean()) - score_before
    for _ in range(3):
        optimizer.zero_grad()
        objective.loss(generator(fake), real, None).backward()
        optimizer.step()
    with torch.no_grad():
        score_after = float(critic_score(objective.critic, generator(fake)).mean())
        gap_after = float(critic_score(objective.critic, real).mean()) - score_after
    assert score_after > score_before
    assert gap_after < gap_before  # the critic's gap between real and generated shrinks


def test_gradient_penalty_equals_a_hand_computation() -> None:
    class MeanSquare(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x**2  # score = mean(x^2) over the pixels: gradient 2 x / (H W)

    real = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])
    fake = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]], [[[1.0, -1.0], [2.0, 0.0]]]])
    eps = torch.tensor([0.5, 0.25])
    # by hand: x_hat = eps real + (1 - eps) fake; grad = x_hat / 2; penalty = mean_i (|grad_i| - 1)^2
    x_hat_0 = np.array([0.5, 1.0, 1.5, 2.0])
    x_hat_1 = 0.25 * 0.5 + 0.75 * np.array([1.0, -1.0, 2.0, 0.0])
    expected = np.mean([(np.linalg.norm(x / 2) - 1) ** 2 for x in (x_hat_0, x_hat_1)])
    got = gradient_penalty(MeanSquare(), real, fake, eps)
    assert float(got.detach()) == pytest.approx(expected, rel=1e-6)
    # and its gradient reaches a critic's parameters (create_graph)
    critic = nn.Conv2d(1, 1, 1, bias=False)
    gradient_penalty(critic, real, fake, eps).backward()
    assert critic.weight.grad is not None and float(critic.weight.grad.abs().sum()) > 0


# --- the generator's loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["supervised", "conditioned"])
@pytest.mark.parametrize("pixel", ["mse", "l1"])
def test_with_both_weights_zero_the_loss_is_the_pixel_objectives_loss(base: str, pixel: str) -> None:
    base_config = {"kind": base, "loss": pixel}
    adversarial = TrainConfig(
        objective={**_adversarial(adversarial_weight=0.0), "base": base_config}
    ).objective.build()
    plain = TrainConfig(objective=base_config).objective.build()
    gen = torch.Generator().manual_seed(3)
    pred, target = torch.rand(4, 1, 16, 16, generator=gen), torch.rand(4, 1, 16, 16, generator=gen)
    assert torch.equal(adversarial.loss(pred, target, None), plain.loss(pred, target, None))


def test_with_both_weights_zero_a_run_is_the_plain_conditioned_run(tmp_path: Path) -> None:
    clean = make_images(12, size=16)
    adversarial = train(
        _config(_adversarial(adversarial_weight=0.0)), clean, out_dir=tmp_path / "a", progress=False
    )
    plain = train(_config(CONDITIONED), clean, out_dir=tmp_path / "p", progress=False)
    assert [r["train_loss"] for r in adversarial.history] == [r["train_loss"] for r in plain.history]
    assert [r["val_loss"] for r in adversarial.history] == [r["val_loss"] for r in plain.history]


def test_the_adversarial_term_is_minus_the_weighted_critic_score_and_left_out_of_validation() -> None:
    objective = AdversarialConfig(base=CONDITIONED, perceptual_weight=0.0, adversarial_weight=0.5).build()
    objective.prepare(seed=0)
    real, fake = _smooth_and_noisy()
    pixel = torch.mean((fake - real) ** 2)
    expected = pixel - 0.5 * critic_score(objective.critic, fake).mean()
    torch.testing.assert_close(objective.loss(fake, real, None), expected)
    objective.critic.eval()
    assert torch.equal(objective.loss(fake, real, None), pixel)


@pytest.mark.skipif(not lpips_available(), reason="LPIPS weights absent: run `meddenoise fetch-weights`")
def test_the_perceptual_term_is_the_weighted_lpips_distance() -> None:
    objective = AdversarialConfig(base=CONDITIONED, perceptual_weight=0.3, adversarial_weight=0.0).build()
    real, fake = _smooth_and_noisy(n=2, size=32)
    pixel = torch.mean((fake - real) ** 2)
    torch.testing.assert_close(
        objective.loss(fake, real, None), pixel + 0.3 * lpips_tensor(fake, real).mean()
    )


def test_missing_lpips_weights_are_one_line_naming_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDDENOISE_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ValueError) as info:
        AdversarialConfig(base=CONDITIONED, perceptual_weight=0.1).build()
    message = str(info.value)
    assert "\n" not in message and "fetch-weights" in message and "perceptual_weight 0" in message
    AdversarialConfig(base=CONDITIONED, perceptual_weight=0.0).build()  # weight 0: no weights needed


# --- the config ---------------------------------------------------------------------------------------


def test_config_shares_one_pixel_loss_and_refuses_what_it_cannot_train() -> None:
    cfg = TrainConfig(noise=None, objective={**_adversarial(), "loss": "l1"})
    assert isinstance(cfg.objective, AdversarialConfig) and isinstance(cfg.objective.base, ConditionedConfig)
    assert cfg.objective.base.loss == "l1"
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    from_base = TrainConfig(objective={"kind": "adversarial", "base": {"kind": "supervised", "loss": "l1"}})
    assert from_base.objective.loss == "l1"
    assert cfg.derive(objective={"loss": "mse"}).objective.base.loss == "mse"
    with pytest.raises(ValueError, match="mse or l1"):
        TrainConfig(objective={"kind": "adversarial", "loss": "ssim"})
    with pytest.raises(ValueError, match="base"):
        TrainConfig(objective={"kind": "adversarial", "base": {"kind": "noise2void"}})
    assert TrainConfig(mode="adversarial").objective.kind == "adversarial"


# --- training, checkpoints, exact resume -----------------------------------------------------------------


def test_interrupted_adversarial_run_resumes_bit_identically(tmp_path: Path) -> None:
    clean = make_images(12, size=16)
    cfg = _config(_adversarial(adversarial_weight=0.05, critic_steps=2, critic_lr=1e-3), epochs=4)
    full = train(cfg, clean, out_dir=tmp_path / "full", progress=False)
    part = train(
        cfg, clean, out_dir=tmp_path / "part", progress=False, on_epoch_end=lambda row: row["epoch"] == 2
    )
    assert part.interrupted
    first_critic = load_file(tmp_path / "part" / "last.parts.safetensors")
    resumed = train(cfg, clean, out_dir=tmp_path / "part", resume=True, progress=False)
    for key in ("train_loss", "val_loss", "critic_loss", "critic_gap"):
        assert [r[key] for r in resumed.history] == [r[key] for r in full.history], key
    assert all(
        torch.equal(a, b)
        for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values(), strict=True)
    )
    full_parts = load_file(tmp_path / "full" / "last.parts.safetensors")
    resumed_parts = load_file(tmp_path / "part" / "last.parts.safetensors")
    assert full_parts.keys() == resumed_parts.keys()
    assert any(k.startswith("optim.critic.state.") for k in full_parts)  # the critic's Adam moments
    assert all(torch.equal(full_parts[k], resumed_parts[k]) for k in full_parts)
    # the critic kept learning after the interruption
    assert not torch.equal(
        first_critic["module.critic.net.0.weight"], full_parts["module.critic.net.0.weight"]
    )


def test_resume_refuses_a_run_whose_critic_state_is_gone(tmp_path: Path) -> None:
    clean = make_images(8, size=16)
    cfg = _config(_adversarial(), epochs=2)
    train(cfg, clean, out_dir=tmp_path / "run", progress=False, on_epoch_end=lambda row: True)
    doc = json.loads((tmp_path / "run" / "last.json").read_text())
    doc.pop("parts")
    (tmp_path / "run" / "last.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="checkpoint is corrupt: no state of the objective's own parts"):
        train(cfg, clean, out_dir=tmp_path / "run", resume=True, progress=False)


def test_the_objective_declares_trainable_parts_and_the_plain_ones_do_not() -> None:
    assert isinstance(AdversarialConfig(perceptual_weight=0.0).build(), TrainableObjective)
    assert not isinstance(ConditionedConfig().build(), TrainableObjective)


@pytest.mark.integration
def test_cli_trains_and_resumes_the_adversarial_objective(tmp_path: Path) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from meddenoise.cli.main import app

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(make_images(8, size=16, seed=5)):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    config = tmp_path / "adversarial.json"
    config.write_text(_config(_adversarial(adversarial_weight=0.01)).to_json())
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(folder),
        "--config",
        str(config),
        "--mode",
        "adversarial",
        "--out",
        str(out),
        "-q",
    ]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    assert "ffdunet (adversarial)" in first.output
    more = runner.invoke(app, [*args, "--epochs", "2", "--resume"])
    assert more.exit_code == 0, more.output
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2] and all("critic_loss" in r for r in history)
    assert (out / "last.parts.safetensors").is_file()
