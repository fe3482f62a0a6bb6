"""A reproduction's independent work runs several pieces at a time in worker processes.

``run_in_processes`` (any job), ``train_in_processes`` (trainings), gondara2016's baselines as jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from meddenoise.classical import bm3d_available
from meddenoise.experiments.protocol import TrainingJob, run_in_processes, train_in_processes
from meddenoise.experiments.reproductions.gondara2016.baselines import BaselineJob
from meddenoise.training import TrainConfig, train


def _config(seed: int) -> TrainConfig:
    return TrainConfig(
        model="gondara-dae",
        noise="gaussian(p=0.1,sigma=1)",
        noise_mode="fresh",
        loss="mse",
        optimizer="adam",
        epochs=2,
        batch_size=4,
        val_fraction=0.25,
        seed=seed,
        num_threads=1,
        precision="fp32",
    )


def _images(rng: np.random.Generator) -> np.ndarray:
    return rng.random((12, 16, 16)).astype(np.float32)


def test_trainings_in_worker_processes_give_the_weights_trained_here(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    images = _images(rng)
    jobs = [TrainingJob(f"seed{s}", _config(s), images, tmp_path / "workers" / f"seed{s}") for s in (1, 2)]
    seconds = train_in_processes(jobs, processes=2, log=lambda _line: None)
    assert set(seconds) == {"seed1", "seed2"} and all(t > 0 for t in seconds.values())
    weights = {}
    for job in jobs:
        here = tmp_path / "here" / job.name
        train(job.config, images, out_dir=here, progress=False)
        weights[job.name] = load_file(job.out_dir / "best.safetensors")
        ours = load_file(here / "best.safetensors")
        assert weights[job.name].keys() == ours.keys()
        for name, value in ours.items():
            np.testing.assert_array_equal(weights[job.name][name], value, err_msg=f"{job.name}: {name}")
    # two seeds, two different networks: the jobs did not share one result
    first = next(iter(weights["seed1"]))
    assert not np.array_equal(weights["seed1"][first], weights["seed2"][first])


def test_a_failing_training_is_named_after_the_others_ran(tmp_path: Path, rng: np.random.Generator) -> None:
    images = _images(rng)
    taken = tmp_path / "taken"
    # a run is there already: without resume the job must not overwrite it
    train(_config(1), images, out_dir=taken, progress=False)
    jobs = [
        TrainingJob("taken", _config(1), images, taken),
        TrainingJob("fresh", _config(2), images, tmp_path / "fresh"),
    ]
    lines: list[str] = []
    with pytest.raises(RuntimeError, match=r"1 of 2 jobs failed: taken: ") as caught:
        train_in_processes(jobs, processes=2, log=lines.append)
    assert "fresh" not in str(caught.value)
    assert (tmp_path / "fresh" / "best.safetensors").is_file()  # the other training still ran
    assert any(line.startswith("taken failed: ") for line in lines)
    assert any(line.startswith("fresh done in ") for line in lines)


def test_a_finished_training_is_reused_with_resume(tmp_path: Path, rng: np.random.Generator) -> None:
    images = _images(rng)
    out = tmp_path / "run"
    train(_config(3), images, out_dir=out, progress=False)
    written = (out / "best.safetensors").stat().st_mtime_ns
    job = TrainingJob("run", _config(3), images, out, resume=True)
    train_in_processes(
        [job, TrainingJob("other", _config(4), images, tmp_path / "o")], processes=2, log=print
    )
    assert (out / "best.safetensors").stat().st_mtime_ns == written


def _baseline_job(key: str, rng: np.random.Generator) -> BaselineJob:
    clean = rng.random((6, 24, 24)).astype(np.float32)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    return BaselineJob(
        key=key,
        noisy=noisy[:4],
        sigma=0.1,
        clean_tune=clean[4:],
        noisy_tune=noisy[4:],
        bm3d_noisy=noisy[:2] if bm3d_available() else None,
        median_grid=(3, 5),
        nlm_h_grid=(0.06, 0.15),
        nlm_patch_grid=(5,),
    )


def test_baselines_and_trainings_share_the_workers_with_the_results_computed_here(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    baselines = [_baseline_job("a", rng), _baseline_job("b", rng)]
    training = TrainingJob("net", _config(5), _images(rng), tmp_path / "net")
    seen: list[str] = []
    results = run_in_processes(
        [*baselines, training],
        processes=2,
        log=lambda _line: None,
        on_result=lambda job, _r: seen.append(job.name),
    )
    assert sorted(seen) == sorted(results) == ["baselines-a", "baselines-b", "net"]
    assert results["net"].value is None and (tmp_path / "net" / "best.safetensors").is_file()
    for job in baselines:
        there = results[job.name].value
        here = job.run()
        assert there.tuned == here.tuned and there.outputs.keys() == here.outputs.keys()
        assert ("BM3D" in here.outputs) == bm3d_available()
        for label, output in here.outputs.items():  # BM3D single-threaded: exactly equal too
            np.testing.assert_array_equal(there.outputs[label], output, err_msg=f"{job.name}: {label}")
            assert output.shape == (len(job.noisy) if label != "BM3D" else 2, 24, 24)


def test_jobs_with_the_same_name_are_refused_before_any_runs(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    images = _images(rng)
    jobs = [TrainingJob("net", _config(s), images, tmp_path / f"n{s}") for s in (1, 2)]
    with pytest.raises(ValueError, match="distinct names; given more than once: net"):
        run_in_processes(jobs, processes=2, log=lambda _line: None)
    assert not (tmp_path / "n1").exists() and not (tmp_path / "n2").exists()
