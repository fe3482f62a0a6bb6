"""The training loop: config in, checkpoints, history and loss curves out; exact resume.

Layout of ``out_dir`` after a run::

    config.json                the TrainConfig
    best.safetensors/.json     weights with the lowest validation loss (training loss without a val set)
    last.safetensors/.json     weights after the last finished epoch, plus
    last.optim.safetensors     the optimiser state, for ``resume=True``
    history.json               per-epoch train/val loss, learning rate, seconds, images/s
    history.png                training vs validation loss (Gondara 2016, Fig. 7)

Determinism: model initialisation uses ``torch.manual_seed(seed)`` (in a forked RNG, leaving the
caller's state alone); every random draw of epoch ``e`` (order, patches, augmentation, noise,
blind-spot masks, code corruption) comes from a numpy Generator seeded by ``(seed, e)``. A run resumed
from ``last`` therefore replays exactly the epochs an uninterrupted run would have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from meddenoise._utils import atomic_path
from meddenoise.models.registry import build_model
from meddenoise.training.batches import (
    STREAM_EPOCH,
    STREAM_FIXED_NOISE,
    STREAM_SPLIT,
    STREAM_VAL,
    Batch,
    BatchSource,
    seeded_rng,
)
from meddenoise.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_optimizer_state,
    read_checkpoint_json,
    run_metadata,
    save_checkpoint,
)
from meddenoise.training.config import TrainConfig, parse_noise_spec
from meddenoise.training.losses import get_loss
from meddenoise.training.plot import plot_history

__all__ = ["Phase", "TrainResult", "train"]

# Fields that may differ between an interrupted run and its resumption.
_RESUMABLE_CHANGES = frozenset({"epochs", "num_threads", "early_stopping_patience"})


@dataclass(frozen=True)
class Phase:
    """A stretch of epochs: greedy pretraining of one stacked-DAE layer, or the main training."""

    name: str  # "pretrain-layer-<k>" or "train"
    layer: int | None
    epochs: int


@dataclass
class TrainResult:
    """What :func:`train` returns: the model with its best weights and where everything was written."""

    model: nn.Module
    config: TrainConfig
    history: list[dict[str, Any]]
    out_dir: Path
    best_path: Path
    last_path: Path
    best_epoch: int | None
    best_loss: float | None
    stopped_early: bool = False
    interrupted: bool = False
    epochs_run: int = 0
    seconds: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def train_images_per_second(self) -> float | None:
        """Mean training throughput of the main phase's epochs run in this call."""
        rows = [r for r in self.history if r.get("phase") == "train" and r.get("images_per_second")]
        return float(np.mean([r["images_per_second"] for r in rows])) if rows else None


def _phases(config: TrainConfig, model: nn.Module) -> list[Phase]:
    phases: list[Phase] = []
    layers = getattr(model, "num_layers", None)
    if config.model == "stacked-dae" and layers and config.pretrain_epochs_per_layer > 0:
        phases = [Phase(f"pretrain-layer-{k}", k, config.pretrain_epochs_per_layer) for k in range(layers)]
    return [*phases, Phase("train", None, config.epochs)]


def _phase_at(phases: list[Phase], epoch: int) -> tuple[Phase, int]:
    """The phase of global epoch index ``epoch`` (0-based) and the epoch index inside that phase."""
    for phase in phases:
        if epoch < phase.epochs:
            return phase, epoch
        epoch -= phase.epochs
    raise IndexError(epoch)


def _make_optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    lr, wd = config.learning_rate, config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adadelta":
        # Keras' Adadelta (rho 0.95, epsilon 1e-7), as in the papers' Keras code.
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)


def _make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> Any:
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=config.lr_step_size, gamma=config.lr_gamma
        )
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.lr_gamma, patience=config.lr_plateau_patience
        )
    return None


def _check_images(name: str, images: np.ndarray | None) -> np.ndarray | None:
    if images is None:
        return None
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty (N, H, W) image array, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: holds NaN or Inf values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"{name}: values must lie in [0, 1], got [{arr.min():.4g}, {arr.max():.4g}]")
    return arr


