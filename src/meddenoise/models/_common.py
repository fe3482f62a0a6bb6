"""Pieces every denoising network shares: input checks, pad-to-multiple and crop, fused upsample+conv.

Fully convolutional networks with ``k`` poolings only accept sizes divisible by ``2**k``. Rather than
refuse a 65x63 slice, :class:`DenoisingNet` pads the batch on the bottom/right to the next multiple
(reflecting the image, or replicating its edge when the image is too small to reflect), runs the
network and crops the result back, so a model trained on 64x64 patches denoises a 512x512 slice.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DenoisingNet",
    "check_image_batch",
    "input_layer",
    "max_pool2x2",
    "pad_to_multiple",
    "upsample2_conv3x3",
]


def check_image_batch(x: torch.Tensor, owner: str) -> None:
    """Raise a one-line :class:`ValueError` unless ``x`` is a non-empty float batch ``(N, 1, H, W)``."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"{owner}: expected a batch of shape (N, 1, H, W), got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{owner}: got an empty batch of shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{owner}: expected a floating-point batch, got dtype {x.dtype}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``x`` on the bottom and right so that height and width are multiples of ``multiple``.

    Reflect padding keeps image statistics at the border; it needs the pad to be smaller than the image,
    so tiny images (e.g. 3x3 padded to 8x8) fall back to replicating the edge.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if torch.jit.is_tracing():
        return _pad_traced(x, pad_h, pad_w)
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if (pad_h < h and pad_w < w) else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _pad_traced(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """:func:`pad_to_multiple` without Python branches on the size, for a trace (ONNX export).

    A trace records one branch only, and ONNX's reflect ``Pad`` fails on pads as large as the image, so
    the same reflect-or-replicate rule is written as index arithmetic (``Range``, ``Where``, ``Gather``)
    that follows every size at run time. The pixels are the ones :func:`F.pad` copies. (Under the
    tracer the sizes and pads typed ``int`` here are 0-dim tensors, which is what makes them dynamic.)
    """
    h, w = x.shape[-2], x.shape[-1]
    reflect = torch.as_tensor((pad_h < h) & (pad_w < w), device=x.device)

    def index(size: int, pad: int) -> torch.Tensor:
        idx = torch.arange(size + pad, device=x.device)
        last = torch.as_tensor(size - 1, device=x.device)
        mirrored = torch.where(idx < size, idx, 2 * last - idx)
        return torch.where(reflect, mirrored, torch.minimum(idx, last))

    return x.index_select(-2, index(h, pad_h)).index_select(-1, index(w, pad_w))


def pad_to_min_size(x: torch.Tensor, min_size: int) -> torch.Tensor:
    """Replicate the bottom row and right column of ``x`` until height and width are at least ``min_size``.

    Under a trace (ONNX export) the same rule is index arithmetic, so the exported graph pads (or not)
    whatever the size at run time, as :func:`_pad_traced` does for :func:`pad_to_multiple`.
    """
    h, w = x.shape[-2], x.shape[-1]
    if torch.jit.is_tracing():

        def index(size: int) -> torch.Tensor:
            count = torch.clamp(torch.as_tensor(size, device=x.device), min=min_size)
            return torch.minimum(
                torch.arange(cast(int, count), device=x.device), torch.as_tensor(size - 1, device=x.device)
            )

        return x.index_select(-2, index(h)).index_select(-1, index(w))
    short_h, short_w = max(0, min_size - h), max(0, min_size - w)
    if short_h == 0 and short_w == 0:
        return x
    return F.pad(x, (0, short_w, 0, short_h), mode="replicate")


def input_layer(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` for a network's first layer, the one that reads the image: in float32 at inference
    even under bf16 autocast (``backend="bf16"``).

    bf16 keeps 8 bits of mantissa, so an image value near 0.5 is rounded to steps of 2^-9 (~0.002 on the
    [0, 1] scale): rounding noise of a fifth of the noise at 1 %, which the rest of the network cannot
    undo (on the ``xray`` card at 1 %: 46.82 dB in bf16 against 46.97 in float32; with the head in
    float32 46.97). The head is a few % of the work. Training keeps plain autocast, so the recorded
    training runs stay reproducible.
    """
    device = x.device.type
    if layer.training or not torch.is_autocast_enabled(device):
        return layer(x)
    with torch.autocast(device, enabled=False):
        y = layer(x.float())
    # back to the autocast type: a float32 output would keep the finest stage's residual sums in float32
    return y.to(torch.get_autocast_dtype(device))


def max_pool2x2(y: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling with stride 2 of a batch with even height and width.

    Without autograd it takes the maximum of the four strided sub-grids, about twice as fast as
    ``max_pool2d`` (which also computes the indices of the maxima); with autograd it is ``max_pool2d``,
    whose gradient goes to one maximum where ``torch.maximum`` would split it between ties.
    """
    if torch.is_grad_enabled() and y.requires_grad:
        return F.max_pool2d(y, 2)
    top = torch.maximum(y[..., 0::2, 0::2], y[..., 0::2, 1::2])
    return torch.maximum(top, torch.maximum(y[..., 1::2, 0::2], y[..., 1::2, 1::2]))


# For a 3x3 kernel applied after nearest-neighbour upsampling by 2, output row 2i+a (a = 0 or 1) sees
# high-resolution rows 2i+a-1, 2i+a, 2i+a+1, i.e. low-resolution rows (i-1, i) for a=0 and (i, i+1) for
# a=1. _PHASE_TAPS[a, p, r] says which original kernel row r lands on low-resolution tap p of phase a.
# Phase 1 comes first so that pixel_shuffle interleaves the phases in the right order (see below).
_PHASE_TAPS = torch.tensor(
    [
        [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # phase a=1: taps (i, i+1) get (w0 + w1, w2)
        [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],  # phase a=0: taps (i-1, i) get (w0, w1 + w2)
    ]
)


def upsample2_conv3x3(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``conv3x3(upsample_nearest_2x(z))`` with zero 'same' padding, computed without upsampling.

    Each of the four output phases is a 2x2 convolution of the low-resolution input whose taps are sums
    of the 3x3 kernel's taps, so the work falls from 9 to 4 multiply-adds per output pixel and channel,
    and the 4x larger upsampled tensor is never built. Mathematically identical to the unfused pair
    (equal to float rounding); the parameters remain the original 3x3 kernel, so weights trained either
    way are interchangeable and autograd trains them through this function.

    How the phases are assembled: a 2x2 convolution of ``z`` zero-padded by one gives an
    ``(H+1) x (W+1)`` map per phase; output row ``2i+a`` is that map's row ``i+a``. Writing ``m = i+a``,
    phase 1 fills high-resolution row ``2m-1`` and phase 0 row ``2m``, so pixel_shuffle with phase 1
    first yields the output shifted by one pixel: crop one pixel from each border.
    """
    c_out = weight.shape[0]
    taps = _PHASE_TAPS.to(dtype=weight.dtype, device=weight.device)
    # kernel[o, a, b, i, p, q] = sum_rs taps[a, p, r] taps[b, q, s] weight[o, i, r, s]
    kernel = torch.einsum("apr,bqs,oirs->oabipq", taps, taps, weight).reshape(4 * c_out, -1, 2, 2)
    phase_bias = None if bias is None else bias.repeat_interleave(4)
    phases = F.conv2d(F.pad(z, (1, 1, 1, 1)), kernel, phase_bias)
    out = F.pixel_shuffle(phases, 2)
    return out[..., 1:-1, 1:-1]


class DenoisingNet(nn.Module):
    """Base class of the denoising networks: source citation, padding multiple, noise-level use.

    Subclasses set :attr:`source` (paper, figure/table), :attr:`multiple` (input sizes the layers need;
    the batch is padded to it internally) and :attr:`uses_sigma` (whether ``forward`` takes the noise
    level ``sigma``), and implement :meth:`forward`.
    """

    #: Where the architecture comes from (paper and figure/table).
    source: str = ""
    #: Height and width must be multiples of this; inputs are padded to it and the output cropped back.
    multiple: int = 1
    #: Whether ``forward(x, sigma=...)`` uses the noise level.
    uses_sigma: bool = False
    #: The one height and width the network accepts (a dense layer), or ``None``: any size.
    fixed_size: int | None = None
    #: Where the layer that reads the image sits (a ``get_submodule`` path); ``forward`` runs it through
    #: :func:`input_layer`, so under the bf16 back end it still reads the image in float32.
    image_layer_path: str = "head"

    def image_layer(self) -> nn.Module:
        """The layer that reads the image (:attr:`image_layer_path`)."""
        return self.get_submodule(self.image_layer_path)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def describe(self) -> str:
        """One line: class, source and parameter count."""
        return f"{type(self).__name__} ({self.source}); {self.num_parameters():,} parameters"

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, type(self).__name__)
        return pad_to_multiple(x, self.multiple)
