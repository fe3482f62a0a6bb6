"""Training under torchrun: each rank's share of a batch, the whole-batch gradient, one writer, exact resume."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from training_helpers import make_images

from meddenoise.training.distributed import DistContext, backend_for, setup
from meddenoise.training.objectives import Batch

SRC = Path(__file__).resolve().parents[2] / "src"


def _batch(n: int) -> Batch:
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2)
    return Batch(x, x + 1, x + 2, np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32) / n)


def test_shards_cover_the_batch_once_in_order() -> None:
    batch = _batch(7)
    parts = [DistContext(rank, 3).shard(batch) for rank in range(3)]
    assert [count for _, count in parts] == [2, 3, 2]
    for field in dataclasses.fields(Batch):  # every per-sample array, a new one too, is cut the same way
        whole = getattr(batch, field.name)
        assert whole is not None, f"_batch must fill {field.name} for this test to check it"
        np.testing.assert_array_equal(np.concatenate([getattr(p, field.name) for p, _ in parts]), whole)
    # fewer samples than ranks: the rank without a share still gets a sample to enter the all-reduce, weight 0
    small = [DistContext(rank, 3).shard(_batch(2)) for rank in range(3)]
    assert sorted(count for _, count in small) == [0, 1, 1]
    assert all(len(part.inputs) == 1 for part, _ in small)
    whole, count = DistContext().shard(batch)
    assert whole is batch and count == 7


def test_share_weighted_rank_gradients_average_to_the_whole_batch_gradient() -> None:
    # what DDP does with the trainer's weighting: mean over ranks of grad(loss_r * share_r * W / N)
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    batch = Batch(
        np.random.default_rng(0).random((5, 8, 8), dtype=np.float32), np.zeros((5, 8, 8), np.float32), None
    )

    def grad(b: Batch, weight: float) -> torch.Tensor:
        model.zero_grad()
        loss = torch.mean(
            (model(torch.from_numpy(b.inputs)[:, None]) - torch.from_numpy(b.targets)[:, None]) ** 2
        )
        (loss * weight).backward()
        assert model.weight.grad is not None
        return model.weight.grad.clone()

    world = 3
    averaged = sum(
        grad(part, share * world / 5)
        for part, share in (DistContext(r, world).shard(batch) for r in range(world))
    )
    torch.testing.assert_close(averaged / world, grad(batch, 1.0), rtol=1e-5, atol=1e-7)


def test_backend_and_a_single_process_run_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_for("cpu") == "gloo" and backend_for(torch.device("cuda", 1)) == "nccl"
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = setup()
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (0, 1, False, True)
    assert ctx.global_mean(6.0, 3) == (2.0, 3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _train(
    data: Path, out: Path, *, nproc: int, epochs: int, resume: bool = False
) -> subprocess.CompletedProcess[str]:
    args = [
        "train", "--data", str(data), "--size", "16", "--model", "gondara-dae", "--model-param", "filters=4",
        "--noise", "gaussian(p=0.1,sigma=1)", "--epochs", str(epochs), "--batch-size", "4", "--seed", "7",
        "--threads", "1", "--precision", "fp32", "--quiet", "--out", str(out), *(["--resume"] if resume else []),
    ]  # fmt: skip
    launcher = [sys.executable, "-m", "meddenoise"]
    if nproc > 1:
        launcher = [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "-m", "meddenoise",
        ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*launcher, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _losses(run: Path) -> list[tuple[float, float]]:
    return [(row["train_loss"], row["val_loss"]) for row in json.loads((run / "history.json").read_text())]


@pytest.mark.integration
@pytest.mark.slow
def test_torchrun_two_processes_train_like_one_and_resume(tmp_path: Path) -> None:
    data = tmp_path / "pngs"
    data.mkdir()
    for i, image in enumerate(make_images(10, size=32, seed=5)):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(data / f"img{i:02d}.png")
    single = _train(data, tmp_path / "one", nproc=1, epochs=2)
    assert single.returncode == 0, single.stderr
    two = _train(data, tmp_path / "two", nproc=2, epochs=1)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("checkpoint:") == 1  # rank 0 speaks (and writes) for the run
    resumed = _train(data, tmp_path / "two", nproc=2, epochs=2, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    written = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert written == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )  # one set of files, no per-rank copies
    # The same batches and the whole-batch gradient: only the order of float sums differs (the ranks'
    # gradients are summed by the all-reduce), so the losses agree to 1e-5 relative.
    np.testing.assert_allclose(_losses(tmp_path / "two"), _losses(tmp_path / "one"), rtol=1e-5)


def test_an_objective_with_its_own_trainable_parts_is_refused_under_torchrun(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meddenoise.training import TrainConfig, train, trainer

    monkeypatch.setattr(trainer, "setup", lambda: DistContext(rank=0, world_size=2))  # as torchrun would
    config = TrainConfig(
        model="gondara-dae",
        model_params={"filters": 4},
        noise="gaussian(p=0.1,sigma=1)",
        epochs=1,
        batch_size=4,
        objective={"kind": "adversarial", "base": {"kind": "supervised"}},
    )
    with pytest.raises(ValueError, match="does not synchronise yet"):
        train(config, make_images(8), out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last.json").exists()
