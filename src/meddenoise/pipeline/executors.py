"""Where the tasks of a batch run: in this process, in local worker processes, or on a Dask cluster.

A batch is a list of independent tasks (one per file); :func:`run_tasks` runs a picklable function
over them and yields ``(index, result)`` pairs as tasks finish, whatever the executor, so the caller
reports each result as it comes and keeps the plan's order in its summary. The task function is
expected to catch its own errors (a failing file is a result, not an exception); should a task still
raise, or a worker process die, the caller gets a :class:`TaskFailure` for that task and the others go on.

* ``jobs=1`` and no scheduler: a plain loop in this process.
* ``jobs=N``: ``N`` worker processes (:class:`concurrent.futures.ProcessPoolExecutor`; forked, or started
  from a forkserver once torch is loaded),
  each with ``cores // N`` torch threads so that the workers do not oversubscribe the CPU.
* ``scheduler="tcp://host:port"``: a running Dask distributed cluster (``dask scheduler`` plus ``dask
  worker`` processes, possibly on other machines); needs the ``dask`` extra. Every worker must see the
  input and output paths (a shared file system).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Execution", "TaskFailure", "available_cores", "run_tasks", "worker_threads"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Execution:
    """How a batch runs: ``jobs`` local processes, or the Dask cluster at ``scheduler``.

    Parameters
    ----------
    jobs
        Local worker processes (1: in this process). Ignored when ``scheduler`` is given.
    scheduler
        Address of a Dask distributed scheduler, e.g. ``tcp://10.0.0.5:8786``.
    """

    jobs: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        if self.scheduler is not None and not self.scheduler.strip():
            raise ValueError("scheduler address is empty")

    def describe(self) -> str:
        """E.g. ``serial``, ``2 local processes``, ``Dask cluster tcp://127.0.0.1:8786``."""
        if self.scheduler is not None:
            return f"Dask cluster {self.scheduler}"
        return "serial" if self.jobs == 1 else f"{self.jobs} local processes"


@dataclass(frozen=True)
class TaskFailure(Generic[T]):
    """A task that raised or whose worker died, with a one-line reason."""

    item: T
    reason: str


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS has one, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(jobs: int, cores: int | None = None) -> int:
    """torch threads per worker when ``jobs`` workers share ``cores`` CPU cores (at least 1).

    >>> worker_threads(2, cores=16), worker_threads(4, cores=2)
    (8, 1)
    """
    return max(1, (cores if cores is not None else available_cores()) // jobs)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _init_worker(threads: int) -> None:
    # Read by OpenMP/BLAS when torch or numpy's BLAS first load here; a torch already loaded is told directly.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def run_tasks(
    fn: Callable[[T], R], items: Sequence[T], execution: Execution | None = None
) -> Iterator[tuple[int, R | TaskFailure[T]]]:
    """Run ``fn`` over ``items`` as ``execution`` says; yield ``(index, result)`` as tasks finish.

    ``fn`` and the items must be picklable for processes and Dask (a module-level function, or a
    :func:`functools.partial` of one). A task that raises gives a :class:`TaskFailure`.

    Raises
    ------
    meddenoise._optional.MissingOptionalDependency
        For a scheduler address without the ``dask`` extra installed.
    OSError
        When the scheduler cannot be reached.
    """
    execution = execution or Execution()
    if not items:
        return
    if execution.scheduler is not None:
        yield from _run_dask(fn, items, execution.scheduler)
    elif execution.jobs == 1 or len(items) == 1:
        for index, item in enumerate(items):
            try:
                yield index, fn(item)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                yield index, TaskFailure(item, _one_line(exc))
    else:
        yield from _run_processes(fn, items, execution.jobs)


def _run_processes(
    fn: Callable[[T], R], items: Sequence[T], jobs: int
) -> Iterator[tuple[int, R | TaskFailure[T]]]:
    workers = min(jobs, len(items))
    context = _start_method()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(worker_threads(workers),)
    )
    try:
        pending: dict[Future[R], int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                yield index, _outcome(future, items[index])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_method() -> multiprocessing.context.BaseContext:
    """How worker processes start: forked from this process while torch is not loaded here (instant, the
    pipeline already imported), else from a clean forkserver: torch's OpenMP thread pool does not survive
    a fork, and a forked worker could hang on its first parallel operation."""
    if "torch" not in sys.modules and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["meddenoise.pipeline.batch"])  # imported once for all workers
    return context


def _outcome(future: Any, item: T) -> Any:
    try:
        return future.result()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # the task raised, or its worker died (BrokenProcessPool, KilledWorker)
        return TaskFailure(item, _one_line(exc))


def _run_dask(
    fn: Callable[[T], R], items: Sequence[T], address: str
) -> Iterator[tuple[int, R | TaskFailure[T]]]:
    from meddenoise._optional import require

    require("dask", what="--scheduler")
    from distributed import Client, as_completed

    client = Client(address)  # as_completed needs it as the default client (closed below)
    try:
        # pure=False: each task runs (the same file twice in a batch is a planning error, not a cache hit)
        futures = client.map(fn, list(items), pure=False)
        index_of = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            index = index_of[future.key]
            yield index, _outcome(future, items[index])
            future.release()
    finally:
        client.close()
