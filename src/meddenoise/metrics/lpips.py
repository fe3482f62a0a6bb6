"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), v0.1, AlexNet.

Plain PyTorch, no torchvision. The distance between two images ``x`` and ``y`` in [-1, 1] RGB is

1. scale both: ``(x - shift) / scale`` with shift ``[-0.030, -0.088, -0.188]`` and scale
   ``[0.458, 0.448, 0.450]`` (the LPIPS ScalingLayer: ImageNet statistics expressed for [-1, 1] input);
2. run the AlexNet ``features`` stack (torchvision layout) and tap the five ReLU outputs relu1..relu5;
3. unit-normalise every tap along channels (``f / (||f||_2 + 1e-10)``), square the difference;
4. weight the channels with the 1x1 linear layers lin0..lin4 (no bias), average over space, sum the five.

Grey images are repeated to three channels. Weights: see :mod:`meddenoise.metrics._lpips_weights`
(``meddenoise fetch-weights`` writes them once; they are read from a safetensors file only).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from meddenoise.metrics._lpips_weights import (
    EXPECTED_SHAPES,
    LPIPSWeightsMissing,
    lpips_available,
    lpips_weights_path,
    missing_weights_message,
)

__all__ = [
    "LPIPSNet",
    "LPIPSWeightsMissing",
    "load_lpips_model",
    "lpips",
    "lpips_available",
    "lpips_tensor",
    "lpips_weights_path",
]

# Channels of relu1..relu5 of AlexNet.
TAP_CHANNELS: tuple[int, ...] = (64, 192, 384, 256, 256)
# Indices in `features` of the ReLUs whose outputs are tapped.
_TAP_INDICES = (1, 4, 7, 9, 11)
# The smallest side AlexNet accepts: conv1 (11x11, stride 4, pad 2) must give >= 7 so that two
# 3x3 stride-2 max-pools leave >= 1 pixel for relu3..relu5.
MIN_SIDE = 31
_EPS = 1e-10


class LPIPSNet(nn.Module):
    """LPIPS v0.1 with the AlexNet backbone: ``forward(x, y)`` maps two (N, 3, H, W) batches in [-1, 1] to (N,).

    Parameters
    ----------
    state_dict
        Tensors named as in :data:`meddenoise.metrics._lpips_weights.EXPECTED_SHAPES`
        (``features.{0,3,6,8,10}.{weight,bias}``, ``lin{0..4}.weight``); loaded strictly. ``None`` keeps
        PyTorch's default random initialisation (useful only for tests and shapes).
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, state_dict: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.register_buffer(
            "shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.lin0, self.lin1, self.lin2, self.lin3, self.lin4 = (
            nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in TAP_CHANNELS
        )
        if state_dict is not None:
            self.load_state_dict(dict(state_dict), strict=True)
        self.eval()
        for param in self.parameters():
            # A fixed metric; gradients still flow to the *inputs* (LPIPS as a perceptual loss).
            param.requires_grad_(False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LPIPSNet:
        """Load the converted safetensors weights written by ``meddenoise fetch-weights``."""
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise LPIPSWeightsMissing(missing_weights_message(path))
        try:
            tensors = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for a damaged header
            raise LPIPSWeightsMissing(
                f"{path}: unreadable LPIPS weights ({exc}); rebuild them with `meddenoise fetch-weights --force`"
            ) from exc
        bad = {k: tuple(t.shape) for k, t in tensors.items() if EXPECTED_SHAPES.get(k) != tuple(t.shape)}
        if bad or set(tensors) != set(EXPECTED_SHAPES):
            raise LPIPSWeightsMissing(
                f"{path}: not the LPIPS-Alex v0.1 layout (unexpected {bad or sorted(set(EXPECTED_SHAPES) ^ set(tensors))}); "
                "rebuild them with `meddenoise fetch-weights --force`"
            )
        return cls(tensors)

    @property
    def lins(self) -> tuple[nn.Conv2d, ...]:
        """The five 1x1 linear layers, in tap order."""
        return (self.lin0, self.lin1, self.lin2, self.lin3, self.lin4)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """relu1..relu5 of the scaled input ``x`` (N, 3, H, W) in [-1, 1]."""
        h = (x - self.shift) / self.scale
        out: list[torch.Tensor] = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _TAP_INDICES:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance of each pair: (N, 3, H, W) x2 in [-1, 1] → (N,)."""
        if x.shape != y.shape:
            raise ValueError(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        n = x.shape[0]
        # One pass over the stacked pair halves the Python overhead of two separate passes.
        taps = self.taps(torch.cat([x, y], dim=0))
        total = x.new_zeros(n)
        for feat, lin in zip(taps, self.lins, strict=True):
            feat = feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)
            diff = (feat[:n] - feat[n:]).pow(2)
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total


