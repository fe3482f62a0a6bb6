"""gondara2016's independent work run ahead, several pieces at a time: the baselines and every training.

Each setting's classical baselines and each network's training depend only on the data and the noisy
test images, so they run as one queue of worker jobs (``train_processes`` at a time, each on its share of
the cores): the baselines first, then the trainings longest first. The two cores stay busy from the first
baseline to the last training; run one after another, the baselines kept only ~1.6 of them busy.
"""

from __future__ import annotations

from collections.abc import Sequence

from meddenoise.experiments.protocol import JobResult, WorkerJob, run_in_processes
from meddenoise.experiments.reproductions.gondara2016.baselines import (
    BaselineJob,
    BaselineResult,
    baseline_job,
    record_baselines,
)
from meddenoise.experiments.reproductions.gondara2016.state import GondaraRun
from meddenoise.experiments.reproductions.gondara2016.training import (
    train_processes,
    training_jobs,
    training_threads,
)

__all__ = ["run_ahead"]


def run_ahead(run: GondaraRun, keys: Sequence[str]) -> None:
    """Compute every setting's baselines and train every network in worker processes, where cores allow.

    The settings' test images must be corrupted already (:meth:`GondaraRun.corrupt`). Baselines are scored
    into the run as each finishes; trainings land in their folders, for :mod:`.training` to load. With one
    process (``train_processes=1``, or one core) nothing happens here: the run computes the baselines
    and then trains in this process, one after another.
    """
    if train_processes(run.config) <= 1:
        return  # decided before the jobs are built: their tuning draws and FLOP counts would go unused
    baselines: list[WorkerJob[object]] = [baseline_job(run, key) for key in keys]
    trainings: list[WorkerJob[object]] = list(training_jobs(run, keys))
    jobs = baselines + trainings
    processes = min(train_processes(run.config), len(jobs))
    record = run.record

    def keep(job: WorkerJob[object], result: JobResult[object]) -> None:
        if isinstance(job, BaselineJob):
            assert isinstance(result.value, BaselineResult)
            record_baselines(run, job.key, result.value)
        else:
            run.trained_ahead[job.name] = result.seconds

    threads = training_threads(run.config)
    title = (
        f"classical baselines of {len(baselines)} settings, then {len(trainings)} trainings, "
        f"{processes} at a time ({threads} torch thread(s) each)"
    )
    with record.step(title):
        run_in_processes(
            jobs,
            processes=processes,
            log=lambda line: record.log(f"[{record.elapsed():7.1f}s]   {line}"),
            on_result=keep,
        )
