"""RED-CNN (Chen et al. 2017), the reference network of low-dose CT denoising.

Chen, Zhang, Kalra, Lin, Chen, Liao, Zhou & Wang, "Low-dose CT with a residual encoder-decoder
convolutional neural network", IEEE TMI 36(12), 2017, Fig. 1: ten layers, five 5x5 convolutions with 96
filters (stride 1, no padding, so each shrinks the image by 4 pixels) and five mirrored 5x5
transposed convolutions (96 filters, the last one 1), ReLU after every layer, no pooling, and three
residual shortcuts added before the ReLU: the input to the output of the last layer, the output of the
2nd convolution to the output of the 3rd deconvolution, the output of the 4th convolution to the output
of the 1st deconvolution. 1,848,865 parameters at 96 filters.

The final ReLU keeps the output >= 0; in evaluation mode it is also clamped to 1 (the [0, 1] scale of
the denoisers). Valid convolutions need at least 21x21 pixels: smaller inputs are padded (edge
replicated) and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet, input_layer, pad_to_min_size
from meddenoise.models.registry import register_model

__all__ = ["REDCNN"]

_KERNEL = 5
_LAYERS = 5
_MIN_SIZE = _LAYERS * (_KERNEL - 1) + 1  # 21: the smallest input the valid convolutions leave a pixel of


@register_model("redcnn")
class REDCNN(DenoisingNet):
    """RED-CNN (Chen 2017): 5 conv + 5 deconv 5x5 layers, 96 filters, three residual shortcuts.

    Parameters
    ----------
    width
        Filters per hidden layer (96 in the paper).
    """

    source = "Chen et al. 2017 (RED-CNN), IEEE TMI 36(12), Fig. 1"
    image_layer_path = "convs.0"

    def __init__(self, *, width: int = 96) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"REDCNN: width must be >= 1, got {width}")
        self.convs = nn.ModuleList(
            [nn.Conv2d(1 if i == 0 else width, width, _KERNEL) for i in range(_LAYERS)]
        )
        self.deconvs = nn.ModuleList(
            [nn.ConvTranspose2d(width, 1 if i == _LAYERS - 1 else width, _KERNEL) for i in range(_LAYERS)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._pad(x)  # validates the batch
        height, width = x.shape[-2:]
        y0 = pad_to_min_size(x, _MIN_SIZE)
        c1, c2, c3, c4, c5 = self.convs
        d1, d2, d3, d4, d5 = self.deconvs
        y = F.relu(c2(F.relu(input_layer(c1, y0))))
        skip2 = y
        y = F.relu(c4(F.relu(c3(y))))
        skip4 = y
        y = F.relu(c5(y))
        y = F.relu(d1(y) + skip4)
        y = F.relu(d3(F.relu(d2(y))) + skip2)
        y = F.relu(d5(F.relu(d4(y))) + y0)
        y = y[..., :height, :width]
        return y if self.training else y.clamp(max=1.0)
