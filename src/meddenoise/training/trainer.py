"""The training loop: config in, checkpoints, history and loss curves out; exact resume.

Layout of ``out_dir`` after a run::

    config.json                the TrainConfig
    best.safetensors/.json     weights with the lowest validation loss (training loss without a val set)
    last.safetensors/.json     weights after the last finished epoch, plus
    last.optim.safetensors     the optimiser state, for ``resume=True``
    last.parts.safetensors     the weights and optimiser state of an objective's own trainable parts
                               (a critic), when it has them
    history.json               per-epoch train/val loss, learning rate, seconds, images/s
    history.png                training vs validation loss (Gondara 2016, Fig. 7)

Determinism: model initialisation uses ``torch.manual_seed(seed)`` (in a forked RNG, leaving the
caller's state alone); every random draw of epoch ``e`` (order, patches, augmentation, noise,
blind-spot masks, code corruption) comes from a numpy Generator seeded by ``(seed, e)``. A run resumed
from ``last`` therefore replays exactly the epochs an uninterrupted run would have. Precision and memory
layout "auto" are resolved once per run (:func:`_resolve_speed`) and saved with the config; a resumed
run keeps the recorded arithmetic on any machine.

The steps of a run: check and split the data (:func:`train`), make the batch sources
(:func:`_make_sources`), build the model (:func:`_init_model`) and its phases
(:func:`~meddenoise.training.phases.plan_phases`), restore a resumed run (:func:`_restore`), then per
epoch: train (:meth:`_Run.train_epoch`), validate (:func:`_evaluate`), record and checkpoint
(:meth:`_Run.end_epoch`).
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from meddenoise import provenance
from meddenoise._utils import atomic_path
from meddenoise.models.registry import build_model
from meddenoise.training.batches import (
    STREAM_EPOCH,
    STREAM_FIXED_NOISE,
    STREAM_SPLIT,
    STREAM_VAL,
    Batch,
    BatchSource,
    prefetched,
    seeded_rng,
)
from meddenoise.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_optimizer_state,
    load_parts_state,
    load_state_dict_checked,
    read_checkpoint_json,
    run_metadata,
    save_checkpoint,
)
from meddenoise.training.config import TrainConfig, TrainConfigError, parse_noise_spec
from meddenoise.training.distributed import DistContext, setup
from meddenoise.training.objectives import Objective, TrainableObjective
from meddenoise.training.phases import Criterion, MainPhase, TrainingPhase, plan_phases
from meddenoise.training.plot import plot_history
from meddenoise.training.speed import choose_precision, time_precisions

__all__ = [
    "TrainResult",
    "TrainingDivergedError",
    "batch_loss",
    "data_fingerprint",
    "freeze_parameters",
    "train",
]

logger = logging.getLogger(__name__)

# Fields that may differ between an interrupted run and its resumption.
_RESUMABLE_CHANGES = frozenset({"epochs", "num_threads", "early_stopping_patience", "device"})


class TrainingDivergedError(ValueError):
    """The training loss became NaN/Inf, or an epoch's mean rose ``optim.divergence_factor``-fold above the
    lowest of its phase. The run folder keeps the last good epoch as ``last``; one line says what to change."""


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


# --- setup -------------------------------------------------------------------------------------------


def _phase_at(phases: list[TrainingPhase], epoch: int) -> TrainingPhase:
    """The phase of global epoch index ``epoch`` (0-based)."""
    for phase in phases:
        if epoch < phase.epochs:
            return phase
        epoch -= phase.epochs
    raise IndexError(epoch)


def _make_optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    optim = config.optim
    lr, wd = optim.learning_rate, optim.weight_decay
    if optim.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if optim.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if optim.optimizer == "adadelta":
        # Keras' Adadelta (rho 0.95, epsilon 1e-7), as in the papers' Keras code.
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)


def _make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> Any:
    optim = config.optim
    if optim.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if optim.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=optim.step_size, gamma=optim.gamma)
    if optim.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=optim.gamma, patience=optim.plateau_patience
        )
    return None


def _check_images(name: str, images: np.ndarray | None, *, unit_range: bool = True) -> np.ndarray | None:
    if images is None:
        return None
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty (N, H, W) image array, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: holds NaN or Inf values")
    if unit_range and (arr.min() < 0.0 or arr.max() > 1.0):
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

    def pick(a: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
        return None if a is None else a[idx]

    return images[train_idx], pick(targets, train_idx), images[val_idx], pick(targets, val_idx)


def _make_sources(
    config: TrainConfig,
    objective: Objective,
    images: np.ndarray,
    targets: np.ndarray | None,
    val: np.ndarray | None,
    val_tgt: np.ndarray | None,
) -> tuple[BatchSource, BatchSource | None]:
    """The training and validation batch sources (fixed noise drawn here, from their own streams)."""
    noise = None if config.noise is None else parse_noise_spec(config.noise)
    train_src = BatchSource(
        config,
        images,
        targets=targets,
        noise=noise,
        fixed_rng=seeded_rng(config.seed, STREAM_FIXED_NOISE),
        objective=objective,
    )
    if val is None:
        return train_src, None
    val_src = BatchSource(
        config,
        val,
        targets=val_tgt,
        noise=noise,
        fixed_rng=seeded_rng(config.seed, STREAM_VAL, 1),
        objective=objective,
    )
    return train_src, val_src


def _init_model(config: TrainConfig) -> tuple[nn.Module, dict[str, Any]]:
    """The network, seeded from ``config.seed`` (or loaded from ``init_from``), and where it came from."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        try:
            model = build_model(config.model, **config.model_params)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"model_params {config.model_params} do not fit model {config.model!r}: {exc}"
            ) from None
    info: dict[str, Any] = {}
    if config.init_from is not None:
        source, source_config = load_checkpoint(config.init_from)
        if (source_config.model, source_config.model_params) == (config.model, config.model_params):
            model.load_state_dict(source.state_dict())
        elif source_config.model == config.model and _grows_from(model, source):
            model.grow_from(source.state_dict())  # type: ignore[operator]
        else:
            raise CheckpointError(
                f"{config.init_from}: checkpoint is mismatched: it holds {source_config.model} "
                f"{source_config.model_params}, the config asks for {config.model} {config.model_params}"
            )
        _, doc = read_checkpoint_json(config.init_from)
        info = {"init_from": str(config.init_from), "init_from_sha256": doc["weights_sha256"]}
    freeze_parameters(model, config.frozen)
    if config.channels_last is True:  # resolved: never "auto" here
        # Module.to accepts memory_format at run time; torch's overloads do not declare it
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model.to(config.device), info


