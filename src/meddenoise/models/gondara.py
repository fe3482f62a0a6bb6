"""The convolutional denoising autoencoder of Gondara 2016, Fig. 5.

Gondara, "Medical image denoising using convolutional denoising autoencoders", ICDM Workshops 2016
(``shared/seeds/001_*.txt``, Fig. 5): 64x64 input; Conv 64 3x3 ReLU → MaxPool 2 → Conv 64 3x3 ReLU →
MaxPool 2 → Conv 64 3x3 ReLU → UpSample 2 → Conv 64 3x3 ReLU → UpSample 2 → Conv 1 3x3 sigmoid, all
convolutions 'same' (zero) padded as in Keras. 112,001 parameters with 64 filters everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet, input_layer, max_pool2x2, upsample2_conv3x3
from meddenoise.models.registry import register_model

__all__ = ["GondaraDAE", "PoolUpsampleAE", "upsample_conv"]


def upsample_conv(z: torch.Tensor, conv: nn.Conv2d, *, fused: bool) -> torch.Tensor:
    """``conv(upsample_nearest_2x(z))`` for a 3x3 'same' convolution; ``fused`` skips the upsampling."""
    if fused:
        return upsample2_conv3x3(z, conv.weight, conv.bias)
    return conv(F.interpolate(z, scale_factor=2, mode="nearest"))


class PoolUpsampleAE(DenoisingNet):
    """Conv → Pool → Conv → Pool → Conv → Up → Conv → Up → Conv sigmoid, 3x3 'same' convolutions.

    The shape of Gondara's Fig. 5 and of the 2025 report's autoencoder, which differ only in widths.
    Any input size (padded internally to a multiple of 4).

    Parameters
    ----------
    widths
        Filters of the four hidden convolutions, in order.
    fused_upsample
        Compute each UpSample→Conv pair as one sub-pixel convolution (same result to float rounding,
        about half the work of the decoder); ``False`` runs the literal upsample then convolve.
    """

    multiple = 4
    image_layer_path = "enc1"

    def __init__(self, *, widths: tuple[int, int, int, int], fused_upsample: bool = True) -> None:
        super().__init__()
        self.fused_upsample = fused_upsample
        c1, c2, c3, c4 = widths
        self.enc1 = nn.Conv2d(1, c1, 3, padding=1)
        self.enc2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.mid = nn.Conv2d(c2, c3, 3, padding=1)
        self.dec1 = nn.Conv2d(c3, c4, 3, padding=1)
        self.out = nn.Conv2d(c4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self._pad(x)
        # max-pool then ReLU equals ReLU then max-pool (ReLU is monotonic) on a quarter of the data
        y = F.relu(max_pool2x2(input_layer(self.enc1, y)), inplace=True)
        y = F.relu(max_pool2x2(self.enc2(y)), inplace=True)
        y = F.relu(self.mid(y), inplace=True)
        y = F.relu(upsample_conv(y, self.dec1, fused=self.fused_upsample), inplace=True)
        y = torch.sigmoid(upsample_conv(y, self.out, fused=self.fused_upsample))
        return y[..., :h, :w]


@register_model("gondara-dae")
class GondaraDAE(PoolUpsampleAE):
    """Gondara 2016 CNN DAE (Fig. 5): ``filters`` (64) in every hidden convolution; 112,001 parameters."""

    source = "Gondara 2016, Fig. 5"

    def __init__(self, *, filters: int = 64, fused_upsample: bool = True) -> None:
        super().__init__(widths=(filters,) * 4, fused_upsample=fused_upsample)
