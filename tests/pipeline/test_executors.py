"""Batches on several processes and on Dask: the same pixels, results and failures as the serial loop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.methods import DenoiserResolver
from meddenoise.pipeline import BatchSummary, Execution, TaskFailure, denoise_files, run_tasks, worker_threads

MEDIAN = DenoiserResolver(method="median")
SRC = Path(__file__).resolve().parents[2] / "src"


def _ct_series(folder: Path, count: int, *, seed: int = 0) -> Path:
    """``count`` noisy CT slices of one series (CT_small with new pixels), plus a broken ``.dcm``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    template = get_testdata_file("CT_small.dcm")
    assert template is not None
    for i in range(count):
        ds = pydicom.dcmread(template)
        pixels = ds.pixel_array.astype(np.int32) + rng.normal(0, 40, ds.pixel_array.shape).astype(np.int32)
        ds.PixelData = np.clip(pixels, 0, 4000).astype(ds.pixel_array.dtype).tobytes()
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        ds.InstanceNumber = i + 1
        ds.save_as(folder / f"slice{i:03d}.dcm", enforce_file_format=True)
    (folder / "broken.dcm").write_text("not a DICOM file")
    return folder


def _outputs(out: Path) -> dict[str, np.ndarray]:
    return {p.name: pydicom.dcmread(p).pixel_array for p in sorted(out.glob("*.dcm"))}


def _same_batch(serial: BatchSummary, other: BatchSummary, out_serial: Path, out_other: Path) -> None:
    """Same files denoised and failed, in the plan's order, with the same reports and pixels."""
    assert [(r.source, r.ok, r.reason) for r in other.results] == [
        (r.source, r.ok, r.reason) for r in serial.results
    ]
    assert [r.report.noise for r in other.done if r.report] == [
        r.report.noise for r in serial.done if r.report
    ]
    a, b = _outputs(out_serial), _outputs(out_other)
    assert a.keys() == b.keys() and len(a) == len(serial.done)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # one input series → one derived series, although different workers wrote its files
    assert len({pydicom.dcmread(p).SeriesInstanceUID for p in out_other.glob("*.dcm")}) == 1


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _ct_series(tmp_path_factory.mktemp("ct") / "series", 6)


