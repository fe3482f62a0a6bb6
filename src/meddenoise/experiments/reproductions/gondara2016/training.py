"""gondara2016's networks: the paper-faithful CNN DAEs (Tables II-IV) and our blind network ("ours")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from meddenoise._utils import as_rng
from meddenoise.experiments.protocol import TrainedModel, pick_model, train_denoiser
from meddenoise.experiments.reproductions.gondara2016.data import GROUPS
from meddenoise.experiments.reproductions.gondara2016.labels import DAE, DAE_A, DAE_B, OURS
from meddenoise.experiments.reproductions.gondara2016.settings import (
    BASE_KEY,
    OURS_PREFERENCE,
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
        precision="fp32",  # float32 like the papers: the same numbers on every CPU (auto may pick bf16)
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


def ours_config(config: GondaraConfig, model: str, seed: int) -> TrainConfig:
    """Our blind network's training: MSE, Adam + cosine, flips, patches, pairs made by the caller."""
    from meddenoise.training import TrainConfig

    return TrainConfig(
        precision="fp32",  # float32 like the papers: the same numbers on every CPU (auto may pick bf16)
        model=model,
        model_params=dict(config.ours_params),
        patch_size=config.ours_patch_size,
        noise=None,
        loss="mse",
        optimizer="adam",
        lr_schedule="cosine",
        epochs=config.ours_epochs,
        batch_size=config.ours_batch_size,
        augment_flips=True,
        val_fraction=0.1,
        seed=seed,
        num_threads=config.threads,
    )


def _train_dae(run: GondaraRun, name: str, key: str, images: np.ndarray, epochs: int) -> TrainedModel:
    config = dae_config(run.config).derive(
        noise=SETTINGS[key].spec, epochs=epochs, seed=run.seed("train", name)
    )
    with run.record.step(f"train {name} ({len(images)} images, {epochs} epochs)"):
        model = train_denoiser(
            name, config, images, out_dir=run.record.out_dir / "runs" / name, batch_size=64
        )
    run.models[name] = model
    return model


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


def train_ours(run: GondaraRun, keys: Sequence[str]) -> TrainedModel:
    """One blind network for every setting; applied to every setting's test images."""
    from meddenoise.noise import parse_noise

    cfg = run.config
    name = cfg.ours_model or pick_model(OURS_PREFERENCE)
    train = run.data.combined_train
    # A blind mixture: each of `ours_copies` copies of every training image gets one setting drawn at
    # random, so one network sees every corruption (and its own noise draw) without one copy per setting.
    pick = as_rng(run.seed("ours-mix")).integers(len(keys), size=(cfg.ours_copies, len(train)))
    noisy = np.empty((cfg.ours_copies, *train.shape), np.float32)
    for copy in range(cfg.ours_copies):
        for j, k in enumerate(keys):
            sel = pick[copy] == j
            if sel.any():
                noise = parse_noise(SETTINGS[k].spec)
                noisy[copy, sel] = noise(train[sel], rng=run.seed("ours-noise", k, copy))
    noisy = noisy.reshape(-1, *train.shape[1:])
    clean = np.concatenate([train] * cfg.ours_copies)
    config = ours_config(cfg, name, run.seed("ours"))
    with run.record.step(f"train ours: {name}, blind over {len(keys)} settings ({len(noisy)} pairs)"):
        model = train_denoiser(
            f"ours ({name})",
            config,
            noisy,
            train_targets=clean,
            out_dir=run.record.out_dir / "runs" / "ours",
            batch_size=64,
        )
    run.models["ours"] = model
    with run.record.step("apply ours"):
        for key in keys:
            _apply(run, key, OURS, model)
    return model
