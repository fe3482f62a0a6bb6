"""gondara2016's networks: the paper-faithful CNN DAEs (Tables II-IV) and ours, one per setting too."""

from __future__ import annotations

import json
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
    from meddenoise.experiments.protocol import TrainingJob
    from meddenoise.training import TrainConfig

__all__ = [
    "dae_config",
    "ours_config",
    "paper_faithful_models",
    "train_ours",
    "train_processes",
    "training_jobs",
    "training_threads",
]


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
    """Train ``config`` on ``images`` into ``runs/<name>`` as one timed step; kept in ``run.models``.

    A training already run in a worker (:mod:`.ahead`) is loaded from its folder, with the time it took there.
    """
    ahead = run.trained_ahead.get(name)
    action = "load" if ahead is not None else "train"
    with run.record.step(f"{action} {name}{detail} ({len(images)} images, {config.epochs} epochs)"):
        model = train_denoiser(
            label or name,
            config,
            images,
            out_dir=run.record.out_dir / "runs" / name,
            batch_size=64,
            progress=ahead is None,
            resume=run.config.resume or ahead is not None,
        )
    if ahead is not None:
        model.seconds = ahead
    run.models[name] = model
    return model


def train_processes(config: GondaraConfig) -> int:
    """How many trainings (and baselines) run at once: ``config.train_processes``, or one per CPU core at 0."""
    from meddenoise.pipeline.executors import available_cores

    return config.train_processes or available_cores()


def training_threads(config: GondaraConfig) -> int:
    """Torch threads of each training: the run's threads shared among those that run at once (at least 1)."""
    return max(1, config.threads // train_processes(config))


def _dae_training(run: GondaraRun, name: str, key: str, epochs: int) -> TrainConfig:
    return dae_config(run.config).derive(
        noise=SETTINGS[key].spec,
        epochs=epochs,
        seed=run.seed("train", name),
        num_threads=training_threads(run.config),
    )


def _dae_trainings(run: GondaraRun, keys: Sequence[str]) -> dict[str, tuple[TrainConfig, np.ndarray]]:
    """Every paper-faithful DAE of the run: ``{name: (config, training images)}``."""
    data, cfg = run.data, run.config
    trainings = {
        f"dae-{g}": (_dae_training(run, f"dae-{g}", BASE_KEY, cfg.epochs), data.train[g]) for g in GROUPS
    }
    trainings["dae-combined"] = (
        _dae_training(run, "dae-combined", BASE_KEY, cfg.epochs),
        data.combined_train,
    )
    for key in keys:
        if key != BASE_KEY:
            name = f"dae-combined-{key}"
            trainings[name] = (_dae_training(run, name, key, cfg.table4_epochs), data.combined_train)
    return trainings


def _ours_trainings(run: GondaraRun, keys: Sequence[str]) -> dict[str, tuple[TrainConfig, np.ndarray]]:
    """Every 'ours' network of the run, one per setting: ``{name: (config, training images)}``."""
    threads = training_threads(run.config)
    return {
        f"ours-{key}": (
            ours_config(run.config, key, run.seed("train", f"ours-{key}")).derive(num_threads=threads),
            run.data.combined_train,
        )
        for key in keys
    }


def _longest_first(trainings: dict[str, tuple[TrainConfig, np.ndarray]]) -> list[str]:
    """The trainings' names, the most forward-pass FLOPs (epochs x images x one image's) first."""
    from meddenoise.models import build_model, count_flops

    per_image: dict[str, float] = {}  # one count per distinct network and input size
    costs = {}
    for name, (config, images) in trainings.items():
        side = config.data.patch_size
        h, w = (side, side) if side is not None else images.shape[-2:]
        network = json.dumps([config.model, config.model_params, h, w], sort_keys=True)
        if network not in per_image:
            model = build_model(config.model, **config.model_params)
            per_image[network] = float(count_flops(model, (1, 1, h, w)))
        costs[name] = per_image[network] * len(images) * config.epochs
    return sorted(trainings, key=lambda name: -costs[name])


def training_jobs(run: GondaraRun, keys: Sequence[str]) -> list[TrainingJob]:
    """Every network of the run (the DAEs and ours) as worker jobs, the longest first (by FLOPs).

    The short ones then fill the end when they run several at a time: ours before the DAEs in a full
    run, after them with ``--ours-epochs 1``. Each trains into ``runs/<name>``, where :func:`_train`
    finds it finished and loads it.
    """
    from meddenoise.experiments.protocol import TrainingJob

    trainings = {**_ours_trainings(run, keys), **_dae_trainings(run, keys)}
    runs = run.record.out_dir / "runs"
    return [
        TrainingJob(name, *trainings[name], runs / name, resume=run.config.resume)
        for name in _longest_first(trainings)
    ]


def _apply(run: GondaraRun, key: str, method: str, model: TrainedModel) -> None:
    run.record_method(key, method, model.denoiser(run.noisy[key]))


def paper_faithful_models(run: GondaraRun, keys: Sequence[str]) -> None:
    """Table II per dataset (a), Table III combined (b), Table IV one model per setting (combined set)."""
    trainings = _dae_trainings(run, keys)
    models = {name: _train(run, name, config, images) for name, (config, images) in trainings.items()}
    with run.record.step("apply paper-faithful models (Tables II, III)"):
        a_out = np.empty_like(run.test)
        for g in GROUPS:
            m = run.group == g
            a_out[m] = models[f"dae-{g}"].denoiser(run.noisy[BASE_KEY][m])
        run.record_method(BASE_KEY, DAE_A, a_out)
        _apply(run, BASE_KEY, DAE_B, models["dae-combined"])
    for key in keys:
        if key != BASE_KEY:
            _apply(run, key, DAE, models[f"dae-combined-{key}"])
    # Table IV's CNN DAE row at the base setting is the combined model (b).
    run.alias(BASE_KEY, DAE, DAE_B)


def train_ours(run: GondaraRun, keys: Sequence[str]) -> None:
    """Our network per setting, like the paper's DAE per setting, applied to that setting's test images."""
    from meddenoise.models.denoiser import BatchDenoiser
    from meddenoise.models.ensemble import SelfEnsemble

    cfg = run.config
    trainings = _ours_trainings(run, keys)
    for key in keys:
        name = f"ours-{key}"
        config, images = trainings[name]
        model = _train(
            run,
            name,
            config,
            images,
            detail=f": {cfg.ours_model}, {cfg.ours_loss} loss",
            label=f"ours ({cfg.ours_model}, {key})",
        )
        # the test-time self-ensemble: the same weights run on flipped / rotated copies, averaged
        assert isinstance(model.denoiser, BatchDenoiser)  # train_denoiser wraps a network
        denoiser = SelfEnsemble(model.denoiser, cfg.ours_ensemble)
        run.record_method(key, OURS, denoiser(run.noisy[key]))
