"""gondara2016's networks: the paper-faithful CNN DAEs (Tables II-IV) and ours, one per setting too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from meddenoise.experiments.protocol import TrainedModel, train_denoiser
from meddenoise.experiments.reproductions.gondara2016.data import GROUPS
from meddenoise.experiments.reproductions.gondara2016.labels import DAE, DAE_A, DAE_B, OURS
from meddenoise.experiments.reproductions.gondara2016.settings import (
    BASE_KEY,
    SETTINGS,
    GondaraConfig,
)
from meddenoise.experiments.reproductions.gondara2016.state import GondaraRun

if TYPE_CHECKING:
    from meddenoise.training import TrainConfig

__all__ = ["dae_config", "ours_config", "paper_faithful_models", "train_ours"]


def dae_config(config: GondaraConfig) -> TrainConfig:
    """The paper-faithful DAE's training (Fig. 5 model, Adadelta, BCE, batch 10, fixed corruption).

    Each training derives its noise, epochs and seed from this one.
    """
    from meddenoise.training import TrainConfig

    return TrainConfig(
        precision=config.precision,  # auto by default: bf16 where faster, as good as fp32 here (docs)
        model="gondara-dae",
        noise=SETTINGS[BASE_KEY].spec,
        noise_mode="fixed",
        loss=config.loss,
        optimizer=config.optimizer,
        epochs=config.epochs,
        batch_size=config.batch_size,
        val_fraction=0.1,
        seed=config.seed,
        num_threads=config.threads,
    )


def ours_config(config: GondaraConfig, key: str, seed: int) -> TrainConfig:
    """Our network for setting ``key``: the same data as the paper's DAE, trained the modern way.

    Fresh noise of the setting on every batch (the paper corrupts each image once), flips and 90-degree
    rotations, Adam with a cosine schedule, and by default the tables' own measure as the loss (SSIM,
    7x7 uniform window) on whole 64x64 images: at the heavy settings the noisy image is nearly invisible
    and only the whole image's context recovers it.
    """
    from meddenoise.training import TrainConfig

    return TrainConfig(
        precision=config.precision,
        model=config.ours_model,
        model_params=dict(config.ours_params),
        patch_size=config.ours_patch_size,
        noise=SETTINGS[key].spec,
        noise_mode="fresh",
        loss=config.ours_loss,
        ssim_window="uniform7",
        optimizer="adam",
        lr_schedule="cosine",
        epochs=config.ours_epochs,
        batch_size=config.ours_batch_size,
        augment_flips=True,
        augment_rot90=True,
        val_fraction=0.1,
        seed=seed,
        num_threads=config.threads,
    )


def _train(
    run: GondaraRun, name: str, config: TrainConfig, images: np.ndarray, *, detail: str = "", label: str = ""
) -> TrainedModel:
    """Train ``config`` on ``images`` into ``runs/<name>`` as one timed step; kept in ``run.models``."""
    with run.record.step(f"train {name}{detail} ({len(images)} images, {config.epochs} epochs)"):
        model = train_denoiser(
            label or name,
            config,
            images,
            out_dir=run.record.out_dir / "runs" / name,
            batch_size=64,
            resume=run.config.resume,
        )
    run.models[name] = model
    return model


def _train_dae(run: GondaraRun, name: str, key: str, images: np.ndarray, epochs: int) -> TrainedModel:
    config = dae_config(run.config).derive(
        noise=SETTINGS[key].spec, epochs=epochs, seed=run.seed("train", name)
    )
    return _train(run, name, config, images)


def _apply(run: GondaraRun, key: str, method: str, model: TrainedModel) -> None:
    run.record_method(key, method, model.denoiser(run.noisy[key]))


def paper_faithful_models(run: GondaraRun, keys: Sequence[str]) -> None:
    """Table II per dataset (a), Table III combined (b), Table IV one model per setting (combined set)."""
    data, cfg = run.data, run.config
    per_group = {g: _train_dae(run, f"dae-{g}", BASE_KEY, data.train[g], cfg.epochs) for g in GROUPS}
    comb = _train_dae(run, "dae-combined", BASE_KEY, data.combined_train, cfg.epochs)
    with run.record.step("apply paper-faithful models (Tables II, III)"):
        a_out = np.empty_like(run.test)
        for g, model in per_group.items():
            m = run.group == g
            a_out[m] = model.denoiser(run.noisy[BASE_KEY][m])
        run.record_method(BASE_KEY, DAE_A, a_out)
        _apply(run, BASE_KEY, DAE_B, comb)
    for key in keys:
        if key == BASE_KEY:
            continue
        model = _train_dae(run, f"dae-combined-{key}", key, data.combined_train, cfg.table4_epochs)
        _apply(run, key, DAE, model)
    # Table IV's CNN DAE row at the base setting is the combined model (b).
    run.alias(BASE_KEY, DAE, DAE_B)


def train_ours(run: GondaraRun, keys: Sequence[str]) -> None:
    """Our network per setting, like the paper's DAE per setting, applied to that setting's test images."""
    from meddenoise.models.denoiser import BatchDenoiser
    from meddenoise.models.ensemble import SelfEnsemble

    cfg = run.config
    train = run.data.combined_train
    for key in keys:
        name = f"ours-{key}"
        model = _train(
            run,
            name,
            ours_config(cfg, key, run.seed("train", name)),
            train,
            detail=f": {cfg.ours_model}, {cfg.ours_loss} loss",
            label=f"ours ({cfg.ours_model}, {key})",
        )
        # the test-time self-ensemble: the same weights run on flipped / rotated copies, averaged
        assert isinstance(model.denoiser, BatchDenoiser)  # train_denoiser wraps a network
        denoiser = SelfEnsemble(model.denoiser, cfg.ours_ensemble)
        run.record_method(key, OURS, denoiser(run.noisy[key]))