@functools.lru_cache(maxsize=4)
def _cached_model(path: Path, mtime_ns: int) -> LPIPSNet:
    # mtime in the key: a rebuilt weights file is picked up without restarting the process.
    return LPIPSNet.from_file(path)


def load_lpips_model(path: str | os.PathLike[str] | None = None) -> LPIPSNet:
    """The pretrained LPIPS-Alex v0.1 network (cached per file), on the CPU in eval mode.

    Raises
    ------
    LPIPSWeightsMissing
        When the weights file (default :func:`lpips_weights_path`) is absent or damaged.
    """
    weights = Path(path) if path is not None else lpips_weights_path()
    if not weights.is_file():
        raise LPIPSWeightsMissing(missing_weights_message(weights))
    return _cached_model(weights.resolve(), weights.stat().st_mtime_ns)


def _to_three_channels(batch: torch.Tensor, name: str) -> torch.Tensor:
    if batch.ndim != 4 or batch.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected (N, 1 or 3, H, W), got shape {tuple(batch.shape)}")
    if min(batch.shape[-2:]) < MIN_SIDE:
        raise ValueError(
            f"{name}: LPIPS-Alex needs images of at least {MIN_SIDE}x{MIN_SIDE}, got {tuple(batch.shape[-2:])}"
        )
    return batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch


def lpips_tensor(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float = 1.0,
    model: LPIPSNet | None = None,
) -> torch.Tensor:
    """Batched LPIPS-Alex v0.1: (N, C, H, W) tensors with C = 1 (grey) or 3 (RGB), values in [0, data_range].

    Differentiable with respect to ``x`` and ``y`` (usable as a perceptual loss); wrap the call in
    :func:`torch.inference_mode` when only the value is needed.

    Parameters
    ----------
    x, y
        Image batches of equal shape.
    data_range
        The value of white: inputs are mapped to [-1, 1] by ``2 * x / data_range - 1``.
    model
        A network to use; default the pretrained one from :func:`load_lpips_model`.

    Returns
    -------
    torch.Tensor
        (N,) distances (0 for identical images; larger is more different).
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    if x.shape != y.shape:
        raise ValueError(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    net = model if model is not None else load_lpips_model()
    param = next(net.parameters())
    x = _to_three_channels(x.to(param), "x")
    y = _to_three_channels(y.to(param), "y")
    return net(x * (2.0 / data_range) - 1.0, y * (2.0 / data_range) - 1.0)


def _image_to_batch(image: np.ndarray, name: str) -> torch.Tensor:
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[-1] in (1, 3):
        array = np.moveaxis(array, -1, 0)
    else:
        raise ValueError(f"{name}: expected an (H, W) grey or (H, W, 3) RGB image, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]


def lpips(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0, model: LPIPSNet | None = None) -> float:
    """LPIPS-Alex v0.1 distance between two images.

    Parameters
    ----------
    x, y
        (H, W) grey or (H, W, 3) RGB images of equal shape, values in [0, data_range]; grey is
        repeated to three channels.
    data_range
        The value of white (1.0 for [0, 1] floats, 255 for 8-bit).
    model
        A network to use; default the pretrained one (see :func:`load_lpips_model`).

    Returns
    -------
    float
        The distance: 0 for identical images, larger for more different ones.

    Raises
    ------
    LPIPSWeightsMissing
        When the pretrained weights have not been fetched (run ``meddenoise fetch-weights``).
    """
    if np.shape(x) != np.shape(y):
        raise ValueError(f"LPIPS inputs differ in shape: {np.shape(x)} vs {np.shape(y)}")
    with torch.inference_mode():
        value = lpips_tensor(
            _image_to_batch(x, "x"), _image_to_batch(y, "y"), data_range=data_range, model=model
        )
    return float(value[0])
