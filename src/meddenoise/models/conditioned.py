"""A noise-level-conditioned denoiser for the CPU: FFDNet's input, a small U-Net body, a gated residual.

Zhang, Zuo & Zhang, "FFDNet: Toward a fast and flexible solution for CNN-based image denoising", IEEE TIP
2018, Fig. 1: the image is pixel-unshuffled by 2 (four half-resolution sub-images) and a noise-level map
is appended as an extra input channel, so one network serves every noise level and most of its work runs
on a quarter of the pixels. Zhang et al., "Plug-and-play image restoration with deep denoiser prior"
(DRUNet), IEEE TPAMI 2021, Fig. 1: the body is a U-Net of residual blocks (no batch norm, no biases), which
does more per FLOP than FFDNet's plain stack of convolutions.

Differences from both, for speed on a 2-core CPU and for the project's noise-level laws:

* the U-Net runs on the half-resolution sub-images (``levels`` down-samplings below that), and its width
  and depth are options with two presets (``preset="fast"`` and ``"quality"``, see :data:`PRESETS`);
* the network predicts the noise and the output is ``x - g(sigma) * r(x, sigma)`` where the gate
  ``g`` (:func:`noise_gate`) is 0 at ``sigma = 0`` exactly and 1 from ``sigma0`` (1/255 by default) on,
  rising smoothly between: told that there is no noise, the network returns its input unchanged (up to
  clamping to [0, 1]), whatever its weights;
* the noise-level map is ``sigma / 0.1`` so that the usual levels (0-0.2 on the [0, 1] scale) give inputs
  of the order of the image's own.

>>> import torch
>>> from meddenoise.models import build_model
>>> model = build_model("ffdunet", preset="fast").eval()
>>> x = torch.rand(2, 1, 65, 63)
>>> bool(torch.equal(model(x, sigma=0.0), x))  # told "no noise": the input, exactly
True
>>> model(x, sigma=torch.tensor([0.02, 0.1])).shape  # one level per image; any size
torch.Size([2, 1, 65, 63])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from meddenoise.models._common import DenoisingNet
from meddenoise.models.registry import register_model
from meddenoise.models.unet import run_unet_stages, unet_stages
from meddenoise.noise import estimate_noise_std

__all__ = ["PRESETS", "ConditionedUNet", "noise_gate"]

#: Width and depth of the two sizes that matter (measured speeds in docs/models.md).
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"channels": (16, 32, 64), "blocks": 1},
    "quality": {"channels": (32, 64, 128, 256), "blocks": 2},
}

#: The noise-level map fed to the network is ``sigma / _MAP_SCALE``.
_MAP_SCALE = 0.1


def noise_gate(sigma: torch.Tensor, sigma0: float) -> torch.Tensor:
    """The residual's gate: 0 at ``sigma <= 0``, 1 at ``sigma >= sigma0``, smoothstep ``3t^2 - 2t^3`` between.

    ``t = sigma / sigma0``; with ``sigma0 = 0`` the gate is 1 for any positive ``sigma`` (and still 0 at 0).
    """
    if sigma0 <= 0:
        return (sigma > 0).to(sigma.dtype)
    t = (sigma / sigma0).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@register_model("ffdunet")
class ConditionedUNet(DenoisingNet):
    """Noise-level-conditioned U-Net on pixel-unshuffled input; ``forward(x, sigma=None)``; any size.

    Parameters
    ----------
    preset
        ``"quality"`` (default) or ``"fast"``: the ``channels`` and ``blocks`` of :data:`PRESETS`; giving
        ``channels`` or ``blocks`` overrides the preset's value.
    channels
        Channels at each resolution of the U-Net, finest (half the image's resolution) first; its length
        minus one is the number of further down-samplings.
    blocks
        Residual blocks per encoder stage, decoder stage and in the body.
    sigma0
        Noise level (on the [0, 1] scale) from which the residual is applied in full; below it the gate
        :func:`noise_gate` fades it out, to nothing at ``sigma = 0``.

    Notes
    -----
    ``sigma`` is the noise std on the [0, 1] image scale, a number or one per image (a tensor ``(N,)``);
    without it each image's level is estimated by :func:`meddenoise.noise.estimate_noise_std`.
    """

    source = "Zhang et al. 2018 (FFDNet), IEEE TIP, Fig. 1 input; Zhang et al. 2021 (DRUNet) body"

    def __init__(
        self,
        *,
        preset: str = "quality",
        channels: Sequence[int] | None = None,
        blocks: int | None = None,
        sigma0: float = 1.0 / 255.0,
    ) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(
                f"ConditionedUNet: unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}"
            )
        channels = tuple(int(c) for c in (PRESETS[preset]["channels"] if channels is None else channels))
        blocks = int(PRESETS[preset]["blocks"] if blocks is None else blocks)
        if len(channels) < 1 or min(channels) < 1 or blocks < 0:
            raise ValueError(
                f"ConditionedUNet: need >= 1 positive channel counts and >= 0 blocks, got {channels}, {blocks}"
            )
        if sigma0 < 0:
            raise ValueError(f"ConditionedUNet: sigma0 must be >= 0, got {sigma0}")
        self.uses_sigma = True
        self.channels = channels
        self.blocks = blocks
        self.sigma0 = float(sigma0)
        self.multiple = 2 ** len(channels)  # pixel-unshuffle by 2, then len(channels) - 1 down-samplings
        self.head = nn.Conv2d(5, channels[0], 3, padding=1, bias=False)  # 4 sub-images + noise map
        self.down, self.body, self.up = unet_stages(channels, blocks)
        self.tail = nn.Conv2d(channels[0], 4, 3, padding=1, bias=False)

    def noise_levels(
        self, x: torch.Tensor, sigma: float | Sequence[float] | torch.Tensor | None
    ) -> torch.Tensor:
        """Per-image noise levels ``(N,)`` of the batch ``x``: ``sigma`` broadcast, or estimated when ``None``."""
        if sigma is None:
            images = x.detach().float().cpu().numpy()[:, 0]
            return torch.tensor([estimate_noise_std(img) for img in images], dtype=x.dtype, device=x.device)
        level = torch.as_tensor(sigma, device=x.device).to(x.dtype).reshape(-1)
        if level.numel() not in (1, x.shape[0]):
            raise ValueError(
                f"ConditionedUNet: sigma must be a number or one per image ({x.shape[0]}), got {level.numel()}"
            )
        if not torch.isfinite(level).all() or bool((level < 0).any()):
            raise ValueError("ConditionedUNet: sigma must be finite and >= 0")
        return level.expand(x.shape[0])

    def residual(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """The predicted noise ``r(x, sigma)`` of a padded batch (height, width multiples of ``multiple``)."""
        sub = F.pixel_unshuffle(x, 2)
        level_map = (level / _MAP_SCALE).reshape(-1, 1, 1, 1).expand(-1, 1, *sub.shape[-2:])
        y = self.head(torch.cat([sub, level_map.to(sub.dtype)], dim=1))
        y = run_unet_stages(y, self.down, self.body, self.up)
        return F.pixel_shuffle(self.tail(y), 2)

    def forward(
        self, x: torch.Tensor, sigma: float | Sequence[float] | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Denoise ``x`` ``(N, 1, H, W)`` at noise level ``sigma`` (number, one per image, or ``None``)."""
        h, w = x.shape[-2:]
        padded = self._pad(x)
        level = self.noise_levels(x, sigma)  # estimated on the unpadded images
        gate = noise_gate(level, self.sigma0).reshape(-1, 1, 1, 1)
        y = x - gate * self.residual(padded, level)[..., :h, :w]
        return y if self.training else y.clamp(0.0, 1.0)
