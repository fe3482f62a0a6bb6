"""The plain autoencoders of the 2025 report and of Venkataraman's MNIST study.

* ``conv-ae`` — "Medical Image Denoising Using Autoencoders", final-year project report, 2025
  (``shared/seeds/002_*.txt``, "Defining Autoencoder" listing): Conv2D 64 3x3 ReLU → MaxPool 2 →
  Conv2D 128 3x3 ReLU → MaxPool 2 | Conv2D 128 3x3 ReLU → UpSampling 2 → Conv2D 64 3x3 ReLU →
  UpSampling 2 → Conv2D 1 3x3 sigmoid, all 'same' padded. 296,449 parameters.
* ``dense-ae`` — Venkataraman, "Image Denoising Using Convolutional Autoencoder"
  (``shared/seeds/003_*.txt``, §III-A, Fig. 2, Table II): 28x28 input flattened to 784 → Dense 64 →
  Dense 784 → reshaped to 28x28; 101,200 parameters (784*64+64 + 64*784+784). The paper names no
  activations; ReLU on the hidden layer and a sigmoid output (the binary cross-entropy it trains with
  needs outputs in (0, 1)) follow the Keras autoencoder tutorial the model comes from.
* ``conv-ae-transpose`` — Venkataraman §III-B, Table I, Table II: Conv2D 32 3x3 ReLU → MaxPool 2 →
  Conv2D 32 3x3 ReLU → MaxPool 2 → Conv2DTranspose 32 3x3 stride 2 ReLU (x2) → Conv2D 1 3x3 sigmoid;
  28,353 parameters = 320 + 9,248 + 2 x 9,248 + 289. Table I lists kernel size 2 for the transposed
  convolutions and stride 1 for the pools, but only 3x3 transposed kernels give the published 28,353
  parameters and only stride-2 pools give the stated 7x7x32 latent space (see ``shared/FINDINGS.md``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet, check_image_batch, input_layer, max_pool2x2
from meddenoise.models.gondara import PoolUpsampleAE
from meddenoise.models.registry import register_model

__all__ = ["ConvAE", "ConvTransposeAE", "DenseAE"]


@register_model("conv-ae")
class ConvAE(PoolUpsampleAE):
    """The 2025 report's convolutional autoencoder (64/128/128/64 filters); any size (multiple of 4).

    Parameters
    ----------
    filters
        Filters of the first and last hidden convolutions (64); the inner ones have twice as many (128).
    fused_upsample
        Compute each UpSampling→Conv pair as one sub-pixel convolution (same result to float rounding).
    """

    source = "2025 project report 'Medical Image Denoising Using Autoencoders', autoencoder listing"

    def __init__(self, *, filters: int = 64, fused_upsample: bool = True) -> None:
        super().__init__(widths=(filters, 2 * filters, 2 * filters, filters), fused_upsample=fused_upsample)


@register_model("dense-ae")
class DenseAE(DenoisingNet):
    """Venkataraman's fully connected autoencoder 784 → 64 → 784 on 28x28 images (101,200 parameters).

    Not convolutional: it only accepts ``size`` x ``size`` images (28x28 in the paper).
    """

    source = "Venkataraman, 'Image Denoising Using Convolutional Autoencoder', §III-A, Table II"
    image_layer_path = "encoder"

    def __init__(self, *, size: int = 28, hidden: int = 64) -> None:
        super().__init__()
        self.size = size
        self.fixed_size = size
        self.encoder = nn.Linear(size * size, hidden)
        self.decoder = nn.Linear(hidden, size * size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, type(self).__name__)
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(
                f"DenseAE: a dense autoencoder only takes {self.size}x{self.size} images, "
                f"got {x.shape[-2]}x{x.shape[-1]}; use a convolutional model for other sizes"
            )
        code = F.relu(input_layer(self.encoder, x.reshape(x.shape[0], -1)))
        return torch.sigmoid(self.decoder(code)).reshape(x.shape)


@register_model("conv-ae-transpose")
class ConvTransposeAE(DenoisingNet):
    """Venkataraman's Conv2D/Conv2DTranspose autoencoder (28,353 parameters); any size (multiple of 4).

    The transposed convolutions reproduce Keras' ``Conv2DTranspose(32, 3, strides=2, padding="same")``
    exactly, including where Keras places the odd kernel tap (input pixel ``i`` spreads to output pixels
    ``2i .. 2i+2``, the last row and column cropped), so weights ported from Keras give Keras' output.
    """

    source = "Venkataraman, 'Image Denoising Using Convolutional Autoencoder', §III-B, Tables I-II"
    multiple = 4
    image_layer_path = "enc1"

    def __init__(self, *, filters: int = 32) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(1, filters, 3, padding=1)
        self.enc2 = nn.Conv2d(filters, filters, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(filters, filters, 3, stride=2)
        self.up2 = nn.ConvTranspose2d(filters, filters, 3, stride=2)
        self.out = nn.Conv2d(filters, 1, 3, padding=1)

    @staticmethod
    def _up(y: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
        h, w = y.shape[-2:]
        return F.relu(layer(y)[..., : 2 * h, : 2 * w], inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self._pad(x)
        y = F.relu(max_pool2x2(input_layer(self.enc1, y)), inplace=True)
        y = F.relu(max_pool2x2(self.enc2(y)), inplace=True)
        y = self._up(self._up(y, self.up1), self.up2)
        return torch.sigmoid(self.out(y))[..., :h, :w]