def freeze_parameters(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Stop the gradients of ``model``'s parameters named by ``patterns`` (``TrainConfig.frozen``).

    Returns the frozen names. The phases' optimisers leave out parameters without gradients, so these
    keep their values. Raises :class:`TrainConfigError` for a pattern that matches no parameter (a typo
    would otherwise train everything) and when nothing would be left to train.
    """
    params = dict(model.named_parameters())
    names = list(params)
    unmatched = [pattern for pattern in patterns if not fnmatch.filter(names, pattern)]
    if unmatched:
        raise TrainConfigError(
            f"frozen: {', '.join(map(repr, unmatched))} match no parameter of the model "
            f"(its parameters are named like {names[0]!r})"
        )
    frozen = [name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    if frozen and len(frozen) == len(names):
        raise TrainConfigError("frozen: every parameter of the model is frozen; nothing would train")
    for name in frozen:
        params[name].requires_grad_(False)
    return frozen


def _trainable(phase: TrainingPhase) -> list[nn.Parameter]:
    """What ``phase`` optimises, less the frozen parameters (``TrainConfig.frozen``)."""
    params = [param for param in phase.parameters() if param.requires_grad]
    if not params:
        raise TrainConfigError(f"frozen: phase {phase.name!r} has nothing left to train")
    return params


def _grows_from(model: nn.Module, source: nn.Module) -> bool:
    """Whether ``model`` can start from ``source``'s weights as a grown copy of it (more inputs, more
    blocks: the model's ``can_grow_from`` / ``grow_from``, e.g. :class:`~meddenoise.models.ConditionedUNet`)."""
    can_grow = getattr(model, "can_grow_from", None)
    return callable(can_grow) and hasattr(model, "grow_from") and bool(can_grow(source))


# --- one batch -----------------------------------------------------------------------------------------


def _tensor(arr: np.ndarray, memory_format: torch.memory_format, device: torch.device) -> torch.Tensor:
    out = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[:, None]
    if device.type != "cpu":
        out = out.pin_memory().to(device, non_blocking=True)
    return out.contiguous(memory_format=memory_format)


def _full_precision(criterion: Criterion, device_type: str = "cpu") -> Criterion:
    """``criterion`` evaluated outside any bf16 autocast (losses are computed in float32)."""

    def loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        with torch.autocast(device_type, enabled=False):
            return criterion(pred.float(), target, mask)

    return loss


def batch_loss(
    phase: TrainingPhase,
    batch: Batch,
    objective: Objective,
    *,
    rng: np.random.Generator,
    bf16: bool = False,
    channels_last: bool = False,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """The loss of one batch in ``phase``: the forward pass under the run's (bf16) autocast, the
    objective's loss on the batch's target and mask in float32; the batch (made on the CPU) is moved to
    ``device``, where the phase's model lives."""
    dev = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    inputs, targets = _tensor(batch.inputs, memory_format, dev), _tensor(batch.targets, memory_format, dev)
    mask = None if batch.mask is None else _tensor(batch.mask, memory_format, dev)
    sigma, correlation = (
        None
        if values is None
        else torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(dev, non_blocking=True)
        for values in (batch.sigma, batch.correlation)
    )
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        return phase.loss(
            inputs,
            targets,
            mask,
            criterion=_full_precision(objective.loss, dev.type),
            rng=rng,
            sigma=sigma,
            correlation=correlation,
        )


# --- precision and layout ------------------------------------------------------------------------------

_SPEED_FIELDS = ("precision", "channels_last")


def _resolve_speed(config: TrainConfig, last_json: Path | None) -> tuple[TrainConfig, dict[str, Any]]:
    """``config`` with "auto" precision/layout resolved once for this run, and what to record about it.

    A fresh run resolves "auto" on this machine (:meth:`TrainConfig.resolved`). A resumed run
    (``last_json`` given) keeps the values recorded in its checkpoint for every field the caller left
    at "auto", so its arithmetic never changes with the machine; one line says so when the run asked
    for "auto" and this machine would choose otherwise (also when the caller passes the run's saved,
    resolved config, as ``meddenoise train --resume`` does). Explicit values are kept (and compared
    with the saved ones by :func:`_resumable`).
    """
    requested: dict[str, Any] = {name: getattr(config, name) for name in _SPEED_FIELDS}
    recorded: dict[str, Any] = {}
    probed = False
    if last_json is not None:
        _, doc = read_checkpoint_json(last_json)
        try:
            saved_config = TrainConfig.from_dict(doc["config"], source=str(last_json))
        except TrainConfigError as exc:
            raise CheckpointError(
                f"{last_json}: checkpoint is mismatched: {str(exc).split(': ', 1)[-1]}"
            ) from None
        for name in _SPEED_FIELDS:
            value = getattr(saved_config, name)
            if requested[name] == "auto" and value != "auto":
                recorded[name] = value
        speed = doc.get("metadata", {}).get("speed")
        if isinstance(speed, dict) and isinstance(speed.get("requested"), dict):  # what the run first asked
            requested = {name: speed["requested"].get(name, requested[name]) for name in _SPEED_FIELDS}
        probed = isinstance(speed, dict) and PROBE_KEY in speed
    resolved = config.model_copy(update=recorded).resolved()
    auto_here = config.model_copy(update=dict.fromkeys(_SPEED_FIELDS, "auto")).resolved()
    # where auto would time the two precisions, a precision the run measured is what auto chose
    measured_here = probed and auto_here.precision == "bf16"
    differs = [
        name
        for name in _SPEED_FIELDS
        if last_json is not None
        and requested[name] == "auto"
        and getattr(resolved, name) != getattr(auto_here, name)
        and not (name == "precision" and measured_here)
    ]
    if differs:
        logger.warning(
            "%s: resuming with %s as recorded in the run (auto would choose %s on this machine)",
            last_json,
            ", ".join(f"{name} {getattr(resolved, name)!r}" for name in differs),
            ", ".join(f"{name} {getattr(auto_here, name)!r}" for name in differs),
        )
    info: dict[str, Any] = {
        "precision": resolved.precision,
        "channels_last": resolved.channels_last,
        "requested": requested,
        "native_bf16": provenance.native_bf16(),
    }
    return resolved, info


#: ``metadata.speed`` key of the milliseconds per step that "auto" measured for each precision.
PROBE_KEY = "probe_ms_per_step"


def _probe_precision(
    config: TrainConfig,
    speed: dict[str, Any],
    model: nn.Module,
    objective: Objective,
    source: BatchSource,
) -> tuple[TrainConfig, dict[str, Any]]:
    """``config`` with the faster precision of the run's own training step, timed on this machine.

    Forward, loss and backward of a copy of ``model`` on one batch of ``source`` (drawn from a stream of
    its own), float32 against bf16 autocast (:func:`meddenoise.training.speed.time_precisions`): the
    run's model, weights and random streams are untouched, so a run that keeps float32 trains exactly
    as ``precision="fp32"`` would. The step times are recorded under ``speed[PROBE_KEY]``.
    """
    probe_model = copy.deepcopy(model)
    phase = MainPhase(probe_model, 1)
    batch = next(source.batches(np.random.default_rng(0), batch_size=config.batch_size))
    loss_rng = np.random.default_rng(1)

    def step(bf16: bool) -> None:
        probe_model.zero_grad(set_to_none=True)
        loss = batch_loss(
            phase,
            batch,
            objective,
            rng=loss_rng,
            bf16=bf16,
            channels_last=config.channels_last is True,
            device=config.device,
        )
        loss.backward()

    step_ms = time_precisions(step)
    choice = choose_precision(step_ms)
    logger.info(
        "precision auto: %.1f ms per step in fp32, %.1f in bf16 on this CPU; training in %s",
        step_ms["fp32"],
        step_ms["bf16"],
        choice,
    )
    recorded = {**speed, "precision": choice, PROBE_KEY: {k: round(v, 3) for k, v in step_ms.items()}}
    return config.model_copy(update={"precision": choice}), recorded


def _probes_precision(
    config: TrainConfig, speed: dict[str, Any], objective: Objective, *, fresh: bool, dist: DistContext
) -> bool:
    """Whether this run times bf16 against float32 before it starts (see :func:`_probe_precision`).

    Only a fresh run that asked for "auto" on a CPU with hardware bf16: on a GPU the flag rule stands;
    under torchrun every rank must train in one precision (a timing could differ between ranks); an
    objective with parts of its own would put the probe's gradients into them.
    """
    return (
        fresh
        and speed["requested"]["precision"] == "auto"
        and config.precision == "bf16"
        and torch.device(config.device).type == "cpu"
        and not dist.enabled
        and not isinstance(objective, TrainableObjective)
    )


# --- resume ----------------------------------------------------------------------------------------


@dataclass
class _State:
    """What a run carries from epoch to epoch, and what ``last.json`` stores for a resume."""

    epoch: int = 0  # epochs finished
    history: list[dict[str, Any]] = field(default_factory=list)
    best_loss: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    started_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    resumed_utc: list[str] = field(default_factory=list)
    init_info: dict[str, Any] = field(default_factory=dict)
    # Optimiser and scheduler state to load when the interrupted phase goes on.
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None

    def resume_doc(self, phase: str, scheduler: Any) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "phase": phase,
            "history": self.history,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "scheduler": None if scheduler is None else scheduler.state_dict(),
        }


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "model_params":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _resumable(saved: TrainConfig, config: TrainConfig, path: Path) -> None:
    a, b = _flat(saved.to_dict()), _flat(config.to_dict())
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and k not in _RESUMABLE_CHANGES)
    if changed:
        details = ", ".join(f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in changed[:4])
        raise ValueError(f"{path}: cannot resume a run with a different config ({details})")


