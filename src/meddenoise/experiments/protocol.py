"""Helpers shared by the reproductions: seeded splits, summaries, training and applying models.

Scores come from :mod:`meddenoise.evaluation` (the one scoring path); training configs are
:class:`~meddenoise.training.TrainConfig` objects, changed with :func:`~meddenoise.experiments.config.derive`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from meddenoise._utils import RNGLike, as_rng
from meddenoise.denoiser import Denoiser
from meddenoise.experiments.runner import Cell, cell_from_values

if TYPE_CHECKING:
    from meddenoise.training import TrainConfig

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

__all__ = [
    "JobResult",
    "TrainedModel",
    "TrainingJob",
    "WorkerJob",
    "apply_denoiser",
    "derived_seed",
    "run_in_processes",
    "seeded_split",
    "summarise",
    "train_denoiser",
    "train_in_processes",
]


def derived_seed(seed: int, *purpose: object) -> int:
    """A 32-bit seed derived from ``seed`` and a purpose (strings/ints), stable across runs and platforms.

    Each random draw of a reproduction (split, test noise, training noise, subsets) gets its own stream,
    so adding a step never shifts the draws of another.
    """
    words = [int(seed)] + [zlib.crc32(str(p).encode()) for p in purpose]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def seeded_split(n: int, n_train: int, *, rng: RNGLike) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted train and test indices (``n_train`` train)."""
    if not 0 < n_train < n:
        raise ValueError(f"need 0 < n_train < n, got n_train={n_train}, n={n}")
    order = as_rng(rng).permutation(n)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def summarise(values: np.ndarray | Sequence[float], mask: np.ndarray | None = None) -> Cell:
    """Mean ± std of per-image values (restricted to ``mask`` when given)."""
    arr = np.asarray(values, dtype=np.float64)
    if mask is not None:
        arr = arr[np.asarray(mask)]
    return cell_from_values(arr)


def apply_denoiser(
    denoiser: Denoiser, noisy: np.ndarray, *, sigma: float | None = None, progress: bool = False
) -> np.ndarray:
    """Denoise a batch ``(N, H, W)``; with ``progress`` one image at a time behind a progress bar."""
    if not progress:
        return denoiser(noisy, sigma=sigma)
    from tqdm.auto import tqdm

    return np.stack(
        [denoiser(img, sigma=sigma) for img in tqdm(noisy, desc=denoiser.name, leave=False)]
    ).astype(np.float32)


@dataclass
class TrainedModel:
    """A trained network wrapped as a :class:`Denoiser`, with its loss history and timing."""

    name: str
    denoiser: Denoiser
    history: list[dict[str, Any]]
    seconds: float
    epochs: int
    n_train: int
    n_val: int
    parameters: int
    config: TrainConfig

    def curves(self) -> dict[str, list[float]]:
        """``{"train": [...], "val": [...]}`` per epoch (the training phase only)."""
        rows = [r for r in self.history if r.get("phase", "train") == "train"]
        return {
            "train": [float(r["train_loss"]) for r in rows if r.get("train_loss") is not None],
            "val": [float(r["val_loss"]) for r in rows if r.get("val_loss") is not None],
        }

    def summary(self) -> dict[str, Any]:
        curves = self.curves()
        return {
            "name": self.name,
            "epochs": self.epochs,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "parameters": self.parameters,
            "seconds": round(self.seconds, 2),
            "final_train_loss": curves["train"][-1] if curves["train"] else None,
            "final_val_loss": curves["val"][-1] if curves["val"] else None,
            "best_val_loss": min(curves["val"]) if curves["val"] else None,
            "config": self.config.to_dict(),
        }


def train_denoiser(
    name: str,
    config: TrainConfig,
    train_images: np.ndarray,
    *,
    out_dir: Path,
    val_images: np.ndarray | None = None,
    train_targets: np.ndarray | None = None,
    val_targets: np.ndarray | None = None,
    batch_size: int = 64,
    progress: bool = True,
    resume: bool = False,
) -> TrainedModel:
    """Train with :func:`meddenoise.training.train` and wrap the best weights as a Denoiser.

    ``out_dir`` must not hold a run (a reproduction writes each training into its own fresh folder),
    unless ``resume``: then a run there continues from its last finished epoch, or is reused when finished.
    """
    from meddenoise.models.denoiser import ModelDenoiser
    from meddenoise.training import train

    result = train(
        config,
        train_images,
        val_images,
        out_dir=out_dir,
        resume=resume,
        progress=progress,
        train_targets=train_targets,
        val_targets=val_targets,
    )
    n_params = sum(p.numel() for p in result.model.parameters() if p.requires_grad)
    denoiser = ModelDenoiser(result.model, name=name, batch_size=batch_size)
    meta = result.metadata or {}
    n_train = int(meta.get("n_train", len(train_images)))
    n_val = int(meta.get("n_val", 0 if val_images is None else len(val_images)))
    return TrainedModel(
        name=name,
        denoiser=denoiser,
        history=list(result.history),
        seconds=float(result.seconds),
        epochs=int(result.epochs_run),
        n_train=n_train,
        n_val=n_val,
        parameters=int(n_params),
        config=config,
    )


