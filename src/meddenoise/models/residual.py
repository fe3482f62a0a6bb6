"""Deep residual denoisers: RED-Net (Mao 2016) and DnCNN (Zhang 2017).

* ``rednet`` — Mao, Shen & Yang, "Image restoration using very deep convolutional encoder-decoder
  networks with symmetric skip connections", NIPS 2016 (cited by the 2025 report as its "residual
  connections and skip layers"): a chain of 3x3 convolutions (encoder) followed by the same number of
  3x3 deconvolutions (decoder), no pooling, ReLU after every layer, and a skip connection every two
  layers from an encoder feature map to its mirrored decoder layer (added before the ReLU). The input
  image is skipped to the output too, so the network learns the residual. A stride-1 deconvolution is a
  convolution with a flipped kernel (same parameters, same function class), so the decoder uses
  convolutions. Default depth 10 with width 64 (the paper's RED-Net-10; it also reports 20 and 30).
* ``dncnn`` — Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian denoiser: residual learning of deep
  CNN for image denoising", IEEE TIP 2017, Fig. 1: Conv 64 3x3 + ReLU, (depth - 2) x (Conv 64 3x3 +
  BatchNorm + ReLU), Conv 1 3x3; the network predicts the noise and returns ``input - noise``.
  Depth 17 and width 64 by default (DnCNN-S); 556,097 parameters.

Both are fully convolutional without pooling (``multiple = 1``). Their residual output is clamped to
[0, 1] in evaluation mode; in training mode it is left unclamped so the loss keeps its gradient.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet, input_layer
from meddenoise.models.registry import register_model

__all__ = ["DnCNN", "REDNet"]


def _finish_residual(model: nn.Module, residual_out: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] when evaluating; leave unclamped in training so every pixel keeps its gradient."""
    return residual_out if model.training else residual_out.clamp(0.0, 1.0)


@register_model("rednet")
class REDNet(DenoisingNet):
    """RED-Net (Mao 2016): symmetric conv/deconv chain with skip connections every two layers.

    Parameters
    ----------
    depth
        Total number of layers, even, at least 4 (half encoder, half decoder); 10, 20, 30 in the paper.
    width
        Feature maps per hidden layer (64 in the paper).
    """

    source = "Mao, Shen & Yang 2016 (RED-Net), NIPS, Fig. 1 and §3"
    image_layer_path = "encoder.0"

    def __init__(self, *, depth: int = 10, width: int = 64) -> None:
        super().__init__()
        if depth < 4 or depth % 2:
            raise ValueError(f"REDNet: depth must be an even number >= 4, got {depth}")
        half = depth // 2
        self.encoder = nn.ModuleList(
            [nn.Conv2d(1 if i == 0 else width, width, 3, padding=1) for i in range(half)]
        )
        self.decoder = nn.ModuleList(
            [nn.Conv2d(width, 1 if i == half - 1 else width, 3, padding=1) for i in range(half)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._pad(x)  # validates the batch; no pooling, so nothing to pad
        features = []
        y = x
        for k, conv in enumerate(self.encoder):
            y = F.relu(input_layer(conv, y) if k == 0 else conv(y), inplace=True)
            features.append(y)
        half = len(self.encoder)
        for j, deconv in enumerate(self.decoder, start=1):
            y = deconv(y)
            mirror = half - j  # encoder layer whose output has this decoder layer's position
            if j < half:
                if j % 2 == 0:
                    y = y + features[mirror - 1]
                y = F.relu(y, inplace=True)
        return _finish_residual(self, x + y)


@register_model("dncnn")
class DnCNN(DenoisingNet):
    """DnCNN (Zhang 2017): residual learning with batch normalisation; output = input − predicted noise.

    Parameters
    ----------
    depth
        Number of convolution layers (17 in the paper's DnCNN-S, 20 for DnCNN-B), at least 3.
    width
        Feature maps per hidden layer (64).

    Notes
    -----
    In evaluation mode each BatchNorm is folded into the convolution before it (exact to float rounding),
    which saves a full pass over every feature map.
    """

    source = "Zhang et al. 2017 (DnCNN), IEEE TIP, Fig. 1"

    def __init__(self, *, depth: int = 17, width: int = 64) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"DnCNN: depth must be at least 3, got {depth}")
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
                for _ in range(depth - 2)
            ]
        )
        self.tail = nn.Conv2d(width, 1, 3, padding=1)

    def _blocks(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """The hidden layers' (conv, batch norm) pairs, in order."""
        return [
            cast("tuple[nn.Conv2d, nn.BatchNorm2d]", tuple(cast(nn.Sequential, block))) for block in self.body
        ]

    @staticmethod
    def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d, y: torch.Tensor) -> torch.Tensor:
        """``bn(conv(y))`` in evaluation mode as one convolution (batch norm folded into its weights)."""
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError("DnCNN: folding batch norm needs its running statistics")
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        return F.conv2d(y, weight, bias, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._pad(x)  # validates the batch; no pooling, so nothing to pad
        y = F.relu(input_layer(self.head, x), inplace=True)
        blocks = self._blocks()
        fold = not self.training and all(bn.track_running_stats for _, bn in blocks)
        for conv, bn in blocks:
            y = F.relu(self._folded(conv, bn, y) if fold else bn(conv(y)), inplace=True)
        return _finish_residual(self, x - self.tail(y))
