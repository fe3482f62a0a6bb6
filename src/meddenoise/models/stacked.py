"""Stacked convolutional denoising autoencoder, trained greedily layer by layer, then fine-tuned.

Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising Autoencoders: Learning Useful
Representations in a Deep Network with a Local Denoising Criterion", JMLR 11 (2010) — the basis that
Gondara 2016 cites (§III, Fig. 3) — with the convolutional layers of Masci, Meier, Cireşan & Schmidhuber,
"Stacked Convolutional Auto-Encoders for Hierarchical Feature Extraction", ICANN 2011.

Layer ``k`` is a small denoising autoencoder of its own: encoder ``Conv 3x3 → ReLU → MaxPool 2`` from
the codes of layer ``k-1`` (the image for ``k = 0``), decoder ``UpSample 2 → Conv 3x3`` back to them
(ReLU for inner codes, which are non-negative; sigmoid for the image). The stacked network is
``enc_0 … enc_{L-1}`` followed by ``dec_{L-1} … dec_0``. With the default two layers of 64 filters it
has the shape of Gondara's CNN DAE without its middle convolution.

The model declares its greedy pretraining (each layer a denoising autoencoder on the previous layer's
codes) as training phases, :meth:`StackedConvDAE.pretraining_phases`; :mod:`meddenoise.training` runs
them before its end-to-end fine-tuning, as it does for any model that declares phases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet, input_layer, pad_to_multiple, upsample2_conv3x3
from meddenoise.models.registry import register_model

__all__ = ["GreedyLayerPhase", "StackedConvDAE"]

Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


class _Encoder(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, reads_image: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.reads_image = reads_image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = input_layer(self.conv, x) if self.reads_image else self.conv(x)
        return F.max_pool2d(F.relu(y), 2)


class _Decoder(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, image: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.image = image

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        # conv3x3(upsample_nearest_2x(code)), computed as one sub-pixel convolution (same result)
        y = upsample2_conv3x3(code, self.conv.weight, self.conv.bias)
        return torch.sigmoid(y) if self.image else F.relu(y)


class StackedConvDAE(DenoisingNet):
    """Stacked convolutional DAE with ``len(channels)`` layers; any input size (padded internally).

    Parameters
    ----------
    channels
        Filters of each layer's code, from the first layer up, e.g. ``(64, 64)``.
    """

    source = "Vincent et al. 2010 (stacked denoising autoencoders), convolutional as Masci et al. 2011"
    image_layer_path = "encoders.0.conv"

    def __init__(self, *, channels: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive integers, got {channels}")
        widths = [1, *channels]
        self.channels = tuple(channels)
        self.encoders = nn.ModuleList(
            _Encoder(widths[k], widths[k + 1], reads_image=k == 0) for k in range(len(channels))
        )
        self.decoders = nn.ModuleList(
            _Decoder(widths[k + 1], widths[k], image=k == 0) for k in range(len(channels))
        )
        self.multiple = 2 ** len(channels)

    @property
    def num_layers(self) -> int:
        return len(self.encoders)

    def encode(self, x: torch.Tensor, depth: int) -> torch.Tensor:
        """Codes of layer ``depth - 1`` of a padded ``x`` (``depth = 0`` returns the padded image itself)."""
        code = pad_to_multiple(x, self.multiple)
        for encoder in self.encoders[:depth]:
            code = encoder(code)
        return code

    def layer_autoencoder(self, k: int, code: torch.Tensor) -> torch.Tensor:
        """Layer ``k``'s own autoencoder: reconstruct its input codes from (corrupted) ``code``."""
        return self.decoders[k](self.encoders[k](code))

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters of layer ``k``'s encoder and decoder (what greedy pretraining of layer k trains)."""
        return [*self.encoders[k].parameters(), *self.decoders[k].parameters()]

    def pretraining_phases(self, *, epochs_per_layer: int, code_corruption: float) -> list[GreedyLayerPhase]:
        """Greedy layer-wise pretraining (Vincent 2010): one phase per layer, bottom up."""
        if epochs_per_layer <= 0:
            return []
        return [
            GreedyLayerPhase(self, layer=k, epochs=epochs_per_layer, code_corruption=code_corruption)
            for k in range(self.num_layers)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        code = self._pad(x)
        for encoder in self.encoders:
            code = encoder(code)
        for decoder in reversed(self.decoders):
            code = decoder(code)
        return code[..., :h, :w]


@dataclass(frozen=True)
class GreedyLayerPhase:
    """Pretraining of one layer of a :class:`StackedConvDAE` as its own denoising autoencoder.

    Layer 0 reconstructs the images (noisy input → the objective's target, with the objective's loss
    and mask). Layer ``k > 0`` reconstructs the codes of the frozen layers below it from a copy in
    which ``code_corruption`` of the units are zeroed (masking noise), with MSE. Only layer ``k``'s
    encoder and decoder are trained; every other parameter stays as it is.
    """

    model: StackedConvDAE
    layer: int
    epochs: int
    code_corruption: float

    @property
    def name(self) -> str:
        return f"pretrain-layer-{self.layer}"

    def parameters(self) -> list[nn.Parameter]:
        return self.model.layer_parameters(self.layer)

    def loss(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        criterion: Criterion,
        rng: np.random.Generator,
        sigma: torch.Tensor | None = None,  # not a conditioned model: greedy phases take no noise level
        correlation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        model = self.model
        if self.layer == 0:
            pred = model.layer_autoencoder(0, model.encode(inputs, 0))
            pred = pred[..., : inputs.shape[-2], : inputs.shape[-1]]
            return criterion(pred.float(), targets, mask)
        with torch.no_grad():
            codes = model.encode(targets, self.layer)
        keep = rng.random(codes.shape) >= self.code_corruption
        corrupted = codes * torch.from_numpy(keep).to(codes.device, codes.dtype)
        pred = model.layer_autoencoder(self.layer, corrupted)
        return torch.mean((pred.float() - codes.float()) ** 2)


@register_model("stacked-dae")
def _build_stacked(*, channels: Sequence[int] = (64, 64)) -> nn.Module:
    return StackedConvDAE(channels=channels)
