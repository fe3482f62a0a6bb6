"""The convolutional denoising autoencoder of Gondara 2016, Fig. 5.

Gondara, "Medical image denoising using convolutional denoising autoencoders", ICDMW 2016
(``shared/seeds/001_*.txt``): 64x64 input; Conv 64 3x3 ReLU → MaxPool 2 → Conv 64 3x3 ReLU → MaxPool 2 →
Conv 64 3x3 ReLU → UpSample 2 → Conv 64 3x3 ReLU → UpSample 2 → Conv 1 3x3 sigmoid. 112,001 parameters
with 64 filters everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models.registry import register_model

__all__ = ["GondaraDAE"]


class GondaraDAE(nn.Module):
    """Gondara 2016 CNN DAE; any input size (padded internally to a multiple of 4)."""

    multiple = 4

    def __init__(self, *, filters: int = 64) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(1, filters, 3, padding=1)
        self.enc2 = nn.Conv2d(filters, filters, 3, padding=1)
        self.mid = nn.Conv2d(filters, filters, 3, padding=1)
        self.dec1 = nn.Conv2d(filters, filters, 3, padding=1)
        self.out = nn.Conv2d(filters, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        y = F.max_pool2d(F.relu(self.enc1(x)), 2)
        y = F.max_pool2d(F.relu(self.enc2(y)), 2)
        y = F.interpolate(F.relu(self.mid(y)), scale_factor=2, mode="nearest")
        y = F.interpolate(F.relu(self.dec1(y)), scale_factor=2, mode="nearest")
        y = torch.sigmoid(self.out(y))
        return y[..., :h, :w]


@register_model("gondara-dae")
def _build_gondara(**params: int) -> nn.Module:
    return GondaraDAE(**params)