def _split(
    config: TrainConfig, images: np.ndarray, targets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Hold out ``val_fraction`` of the images (seeded) when no validation set is given."""
    n = len(images)
    n_val = round(config.val_fraction * n)
    if config.val_fraction > 0:
        n_val = max(1, n_val)
    if n_val == 0:
        return images, targets, None, None
    if n_val >= n:
        raise ValueError(f"val_fraction {config.val_fraction} leaves no training images out of {n}")
    order = seeded_rng(config.seed, STREAM_SPLIT).permutation(n)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    pick = lambda a, idx: None if a is None else a[idx]  # noqa: E731
    return images[train_idx], pick(targets, train_idx), images[val_idx], pick(targets, val_idx)


class _Runner:
    """Computes the loss of a batch for a phase (greedy layer pretraining or end-to-end training)."""

    def __init__(self, config: TrainConfig, model: nn.Module) -> None:
        self.config = config
        self.model = model
        self.loss_fn = get_loss(config.loss, ssim_window=config.ssim_window, msssim_alpha=config.msssim_alpha)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[:, None].contiguous(
            memory_format=self.memory_format
        )

    def loss(self, batch: Batch, phase: Phase, rng: np.random.Generator) -> torch.Tensor:
        inputs, targets = self._tensor(batch.inputs), self._tensor(batch.targets)
        mask = None if batch.mask is None else self._tensor(batch.mask)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16):
            if phase.layer is None:
                pred = self.model(inputs)
            elif phase.layer == 0:
                pred = self.model.layer_autoencoder(0, self.model.encode(inputs, 0))
                pred = pred[..., : inputs.shape[-2], : inputs.shape[-1]]
            else:
                return self._code_loss(targets, phase.layer, rng)
        return self.loss_fn(pred.float(), targets, mask)

    def _code_loss(self, images: torch.Tensor, layer: int, rng: np.random.Generator) -> torch.Tensor:
        # Vincent 2010: layer k is a denoising autoencoder of the codes below it. Codes of the (frozen)
        # lower layers are corrupted by masking noise and layer k learns to restore them.
        model = self.model
        with torch.no_grad():
            codes = model.encode(images, layer)
        keep = rng.random(codes.shape) >= self.config.pretrain_code_corruption
        corrupted = codes * torch.from_numpy(keep).to(codes.dtype)
        pred = model.layer_autoencoder(layer, corrupted)
        return torch.mean((pred.float() - codes.float()) ** 2)


def _evaluate(runner: _Runner, source: BatchSource, phase: Phase, config: TrainConfig) -> float:
    """Mean loss over the validation set; its noise and masks are the same draws every epoch."""
    rng = seeded_rng(config.seed, STREAM_VAL)
    total, count = 0.0, 0
    runner.model.eval()
    with torch.no_grad():
        for batch in source.batches(rng, batch_size=config.batch_size, shuffle=False, augment=False):
            total += float(runner.loss(batch, phase, rng)) * len(batch.inputs)
            count += len(batch.inputs)
    return total / count


def _noise_model(config: TrainConfig) -> Callable[..., np.ndarray] | None:
    return None if config.noise is None else parse_noise_spec(config.noise)


def _init_model(config: TrainConfig) -> tuple[nn.Module, dict[str, Any]]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(config.model, **config.model_params)
    info: dict[str, Any] = {}
    if config.init_from is not None:
        source, source_config = load_checkpoint(config.init_from)
        if (source_config.model, source_config.model_params) != (config.model, config.model_params):
            raise CheckpointError(
                f"{config.init_from}: checkpoint is mismatched: it holds {source_config.model} "
                f"{source_config.model_params}, the config asks for {config.model} {config.model_params}"
            )
        model.load_state_dict(source.state_dict())
        _, doc = read_checkpoint_json(config.init_from)
        info = {"init_from": str(config.init_from), "init_from_sha256": doc["weights_sha256"]}
    return model, info


def _resumable(saved: TrainConfig, config: TrainConfig, path: Path) -> None:
    a, b = saved.to_dict(), config.to_dict()
    changed = sorted(k for k in a if a[k] != b[k] and k not in _RESUMABLE_CHANGES)
    if changed:
        details = ", ".join(f"{k}: {a[k]!r} → {b[k]!r}" for k in changed[:4])
        raise ValueError(f"{path}: cannot resume a run with a different config ({details})")


def train(
    config: TrainConfig,
    train_images: np.ndarray,
    val_images: np.ndarray | None = None,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    train_targets: np.ndarray | None = None,
    val_targets: np.ndarray | None = None,
    on_epoch_end: Callable[[dict[str, Any]], bool | None] | None = None,
) -> TrainResult:
    """Train a denoiser as ``config`` says; write checkpoints, history and loss curves to ``out_dir``.

    Parameters
    ----------
    config
        The run's :class:`TrainConfig`.
    train_images, val_images
        ``(N, H, W)`` float32 in [0, 1] (e.g. from :func:`meddenoise.data.load_images`). Clean images
        when ``config.noise`` is set (the noise is simulated); the noisy images themselves when
        ``config.noise`` is None. Without ``val_images``, ``config.val_fraction`` of the training
        images is held out (seeded).
    out_dir
        Run folder. It must not hold a run already unless ``resume`` is True.
    resume
        Continue the run in ``out_dir`` from its ``last`` checkpoint (a fresh start when there is none).
        The config must equal the saved one except for ``epochs`` (which may grow), ``num_threads``
        and ``early_stopping_patience``.
    progress
        Show a progress bar with the live loss.
    train_targets, val_targets
        With ``config.noise = None``: clean targets (supervised) or second independent noisy
        realisations (noise2noise) matching ``train_images``/``val_images``.
    on_epoch_end
        Called with each epoch's history row; returning True stops training after that epoch
        (the checkpoints are written first, so the run can be resumed).

    Returns
    -------
    TrainResult
        The model with the best weights loaded (eval mode), history and paths.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    images = _check_images("train_images", train_images)
    assert images is not None
    targets = _check_images("train_targets", train_targets)
    val = _check_images("val_images", val_images)
    val_tgt = _check_images("val_targets", val_targets)
    for name, a, b in (("train_targets", images, targets), ("val_targets", val, val_tgt)):
        if a is not None and b is not None and a.shape != b.shape:
            raise ValueError(f"{name}: shape {b.shape} differs from its images' {a.shape}")
    if val is None:
        images, targets, val, val_tgt = _split(config, images, targets)

    last_json = out_dir / "last.json"
    if last_json.exists() and not resume:
        raise FileExistsError(f"{out_dir}: already holds a training run; resume it or choose another folder")

    old_threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    try:
        return _train(
            config,
            images,
            targets,
            val,
            val_tgt,
            out_dir=out_dir,
            resume=resume and last_json.exists(),
            progress=progress,
            on_epoch_end=on_epoch_end,
            started=started,
        )
    finally:
        torch.set_num_threads(old_threads)


def _train(
    config: TrainConfig,
    images: np.ndarray,
    targets: np.ndarray | None,
    val: np.ndarray | None,
    val_tgt: np.ndarray | None,
    *,
    out_dir: Path,
    resume: bool,
    progress: bool,
    on_epoch_end: Callable[[dict[str, Any]], bool | None] | None,
    started: float,
) -> TrainResult:
    noise = _noise_model(config)
    fixed_rng = seeded_rng(config.seed, STREAM_FIXED_NOISE)
    train_src = BatchSource(config, images, targets=targets, noise=noise, fixed_rng=fixed_rng)
    val_src = (
        None
        if val is None
        else BatchSource(
            config, val, targets=val_tgt, noise=noise, fixed_rng=seeded_rng(config.seed, STREAM_VAL, 1)
        )
    )

    model, init_info = _init_model(config)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    phases = _phases(config, model)
    total_epochs = sum(p.epochs for p in phases)

    history: list[dict[str, Any]] = []
    best_loss: float | None = None
    best_epoch: int | None = None
    bad_epochs = 0
    start_epoch = 0
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    resumed_utc: list[str] = []

    if resume:
        json_path, doc = read_checkpoint_json(out_dir / "last.json")
        saved_model, saved_config = load_checkpoint(json_path)
        _resumable(saved_config, config, json_path)
        model.load_state_dict(saved_model.state_dict())
        state = doc.get("resume")
        if not isinstance(state, dict):
            raise CheckpointError(f"{json_path}: checkpoint is corrupt: no resume state")
        start_epoch = int(state["epoch"])
        history = list(state["history"])
        best_loss, best_epoch, bad_epochs = state["best_loss"], state["best_epoch"], int(state["bad_epochs"])
        started_utc = doc["metadata"].get("started_utc") or started_utc
        resumed_utc = [*doc["metadata"].get("resumed_utc", []), datetime.now(timezone.utc).isoformat()]
        init_info = {k: doc[k] for k in ("init_from", "init_from_sha256") if k in doc}
        if start_epoch < total_epochs and _phase_at(phases, start_epoch)[0].name == state["phase"]:
            optimizer_state = load_optimizer_state(json_path, doc)
            scheduler_state = state.get("scheduler")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / "config.json")

    metadata = run_metadata(config, started_utc=started_utc)
    metadata.update(
        n_train=len(images), n_val=0 if val is None else len(val), image_shape=list(images.shape[1:])
    )
    if resumed_utc:
        metadata["resumed_utc"] = resumed_utc
    runner = _Runner(config, model)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    current_phase: str | None = None
    stopped_early = interrupted = False
    epochs_run = 0

    steps = sum(train_src.num_batches(config.batch_size) for _ in range(start_epoch, total_epochs))
    bar = tqdm(total=steps, disable=not progress, unit="batch", dynamic_ncols=True, desc=config.model)
    try:
        for epoch in range(start_epoch, total_epochs):
            phase, _ = _phase_at(phases, epoch)
            if phase.name != current_phase:
                params = (
                    list(model.parameters()) if phase.layer is None else model.layer_parameters(phase.layer)
                )
                optimizer = _make_optimizer(config, params)
                scheduler = _make_scheduler(config, optimizer) if phase.layer is None else None
                if optimizer_state is not None:
                    optimizer.load_state_dict(optimizer_state)
                    optimizer_state = None
                if scheduler is not None and scheduler_state is not None:
                    scheduler.load_state_dict(scheduler_state)
                scheduler_state = None
                current_phase = phase.name
            assert optimizer is not None

            rng = seeded_rng(config.seed, STREAM_EPOCH, epoch)
            model.train()
            t0 = time.perf_counter()
            total, count = 0.0, 0
            lr = float(optimizer.param_groups[0]["lr"])
            for batch in train_src.batches(rng, batch_size=config.batch_size):
                optimizer.zero_grad(set_to_none=True)
                loss = runner.loss(batch, phase, rng)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training loss became {float(loss)} at epoch {epoch + 1}")
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                total += float(loss.detach()) * len(batch.inputs)
                count += len(batch.inputs)
                bar.update(1)
                bar.set_postfix_str(
                    f"epoch {epoch + 1}/{total_epochs} {phase.name} loss {total / count:.4g}"
                    + (f" val {history[-1]['val_loss']:.4g}" if history and history[-1]["val_loss"] else ""),
                    refresh=False,
                )
            seconds = time.perf_counter() - t0
            train_loss = total / count
            val_loss = None if val_src is None else _evaluate(runner, val_src, phase, config)
            row = {
                "epoch": epoch + 1,
                "phase": phase.name,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": lr,
                "seconds": seconds,
                "images_per_second": count / seconds if seconds > 0 else None,
            }
            history.append(row)
            epochs_run += 1

            if scheduler is not None:
                monitored = val_loss if val_loss is not None else train_loss
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(monitored)
                else:
                    scheduler.step()

            info = {"epoch": epoch + 1, "phase": phase.name, "train_loss": train_loss, "val_loss": val_loss}
            info.update(init_info)
            if phase.layer is None:
                monitored = val_loss if val_loss is not None else train_loss
                if best_loss is None or monitored < best_loss - config.early_stopping_min_delta:
                    best_loss, best_epoch, bad_epochs = monitored, epoch + 1, 0
                    save_checkpoint(out_dir, "best", model=model, config=config, metadata=metadata, info=info)
                else:
                    bad_epochs += 1
            resume_state = {
                "epoch": epoch + 1,
                "phase": phase.name,
                "history": history,
                "best_loss": best_loss,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "scheduler": None if scheduler is None else scheduler.state_dict(),
            }
            save_checkpoint(
                out_dir,
                "last",
                model=model,
                config=config,
                metadata=metadata,
                info=info,
                optimizer=optimizer,
                resume=resume_state,
            )
            _write_history(out_dir, history)
            if (
                phase.layer is None
                and config.early_stopping_patience is not None
                and bad_epochs >= config.early_stopping_patience
            ):
                stopped_early = True
                break
            if on_epoch_end is not None and on_epoch_end(dict(row)):
                interrupted = True
                break
    finally:
        bar.close()
        if history:
            plot_history(
                history,
                out_dir / "history.png",
                title=f"{config.model}, {config.mode}",
                loss_name=f"{config.loss} loss",
            )

    best_json = out_dir / "best.json"
    if best_json.exists():
        best_model, _ = load_checkpoint(best_json)
        model.load_state_dict(best_model.state_dict())
    model.eval()
    return TrainResult(
        model=model,
        config=config,
        history=history,
        out_dir=out_dir,
        best_path=best_json,
        last_path=out_dir / "last.json",
        best_epoch=best_epoch,
        best_loss=best_loss,
        stopped_early=stopped_early,
        interrupted=interrupted,
        epochs_run=epochs_run,
        seconds=time.perf_counter() - started,
        metadata=metadata,
    )


def _write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(out_dir / "history.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
