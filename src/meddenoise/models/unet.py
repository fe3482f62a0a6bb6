"""A DRUNet-like U-Net denoiser with residual blocks, optionally conditioned on the noise level.

Zhang, Li, Zuo, Zhang, Van Gool & Timofte, "Plug-and-play image restoration with deep denoiser prior"
(DRUNet), IEEE TPAMI 2021, Fig. 1: a head convolution, ``levels`` encoder stages each of residual blocks
(x + Conv3x3(ReLU(Conv3x3(x)))) followed by a 2x2 stride-2 convolution that doubles the channels, a body
of residual blocks, and mirrored decoder stages (2x2 stride-2 transposed convolution, additive skip
from the encoder, residual blocks), then a tail convolution; no batch norm and no biases, as in DRUNet.
With ``noise_conditioned=True`` the noise level sigma enters as a second, constant input channel (the
DRUNet noise-level map), so one network serves every noise level; without a given sigma it is estimated
blindly from each image (median absolute finest-scale Haar diagonal coefficient / 0.6745, Donoho's
estimator). Differences from DRUNet: narrower by default (channels 32-64-128-256, 2 blocks per stage,
for CPU training; ``channels=(64, 128, 256, 512), blocks=4`` is DRUNet's size) and, by default, a
global residual connection (the network predicts the correction to its input).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet, input_layer
from meddenoise.models.registry import register_model

__all__ = ["ResBlock", "UNetDenoiser", "estimate_noise_sigma", "run_unet_stages", "unet_stages"]

_MAD_TO_SIGMA = 0.6745  # median absolute deviation of a standard normal


def estimate_noise_sigma(x: torch.Tensor) -> torch.Tensor:
    """Blind Gaussian noise standard deviation of each image of a batch ``(N, 1, H, W)`` → ``(N,)``.

    Donoho's wavelet estimator: the finest-scale diagonal Haar coefficients of a smooth image are almost
    all noise, and their median absolute value over 0.6745 estimates the noise standard deviation.
    """
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    if h == 0 or w == 0:
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    blocks = x[..., :h, :w]
    diagonal = (blocks[..., 0::2, 0::2] - blocks[..., 0::2, 1::2] - blocks[..., 1::2, 0::2]) + blocks[
        ..., 1::2, 1::2
    ]
    return (diagonal / 2).abs().flatten(1).median(dim=1).values / _MAD_TO_SIGMA


class ResBlock(nn.Module):
    """``x + Conv3x3(ReLU(Conv3x3(x)))`` without biases (DRUNet's residual block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def unet_stages(
    channels: Sequence[int], blocks: int, *, body_blocks: int | None = None
) -> tuple[nn.ModuleList, nn.Sequential, nn.ModuleList]:
    """The encoder stages, body and decoder stages of a residual-block U-Net (DRUNet's, without biases).

    Encoder stage: ``blocks`` residual blocks, then a 2x2 stride-2 convolution to the next width; body:
    ``body_blocks`` (default ``blocks``) residual blocks at the coarsest level; decoder stage: a 2x2 stride-2
    transposed convolution back, then ``blocks`` residual blocks. Run them with :func:`run_unet_stages`.
    """
    body_blocks = blocks if body_blocks is None else body_blocks
    down = nn.ModuleList(
        nn.Sequential(*[ResBlock(c) for _ in range(blocks)], nn.Conv2d(c, c_next, 2, stride=2, bias=False))
        for c, c_next in itertools.pairwise(channels)
    )
    body = nn.Sequential(*[ResBlock(channels[-1]) for _ in range(body_blocks)])
    up = nn.ModuleList(
        nn.Sequential(
            nn.ConvTranspose2d(c_next, c, 2, stride=2, bias=False), *[ResBlock(c) for _ in range(blocks)]
        )
        for c, c_next in itertools.pairwise(channels)
    )
    return down, body, up


def run_unet_stages(y: torch.Tensor, down: nn.ModuleList, body: nn.Module, up: nn.ModuleList) -> torch.Tensor:
    """Features ``y`` at the finest width through the stages of :func:`unet_stages` (additive skips)."""
    skips = []
    for stage in down:
        skips.append(y)
        y = stage(y)
    y = body(y)
    for stage, skip in zip(reversed(up), reversed(skips), strict=True):
        upsample, *blocks = cast(nn.Sequential, stage)
        y = upsample(y) + skip  # upsample, add the encoder's skip, residual blocks
        for block in blocks:
            y = block(y)
    return y


@register_model("unet")
class UNetDenoiser(DenoisingNet):
    """DRUNet-like U-Net with residual blocks; ``forward(x, sigma=None)``; any size (multiple of 2**levels).

    Parameters
    ----------
    channels
        Channels at each resolution, finest first; its length minus one is the number of down-samplings.
    blocks
        Residual blocks per encoder stage, decoder stage and in the body.
    noise_conditioned
        Feed the noise level as a constant extra input channel (then ``uses_sigma`` is true).
    residual
        Add the input to the output (predict the correction); ``False`` predicts the image directly.
    """

    source = "Zhang et al. 2021 (DRUNet), IEEE TPAMI, Fig. 1"

    def __init__(
        self,
        *,
        channels: Sequence[int] = (32, 64, 128, 256),
        blocks: int = 2,
        noise_conditioned: bool = False,
        residual: bool = True,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2 or blocks < 1:
            raise ValueError(
                f"UNetDenoiser: need >= 2 channel levels and >= 1 block, got {channels}, {blocks}"
            )
        self.uses_sigma = noise_conditioned
        self.residual = residual
        self.multiple = 2 ** (len(channels) - 1)
        self.head = nn.Conv2d(2 if noise_conditioned else 1, channels[0], 3, padding=1, bias=False)
        self.down, self.body, self.up = unet_stages(channels, blocks)
        self.tail = nn.Conv2d(channels[0], 1, 3, padding=1, bias=False)

    def _noise_map(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        level = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
        if level.numel() not in (1, x.shape[0]):
            raise ValueError(
                f"UNetDenoiser: sigma must be a number or one per image ({x.shape[0]}), got {level.numel()}"
            )
        return level.reshape(-1, 1, 1, 1).expand(x.shape[0], 1, *x.shape[-2:])

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` ``(N, 1, H, W)``; ``sigma`` (number or one per image) is used when conditioned."""
        h, w = x.shape[-2:]
        padded = self._pad(x)
        inputs = padded
        if self.uses_sigma:
            # estimated on the unpadded image: replicate-padding a tiny image would bias it towards zero
            level = estimate_noise_sigma(x) if sigma is None else sigma
            inputs = torch.cat([padded, self._noise_map(padded, level)], dim=1)
        y = self.tail(run_unet_stages(input_layer(self.head, inputs), self.down, self.body, self.up))
        if self.residual:
            y = y + padded
        y = y[..., :h, :w]
        return y if self.training else y.clamp(0.0, 1.0)