def _restore_parts(objective: TrainableObjective, json_path: Path, doc: dict[str, Any]) -> None:
    """Load the objective's own parts and their optimisers from the checkpoint ``json_path``."""
    modules, optimizers = load_parts_state(json_path, doc)
    for name, module in objective.parts().items():
        if name not in modules:
            raise CheckpointError(f"{json_path}: checkpoint is mismatched: it holds no part {name!r}")
        load_state_dict_checked(module, modules[name], path=json_path)
    for name, optimizer in objective.part_optimizers().items():
        if name not in optimizers:
            raise CheckpointError(f"{json_path}: checkpoint is mismatched: no optimiser state of {name!r}")
        optimizer.load_state_dict(optimizers[name])


def _restore(
    out_dir: Path,
    config: TrainConfig,
    model: nn.Module,
    phases: list[TrainingPhase],
    state: _State,
    objective: Objective,
) -> _State:
    """Load ``out_dir/last`` into ``model`` (and the objective's own parts) and return the state to go on from."""
    json_path, doc = read_checkpoint_json(out_dir / "last.json")
    saved_model, saved_config = load_checkpoint(json_path)
    _resumable(saved_config, config, json_path)
    model.load_state_dict(saved_model.state_dict())
    if isinstance(objective, TrainableObjective):
        _restore_parts(objective, json_path, doc)
    saved = doc.get("resume")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{json_path}: checkpoint is corrupt: no resume state")
    restored = _State(
        epoch=int(saved["epoch"]),
        history=list(saved["history"]),
        best_loss=saved["best_loss"],
        best_epoch=saved["best_epoch"],
        bad_epochs=int(saved["bad_epochs"]),
        started_utc=doc["metadata"].get("started_utc") or state.started_utc,
        resumed_utc=[*doc["metadata"].get("resumed_utc", []), datetime.now(timezone.utc).isoformat()],
        init_info={k: doc[k] for k in ("init_from", "init_from_sha256") if k in doc},
    )
    total = sum(p.epochs for p in phases)
    # The optimiser state belongs to the phase that was interrupted; a new phase starts afresh.
    if restored.epoch < total and _phase_at(phases, restored.epoch).name == saved["phase"]:
        restored.optimizer_state = load_optimizer_state(json_path, doc)
        restored.scheduler_state = saved.get("scheduler")
    return restored


