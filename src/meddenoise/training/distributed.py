"""Multi-process training under ``torchrun``: the process group, each rank's share of a batch, reductions.

``torchrun --nproc-per-node N -m meddenoise train ...`` starts N copies of the same run; each reads
``RANK`` / ``WORLD_SIZE`` from its environment (:func:`setup`). The trainer then keeps one rule that
makes N processes train like one:

* every rank draws the same batches from the epoch's seeded generator (the per-epoch "sampler": the
  order, crops, noise and masks depend only on the seed and the epoch), and each trains on its own
  contiguous share of every batch (:meth:`DistContext.shard`);
* a rank's loss is weighted by its share of the batch, so the gradients that DistributedDataParallel
  averages over the ranks are the gradient of the whole batch's mean loss, as in one process;
* the reported loss is summed over the ranks (:meth:`DistContext.global_mean`); checkpoints, history and
  plots are written by rank 0 only.

The process group uses gloo for a model on the CPU (the trainer's device) and NCCL for one on a GPU.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from meddenoise.training.objectives import Batch

__all__ = ["DistContext", "backend_for", "setup"]


def backend_for(device: torch.device | str) -> str:
    """The collective backend for parameters on ``device``: NCCL for CUDA, gloo otherwise.

    >>> backend_for("cpu"), backend_for("cuda:0")
    ('gloo', 'nccl')
    """
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


@dataclass(frozen=True)
class DistContext:
    """This process's place in a run: ``rank`` of ``world_size`` (1: an ordinary single-process run)."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # this run created the process group, so it destroys it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and shows progress."""
        return self.rank == 0

    def shard(self, batch: Batch) -> tuple[Batch, int]:
        """This rank's contiguous share of ``batch`` and its size.

        When the batch has fewer samples than ranks, a rank without a share gets the batch's first
        sample with size 0 (its loss then counts with weight 0, but it still joins the gradient
        all-reduce that every rank must enter).
        """
        if not self.enabled:
            return batch, len(batch.inputs)
        bounds = np.linspace(0, len(batch.inputs), self.world_size + 1).round().astype(int)
        start, stop = int(bounds[self.rank]), int(bounds[self.rank + 1])
        count = stop - start
        part = slice(start, stop) if count > 0 else slice(0, 1)

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[part]

        shard = Batch(
            batch.inputs[part], batch.targets[part], cut(batch.mask), cut(batch.sigma), cut(batch.correlation)
        )
        return shard, count

    def global_mean(self, local_sum: float, local_count: int) -> tuple[float, int]:
        """``(sum over ranks / count over ranks, count over ranks)``; the local values in one process."""
        if not self.enabled:
            return local_sum / max(local_count, 1), local_count
        totals = torch.tensor([local_sum, float(local_count)], dtype=torch.float64)
        dist.all_reduce(totals)
        count = int(totals[1])
        return float(totals[0]) / max(count, 1), count

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel (as is in one process)."""
        if not self.enabled:
            return model
        # A channels_last model's 1-pixel kernels have grads whose strides differ from DDP's bucket views only
        # in a size-1 dimension: the same memory order, so torch's warning about it says nothing here.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        return nn.parallel.DistributedDataParallel(model)

    def average_gradients(self, params: list[nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the ranks, for phases that train part of a model
        outside its DistributedDataParallel wrapper (e.g. a stacked autoencoder's greedy layers)."""
        if not self.enabled:
            return
        for param in params:
            if param.grad is not None:
                dist.all_reduce(param.grad)
                param.grad /= self.world_size

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: torch.device | str = "cpu") -> DistContext:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1).

    Without those variables, or with ``WORLD_SIZE=1``, this is an ordinary run in one process. A
    process group the caller already initialised is used as it is.
    """
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or not dist.is_available():
        return DistContext()
    dist.init_process_group(backend=backend_for(device), init_method="env://")
    return DistContext(dist.get_rank(), dist.get_world_size(), owns_group=True)
