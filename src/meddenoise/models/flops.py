"""Count the multiply-adds a network performs, for the speed tables (FLOPs = 2 x MACs)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops"]


def count_flops(model: nn.Module, input_shape: Sequence[int], *, per_image: bool = True) -> int:
    """Floating-point operations of one forward pass of ``model`` on a batch of ``input_shape``.

    Counts the convolutions, transposed convolutions and matrix products that actually run (2 FLOPs per
    multiply-add), by intercepting the operators rather than hooking modules, so functional
    convolutions (e.g. the fused upsample+conv of the autoencoders, BatchNorm folded into a convolution)
    count what they really cost. Element-wise operations (activations, pooling, additions) are not
    counted; they are memory-bound and small beside the convolutions.

    Parameters
    ----------
    model
        The network; run once in evaluation mode without gradients (its training flag is restored).
    input_shape
        ``(N, 1, H, W)``.
    per_image
        Divide by the batch size ``N``.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4:
        raise ValueError(f"count_flops: input_shape must be (N, C, H, W), got {shape}")
    param = next(model.parameters(), None)
    x = torch.zeros(shape, device=param.device if param is not None else "cpu")
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    total = int(counter.get_total_flops())
    return total // shape[0] if per_image else total