def data_fingerprint(
    arrays: dict[str, np.ndarray | None], described: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What identifies a run's training data: the SHA-256 and shape of each array as given to
    :func:`train`, plus ``described`` (e.g. the CLI's file list digest and data options such as ``--limit``)."""
    out: dict[str, Any] = {}
    for name, arr in arrays.items():
        if arr is not None:
            data = np.ascontiguousarray(arr)
            out[name] = {"shape": list(data.shape), "sha256": hashlib.sha256(data.data).hexdigest()}
    return {**out, **(described or {})}


def _check_same_data(last_json: Path, now: dict[str, Any]) -> None:
    """Refuse to resume a run whose arrays differ from those it was trained on, naming what changed."""
    _, doc = read_checkpoint_json(last_json)
    saved = doc.get("metadata", {}).get("data")
    if not isinstance(saved, dict):
        return  # a run from before fingerprints: nothing to compare with
    arrays = [k for k in saved.keys() | now.keys() if isinstance(saved.get(k, now.get(k)), dict)]
    if all(saved.get(k) == now.get(k) for k in arrays):
        return
    changed = [
        f"{k}: {saved.get(k)!r} → {now.get(k)!r}" if not k.endswith("sha256") else f"{k} differs"
        for k in sorted(saved.keys() | now.keys())
        if k not in arrays and saved.get(k) != now.get(k)
    ]
    shapes = [
        f"{k} {tuple((saved.get(k) or {}).get('shape', ()))} → {tuple((now.get(k) or {}).get('shape', ()))}"
        for k in sorted(arrays)
        if (saved.get(k) or {}).get("shape") != (now.get(k) or {}).get("shape")
    ]
    detail = "; ".join(changed + shapes) or "same shapes, other pixel values"
    raise ValueError(
        f"{last_json}: cannot resume: the training data differ from the run's ({detail}); "
        "pass --force-resume (allow_data_change=True) to resume on these data anyway"
    )


# --- the run -----------------------------------------------------------------------------------------


def _set_parts_mode(objective: Objective, training: bool) -> None:
    """Train or eval mode for the objective's own parts, as for the model."""
    if isinstance(objective, TrainableObjective):
        for part in objective.parts().values():
            part.train(training)


def _evaluate(
    model: nn.Module,
    phase: TrainingPhase,
    source: BatchSource,
    config: TrainConfig,
    objective: Objective,
) -> float:
    """Mean loss over the validation set; its noise and masks are the same draws every epoch."""
    rng = seeded_rng(config.seed, STREAM_VAL)
    total, count = 0.0, 0
    model.eval()
    _set_parts_mode(objective, False)
    with torch.no_grad():
        for batch in source.batches(rng, batch_size=config.batch_size, shuffle=False, augment=False):
            loss = batch_loss(
                phase,
                batch,
                objective,
                rng=rng,
                bf16=config.bf16,
                channels_last=config.channels_last is True,
                device=config.device,
            )
            total += float(loss) * len(batch.inputs)
            count += len(batch.inputs)
    return total / count


class _Run:
    """One call of :func:`train`: the epochs from ``state.epoch`` on, phase by phase."""

    def __init__(
        self,
        config: TrainConfig,
        model: nn.Module,
        objective: Objective,
        phases: list[TrainingPhase],
        sources: tuple[BatchSource, BatchSource | None],
        *,
        out_dir: Path,
        state: _State,
        metadata: dict[str, Any],
        dist: DistContext | None = None,
    ) -> None:
        self.dist = dist or DistContext()
        self.config = config
        self.model = model
        self.objective = objective
        self.phases = phases
        self.train_src, self.val_src = sources
        self.out_dir = out_dir
        self.state = state
        self.metadata = metadata
        self.total_epochs = sum(p.epochs for p in phases)
        self.phase: TrainingPhase | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.epochs_run = 0

    def enter_phase(self, phase: TrainingPhase) -> torch.optim.Optimizer:
        """A fresh optimiser (and, for the main phase, scheduler) for ``phase``; resumed state loaded."""
        if phase is self.phase and self.optimizer is not None:
            return self.optimizer
        state = self.state
        optimizer = _make_optimizer(self.config, _trainable(phase))
        scheduler = _make_scheduler(self.config, optimizer) if isinstance(phase, MainPhase) else None
        if state.optimizer_state is not None:
            optimizer.load_state_dict(state.optimizer_state)
            state.optimizer_state = None
        if scheduler is not None and state.scheduler_state is not None:
            scheduler.load_state_dict(state.scheduler_state)
        state.scheduler_state = None
        self.phase, self.optimizer, self.scheduler = phase, optimizer, scheduler
        return optimizer

    def train_epoch(self, epoch: int, phase: TrainingPhase, bar: Any) -> dict[str, Any]:
        """One pass over the training batches; returns the epoch's history row (without validation)."""
        config, model = self.config, self.model
        optimizer = self.enter_phase(phase)
        params = _trainable(phase)
        rng = seeded_rng(config.seed, STREAM_EPOCH, epoch)
        model.train()
        _set_parts_mode(self.objective, True)
        # The objective's own parts learn during the main phase only (after each of its steps).
        parts = (
            self.objective
            if isinstance(self.objective, TrainableObjective) and isinstance(phase, MainPhase)
            else None
        )
        part_sums: dict[str, float] = {}
        t0 = time.perf_counter()
        total, count = 0.0, 0
        lr = float(optimizer.param_groups[0]["lr"])
        history = self.state.history
        last_val = history[-1]["val_loss"] if history else None
        show = not bar.disable
        dist = self.dist
        # Under torchrun every rank draws the same batches from `rng` and trains on its share of each; the
        # draws a phase makes in its loss come from the rank's own stream, so `rng` stays in step.
        loss_rng = seeded_rng(config.seed, STREAM_EPOCH, epoch, 1 + dist.rank) if dist.enabled else rng
        batches = self.train_src.batches(rng, batch_size=config.batch_size)
        for batch in prefetched(batches, _prefetch_depth(config, phase)):
            optimizer.zero_grad(set_to_none=True)
            part, share = dist.shard(batch)
            loss = batch_loss(
                phase,
                part,
                self.objective,
                rng=loss_rng,
                bf16=config.bf16,
                channels_last=config.channels_last is True,
                device=config.device,
            )
            # one read of the loss per step (the check and the mean); the whole batch's under torchrun
            value, _ = dist.global_mean(float(loss.detach()) * share, share)
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"{self.out_dir}: training loss became {value} at epoch {epoch + 1}; the run keeps epoch "
                    f"{epoch} as 'last': lower optim.lr or set optim.grad_clip and train again"
                )
            if dist.enabled:
                # weighted by the share, the ranks' averaged gradients are those of the whole batch's mean loss
                (loss * (share * dist.world_size / len(batch.inputs))).backward()
                if not isinstance(phase, MainPhase):  # trained outside the DDP wrapper
                    dist.average_gradients(params)
            else:
                loss.backward()
            if config.optim.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, config.optim.grad_clip)
            optimizer.step()
            if parts is not None:
                for key, part_value in parts.update(rng=rng).items():
                    part_sums[key] = part_sums.get(key, 0.0) + part_value * len(batch.inputs)
            total += value * len(batch.inputs)
            count += len(batch.inputs)
            if show:
                bar.update(1)
                bar.set_postfix_str(
                    f"epoch {epoch + 1}/{self.total_epochs} {phase.name} loss {total / count:.4g}"
                    + (f" val {last_val:.4g}" if last_val else ""),
                    refresh=False,
                )
        seconds = time.perf_counter() - t0
        return {
            "epoch": epoch + 1,
            "phase": phase.name,
            "train_loss": total / count,
            "val_loss": None,
            "lr": lr,
            "seconds": seconds,
            "images_per_second": count / seconds if seconds > 0 else None,
            **{key: part_sum / count for key, part_sum in part_sums.items()},
        }

    def end_epoch(self, phase: TrainingPhase, row: dict[str, Any]) -> bool:
        """Record ``row``, step the scheduler, write the checkpoints; True when early stopping says stop."""
        config, state = self.config, self.state
        factor = config.optim.divergence_factor
        earlier = [r["train_loss"] for r in state.history if r.get("phase") == row["phase"]]
        if factor is not None and earlier and row["train_loss"] > factor * min(earlier):
            # checked before anything is written, so 'last' stays the last good epoch
            raise TrainingDivergedError(
                f"{self.out_dir}: training diverged at epoch {row['epoch']}: mean loss {row['train_loss']:.4g} is "
                f"over {factor:g} x the lowest of earlier epochs ({min(earlier):.4g}); the run keeps epoch "
                f"{row['epoch'] - 1} as 'last': lower optim.lr or set optim.grad_clip and train again"
            )
        state.history.append(row)
        state.epoch = row["epoch"]
        self.epochs_run += 1
        monitored = row["val_loss"] if row["val_loss"] is not None else row["train_loss"]
        if self.scheduler is not None:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(monitored)
            else:
                self.scheduler.step()
        info = {k: row[k] for k in ("epoch", "phase", "train_loss", "val_loss")}
        info.update(state.init_info)
        write = self.dist.is_main  # one writer under torchrun
        main = isinstance(phase, MainPhase)  # best weights and early stopping: the main phase only
        if main:
            if state.best_loss is None or monitored < state.best_loss - config.early_stopping_min_delta:
                state.best_loss, state.best_epoch, state.bad_epochs = monitored, row["epoch"], 0
                if write:
                    self._save("best", info)
            else:
                state.bad_epochs += 1
        if write:
            self._save("last", info, resume=state.resume_doc(phase.name, self.scheduler))
            _write_history(self.out_dir, state.history)
        patience = config.early_stopping_patience
        return main and patience is not None and state.bad_epochs >= patience

    def _save(self, name: str, info: dict[str, Any], resume: dict[str, Any] | None = None) -> None:
        save_checkpoint(
            self.out_dir,
            name,
            model=self.model,
            config=self.config,
            metadata=self.metadata,
            info=info,
            optimizer=None if resume is None else self.optimizer,
            resume=resume,
            **self._parts_to_save(resume is not None),
        )

    def _parts_to_save(self, resumable: bool) -> dict[str, Any]:
        """The objective's own parts and optimisers, for the checkpoints a run resumes from."""
        if not resumable or not isinstance(self.objective, TrainableObjective):
            return {}
        return {"parts": self.objective.parts(), "part_optimizers": self.objective.part_optimizers()}

    def run(
        self, *, progress: bool, on_epoch_end: Callable[[dict[str, Any]], bool | None] | None
    ) -> tuple[bool, bool]:
        """Train the remaining epochs; returns ``(stopped_early, interrupted)``."""
        config, start = self.config, self.state.epoch
        steps = (self.total_epochs - start) * self.train_src.num_batches(config.batch_size)
        show = progress and self.dist.is_main
        bar = tqdm(total=steps, disable=not show, unit="batch", dynamic_ncols=True, desc=config.model)
        try:
            for epoch in range(start, self.total_epochs):
                phase = _phase_at(self.phases, epoch)
                row = self.train_epoch(epoch, phase, bar)
                if self.val_src is not None:
                    row["val_loss"] = _evaluate(self.model, phase, self.val_src, config, self.objective)
                if self.end_epoch(phase, row):
                    return True, False
                if on_epoch_end is not None and on_epoch_end(dict(row)):
                    return False, True
            return False, False
        finally:
            bar.close()
            if self.state.history and self.dist.is_main:
                plot_history(
                    self.state.history,
                    self.out_dir / "history.png",
                    title=f"{config.model}, {config.objective.kind}",
                    loss_name=f"{config.objective.loss} loss",
                )


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
    data_description: dict[str, Any] | None = None,
    allow_data_change: bool = False,
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
        and ``early_stopping_patience``; ``precision`` / ``channels_last`` left at "auto" take the
        values the run recorded.
    progress
        Show a progress bar with the live loss.
    train_targets, val_targets
        With ``config.noise = None``: clean targets (supervised) or second independent noisy
        realisations (noise2noise) matching ``train_images``/``val_images``.
    on_epoch_end
        Called with each epoch's history row; returning True stops training after that epoch
        (the checkpoints are written first, so the run can be resumed).
    data_description
        JSON-able facts about where the data came from (files, options such as ``limit``), recorded
        with the data's fingerprint (:func:`data_fingerprint`) in every checkpoint's metadata.
    allow_data_change
        Resume even when the data's fingerprint differs from the run's (otherwise a ``ValueError``).

    Returns
    -------
    TrainResult
        The model with the best weights loaded (eval mode, on the CPU whatever ``config.device``), history
        and paths.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    images = _check_images("train_images", train_images)
    assert images is not None
    # targets are images in [0, 1], except for objectives whose targets are something else (noise textures)
    images_as_targets = config.objective.targets_are_images()
    targets = _check_images("train_targets", train_targets, unit_range=images_as_targets)
    val = _check_images("val_images", val_images)
    val_tgt = _check_images("val_targets", val_targets, unit_range=images_as_targets)
    for name, a, b in (("train_targets", images, targets), ("val_targets", val, val_tgt)):
        if a is not None and b is not None and a.shape != b.shape:
            raise ValueError(f"{name}: shape {b.shape} differs from its images' {a.shape}")
    fingerprint = data_fingerprint(
        {"train_images": images, "train_targets": targets, "val_images": val, "val_targets": val_tgt},
        data_description,
    )
    if val is None:
        images, targets, val, val_tgt = _split(config, images, targets)

    last_json = out_dir / "last.json"
    resuming = resume and last_json.exists()  # a run to continue (resume without one starts afresh)
    if last_json.exists() and not resume:
        raise FileExistsError(f"{out_dir}: already holds a training run; resume it or choose another folder")
    if resuming and not allow_data_change:
        _check_same_data(last_json, fingerprint)

    config, speed = _resolve_speed(config, last_json if resuming else None)

    _check_device(config, resumed=resuming)
    old_threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    dist = setup()  # one of several processes under torchrun, else a run on its own
    try:
        objective = config.objective.build()
        if config.device != "cpu" and (dist.enabled or isinstance(objective, TrainableObjective)):
            raise ValueError(
                f"device {config.device!r}: multi-process training and objectives with parts of their own "
                f"({config.objective.kind!r}) train on the CPU only; set device 'cpu'"
            )
        if dist.enabled and isinstance(objective, TrainableObjective):
            # its parts (a critic) would learn from each rank's share apart and drift between the ranks
            raise ValueError(
                f"objective {config.objective.kind!r} trains parts of its own, which multi-process "
                "training (torchrun) does not synchronise yet; train it in one process"
            )
        if isinstance(objective, TrainableObjective):
            objective.prepare(seed=config.seed)
        sources = _make_sources(config, objective, images, targets, val, val_tgt)
        model, init_info = _init_model(config)
        if _probes_precision(config, speed, objective, fresh=not resuming, dist=dist):
            config, speed = _probe_precision(config, speed, model, objective, sources[0])
        logger.info(
            "%s: precision %s, channels_last %s (requested %s)",
            out_dir,
            config.precision,
            config.channels_last,
            ", ".join(f"{k} {v!r}" for k, v in speed["requested"].items()),
        )
        phases = plan_phases(config, model)
        state = _State(init_info=init_info)
        if resuming:
            state = _restore(out_dir, config, model, phases, state, objective)
        elif dist.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
        # the main phase trains the DDP-wrapped model; `model` itself is what checkpoints save
        phases = [replace(p, model=dist.wrap(model)) if isinstance(p, MainPhase) else p for p in phases]
        if dist.is_main:
            config.save(out_dir / "config.json")
        metadata = run_metadata(config, started_utc=state.started_utc)
        metadata.update(
            n_train=len(images),
            n_val=0 if val is None else len(val),
            image_shape=list(images.shape[1:]),
            speed=speed,
            data=fingerprint,
        )
        if state.resumed_utc:
            metadata["resumed_utc"] = state.resumed_utc
        if dist.enabled:
            metadata["world_size"] = dist.world_size
        run = _Run(
            config,
            model,
            objective,
            phases,
            sources,
            out_dir=out_dir,
            state=state,
            metadata=metadata,
            dist=dist,
        )
        stopped_early, interrupted = run.run(progress=progress, on_epoch_end=on_epoch_end)
        dist.barrier()  # rank 0 has written the checkpoints the others read next
        best_json = out_dir / "best.json"
        if best_json.exists():
            best_model, _ = load_checkpoint(best_json)
            model.load_state_dict(best_model.state_dict())
    finally:
        torch.set_num_threads(old_threads)
        dist.close()
    model.to("cpu").eval()  # where every caller denoises with it
    return TrainResult(
        model=model,
        config=config,
        history=state.history,
        out_dir=out_dir,
        best_path=best_json,
        last_path=last_json,
        best_epoch=state.best_epoch,
        best_loss=state.best_loss,
        stopped_early=stopped_early,
        interrupted=interrupted,
        epochs_run=run.epochs_run,
        seconds=time.perf_counter() - started,
        metadata=metadata,
    )


def _prefetch_depth(config: TrainConfig, phase: TrainingPhase) -> int:
    """Batches made ahead in a background thread: 2 when a GPU computes the main phase, else 0.

    Nothing else in such a step draws from the epoch's Generator: the main phase's loss draws nothing, and
    :func:`train` refuses a GPU for torchrun and for objectives with parts of their own (which draw from it).
    """
    return 2 if config.device != "cpu" and isinstance(phase, MainPhase) else 0


def _check_device(config: TrainConfig, *, resumed: bool) -> None:
    """One line when the run's device is not there (the config is resolved: never "auto" here)."""
    if config.device.startswith("cuda"):
        index = int(config.device.partition(":")[2] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            where = "this run was resumed" if resumed else "the config asks for it"
            raise ValueError(
                f"device {config.device!r}: torch sees no such GPU here ({where}); set device 'cpu' or 'auto'"
            )


def _write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(out_dir / "history.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