@pytest.fixture(scope="module")
def serial(series: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[BatchSummary, Path]:
    out = tmp_path_factory.mktemp("serial")
    return denoise_files([series], out, resolver=MEDIAN, show_progress=False), out


def test_serial_batch_reports_the_broken_file_and_denoises_the_rest(
    serial: tuple[BatchSummary, Path],
) -> None:
    summary, out = serial
    assert [r.source.name for r in summary.failed] == ["broken.dcm"]
    assert len(summary.done) == 6 and len(_outputs(out)) == 6


def test_two_local_processes_give_the_serial_batch(
    series: Path, serial: tuple[BatchSummary, Path], tmp_path: Path
) -> None:
    seen: list[str] = []
    summary = denoise_files(
        [series],
        tmp_path,
        resolver=MEDIAN,
        show_progress=False,
        execution=Execution(jobs=2),
        on_result=lambda r: seen.append(r.source.name),
    )
    assert sorted(seen) == sorted(r.source.name for r in summary.results)  # each reported as it came
    _same_batch(serial[0], summary, serial[1], tmp_path)
    assert {r.source.parent for r in summary.done} == {series}


def test_a_dask_local_cluster_gives_the_serial_batch(
    series: Path, serial: tuple[BatchSummary, Path], tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed", reason="pip install 'meddenoise[dask]'")
    # worker threads in this process: the client, the task shipping and the results go through Dask
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        summary = denoise_files(
            [series],
            tmp_path,
            resolver=MEDIAN,
            show_progress=False,
            execution=Execution(scheduler=cluster.scheduler_address),
        )
        assert cluster.scheduler is not None
        # every file was one Dask task
        assert sum(1 for _ in cluster.scheduler.transition_log if _[2] == "memory") >= 6
    _same_batch(serial[0], summary, serial[1], tmp_path)


def _boom(x: int) -> int:
    if x == 2:
        raise RuntimeError("bad\nitem")
    return x * 10


def _die(x: int) -> int:
    if x == 1:
        os._exit(3)  # a worker process that crashes (e.g. a segfault in a decoder)
    return x


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_raising_task_is_a_failure_and_the_others_finish(jobs: int) -> None:
    outcomes = dict(run_tasks(_boom, [0, 1, 2, 3], Execution(jobs=jobs)))
    assert outcomes[0] == 0 and outcomes[1] == 10 and outcomes[3] == 30
    failure = outcomes[2]
    assert isinstance(failure, TaskFailure) and failure.item == 2
    assert failure.reason == "RuntimeError: bad item"  # one line


def test_a_dead_worker_fails_its_tasks_without_stopping_the_caller() -> None:
    outcomes = dict(run_tasks(_die, [0, 1], Execution(jobs=2)))
    assert set(outcomes) == {0, 1}
    assert isinstance(outcomes[1], TaskFailure)


def test_worker_threads_split_the_cores() -> None:
    assert worker_threads(1, cores=2) == 2
    assert worker_threads(2, cores=2) == 1
    assert worker_threads(3, cores=2) == 1
    assert worker_threads(2, cores=16) == 8
    with pytest.raises(ValueError, match="jobs"):
        Execution(jobs=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and ``dask worker`` on 127.0.0.1 at a free port (separate processes)."""
    distributed = pytest.importorskip("distributed", reason="pip install 'meddenoise[dask]'")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    port = address.rsplit(":", 1)[1]
    dask_cli = [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen(
        [*dask_cli, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard", "--no-show"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "scheduler.log").open("w"),
    )
    worker = subprocess.Popen(
        [*dask_cli, "worker", address, "--nthreads", "2", "--local-directory", str(tmp_path / "w")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with distributed.Client(address, timeout="5s") as client:
                    client.wait_for_workers(1, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_cli_batch_through_a_real_dask_scheduler_and_worker(
    dask_cluster: str, series: Path, serial: tuple[BatchSummary, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["denoise", str(series), "-o", str(out), "--method", "median", "-q", "--scheduler", dask_cluster]
    )
    assert result.exit_code == 1, result.output  # the broken file fails, the others are written
    assert "6 file(s) denoised, 1 failed" in result.output
    assert "FAILED" in result.output and "broken.dcm" in result.output
    a, b = _outputs(serial[1]), _outputs(out)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.integration
def test_cli_jobs_option_and_an_unreachable_scheduler(series: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["denoise", str(series), "-o", str(out), "--method", "median", "-q", "-j", "2"]
    )
    assert result.exit_code == 1 and "6 file(s) denoised, 1 failed" in result.output
    dask = pytest.importorskip("dask", reason="pip install 'meddenoise[dask]'")
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(
            app,
            [
                "denoise",
                str(series),
                "-o",
                str(tmp_path / "o2"),
                "--method",
                "median",
                "-q",
                "--scheduler",
                address,
            ],
        )
    assert result.exit_code == 2
    assert f"error: Dask cluster {address}:" in result.output


def test_a_killed_parallel_run_resumes_with_skip_existing_into_the_same_series(
    series: Path, serial: tuple[BatchSummary, Path], tmp_path: Path
) -> None:
    first = denoise_files(
        [series], tmp_path, resolver=MEDIAN, show_progress=False, execution=Execution(jobs=2)
    )
    assert len(first.done) == 6
    for name in ("slice001.dcm", "slice004.dcm"):  # as if the run had been killed before these
        (tmp_path / name).unlink()
    again = denoise_files(
        [series], tmp_path, resolver=MEDIAN, show_progress=False, existing="skip", execution=Execution(jobs=2)
    )
    assert sorted(r.source.name for r in again.done) == ["slice001.dcm", "slice004.dcm"]
    assert len(again.skipped) == 4
    _same_batch(serial[0], first, serial[1], tmp_path)  # every file there, one derived series


def _torch_threads(_: int) -> int:
    import torch

    return int(torch.get_num_threads())


def test_local_workers_split_the_cores_between_their_torch_threads() -> None:
    outcomes = dict(run_tasks(_torch_threads, [0, 1, 2, 3], Execution(jobs=2)))
    assert set(outcomes.values()) == {worker_threads(2)}