def output_collapsed(denoiser: Denoiser, noisy: np.ndarray, clean: np.ndarray, *, ratio: float = 0.1) -> bool:
    """True when a trained network gives (nearly) the same output whatever its input.

    A sigmoid output layer trained with MSE on mostly dark images can saturate at 0 early on; the
    saturated sigmoid then passes no gradient and the run never recovers. Detected on *training*
    images: the outputs' standard deviation is below ``ratio`` times the clean images'.
    """
    out = np.asarray(denoiser(np.asarray(noisy, dtype=np.float32)), dtype=np.float64)
    return bool(out.std() < ratio * float(np.std(clean)))


class WorkerJob(Protocol[R_co]):
    """A piece of a reproduction's independent work for :func:`run_in_processes`.

    A picklable object (a frozen dataclass of a module-level class) with a ``name`` and a ``run()``
    that returns the piece's result; everything it needs travels with it.
    """

    @property
    def name(self) -> str: ...

    def run(self) -> R_co: ...


@dataclass(frozen=True)
class JobResult(Generic[R_co]):
    """What a :class:`WorkerJob` returned, and the seconds it took in its worker."""

    value: R_co
    seconds: float


def _run_job(job: WorkerJob[R]) -> JobResult[R]:
    # module level: pickled to the worker processes
    started = time.perf_counter()
    value = job.run()
    return JobResult(value, time.perf_counter() - started)


def run_in_processes(
    jobs: Sequence[WorkerJob[R]],
    *,
    processes: int,
    log: Callable[[str], None] = print,
    on_result: Callable[[WorkerJob[R], JobResult[R]], None] | None = None,
) -> dict[str, JobResult[R]]:
    """Run independent jobs ``processes`` at a time, each in a worker process, in the order given.

    Returns ``{name: result}``; ``on_result`` (when given) sees each result here as soon as its job
    finishes, while the others still run. Each worker starts with its share of the cores as its torch,
    OpenMP and BLAS threads. Every job runs even when one fails; the failures are then raised together,
    one line each.

    Raises
    ------
    ValueError
        When two jobs have the same name (their results would be indistinguishable).
    RuntimeError
        When a job failed (each one named with its reason), after all the others finished.
    """
    from meddenoise.pipeline.executors import Execution, TaskFailure, run_tasks

    names = [job.name for job in jobs]
    if len(set(names)) < len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"jobs need distinct names; given more than once: {', '.join(twice)}")

    results: dict[str, JobResult[R]] = {}
    failures: list[str] = []
    started = time.perf_counter()
    for index, outcome in run_tasks(_run_job, list(jobs), Execution(jobs=processes)):
        job = jobs[index]
        if isinstance(outcome, TaskFailure):
            failures.append(f"{job.name}: {outcome.reason}")
            log(f"{job.name} failed: {outcome.reason}")
            continue
        results[job.name] = outcome
        log(
            f"{job.name} done in {outcome.seconds:.1f} s ({len(results) + len(failures)}/{len(jobs)}, "
            f"{time.perf_counter() - started:.0f} s since the first started)"
        )
        if on_result is not None:
            on_result(job, outcome)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(jobs)} jobs failed: " + "; ".join(failures))
    return results


@dataclass(frozen=True)
class TrainingJob:
    """One training of a reproduction, to run in a worker process: ``config`` on ``images`` into ``out_dir``.

    ``resume``: continue a run already in ``out_dir`` (or reuse it when finished), as :func:`train_denoiser`.
    A :class:`WorkerJob` whose result is ``None`` (the weights are in ``out_dir``).
    """

    name: str
    config: TrainConfig
    images: np.ndarray
    out_dir: Path
    resume: bool = False

    def run(self) -> None:
        """Train, printing a line every tenth of the epochs (progress bars of several workers would clash)."""
        from meddenoise.training import train

        started = time.perf_counter()
        every = max(1, self.config.epochs // 10)

        def report(row: dict[str, Any]) -> None:
            epoch = int(row["epoch"])
            if epoch % every == 0 or epoch == self.config.epochs:
                val = row.get("val_loss")
                print(
                    f"  {self.name}: epoch {epoch}/{self.config.epochs}, train loss {row['train_loss']:.4f}"
                    + ("" if val is None else f", val {val:.4f}")
                    + f" ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )

        train(
            self.config,
            self.images,
            out_dir=self.out_dir,
            resume=self.resume,
            progress=False,
            on_epoch_end=report,
        )


def train_in_processes(
    jobs: Sequence[TrainingJob], *, processes: int, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Run independent trainings ``processes`` at a time (:func:`run_in_processes`); ``{name: seconds}``.

    Small networks (64x64 images, a few hundred thousand parameters) gain little from a second torch
    thread, so separate trainings on separate cores finish sooner than one after another on all of them.
    Each job trains with its config's ``num_threads``; a training gives the same weights in a worker as in
    this process (its noise, order and initialisation come from its own seed).
    """
    results = run_in_processes(jobs, processes=processes, log=log)
    return {name: result.seconds for name, result in results.items()}
