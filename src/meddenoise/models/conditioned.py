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
  of the order of the image's own;
* with ``correlation_input=True`` a second map tells the noise's lag-1 spatial correlation (0 for white
  noise, 0.3-0.9 for a CT kernel's): FFDNet's map says how much noise, this one says which kind, so one
  network can remove white noise of some std completely and a scanner's correlated noise of the same std
  in its own way, instead of hedging between the two (the shipped ``ct`` model, trained on both without
  it, kept lung-density white noise and removed part of a scan's own texture).

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

from meddenoise.models._common import DenoisingNet, input_layer
from meddenoise.models.registry import register_model
from meddenoise.models.unet import run_unet_stages, unet_stages
from meddenoise.noise import estimate_noise_correlation, estimate_noise_std

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
        Residual blocks per encoder stage, decoder stage and (unless ``body_blocks`` is given) in the body.
    body_blocks
        Residual blocks in the body, at the coarsest level (default ``blocks``). Every level costs about the
        same FLOPs per block (a quarter of the positions, twice the channels), but the body's blocks see the
        widest context, which heavy noise needs.
    sigma0
        Noise level (on the [0, 1] scale) from which the residual is applied in full; below it the gate
        :func:`noise_gate` fades it out, to nothing at ``sigma = 0``.
    correlation_input
        Also take the noise's lag-1 spatial correlation as an input map (``forward(x, sigma,
        correlation=...)``; then ``uses_correlation`` is true).

    Notes
    -----
    ``sigma`` is the noise std on the [0, 1] image scale, a number or one per image (a tensor ``(N,)``);
    without it each image's level is estimated by :func:`meddenoise.noise.estimate_noise_std`.
    ``correlation`` likewise, in [-1, 1] (clamped), estimated by
    :func:`meddenoise.noise.estimate_noise_correlation` when not given.
    """

    source = "Zhang et al. 2018 (FFDNet), IEEE TIP, Fig. 1 input; Zhang et al. 2021 (DRUNet) body"

    def __init__(
        self,
        *,
        preset: str = "quality",
        channels: Sequence[int] | None = None,
        blocks: int | None = None,
        body_blocks: int | None = None,
        sigma0: float = 1.0 / 255.0,
        correlation_input: bool = False,
    ) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(
                f"ConditionedUNet: unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}"
            )
        channels = tuple(int(c) for c in (PRESETS[preset]["channels"] if channels is None else channels))
        blocks = int(PRESETS[preset]["blocks"] if blocks is None else blocks)
        body_blocks = blocks if body_blocks is None else int(body_blocks)
        if len(channels) < 1 or min(channels) < 1 or blocks < 0 or body_blocks < 0:
            raise ValueError(
                f"ConditionedUNet: need >= 1 positive channel counts and >= 0 blocks, got {channels}, "
                f"{blocks} (body {body_blocks})"
            )
        if sigma0 < 0:
            raise ValueError(f"ConditionedUNet: sigma0 must be >= 0, got {sigma0}")
        self.uses_sigma = True
        self.uses_correlation = bool(correlation_input)
        self.channels = channels
        self.blocks = blocks
        self.body_blocks = body_blocks
        self.sigma0 = float(sigma0)
        self.multiple = 2 ** len(channels)  # pixel-unshuffle by 2, then len(channels) - 1 down-samplings
        # 4 sub-images + noise-level map (+ correlation map)
        self.head = nn.Conv2d(5 + self.uses_correlation, channels[0], 3, padding=1, bias=False)
        self.down, self.body, self.up = unet_stages(channels, blocks, body_blocks=body_blocks)
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

    def noise_correlations(
        self, x: torch.Tensor, correlation: float | Sequence[float] | torch.Tensor | None
    ) -> torch.Tensor:
        """Per-image lag-1 noise correlations ``(N,)`` in [-1, 1]: ``correlation`` broadcast, or estimated when ``None``."""
        if correlation is None:
            images = x.detach().float().cpu().numpy()[:, 0]
            return torch.tensor(
                [estimate_noise_correlation(img) for img in images], dtype=x.dtype, device=x.device
            )
        value = torch.as_tensor(correlation, device=x.device).to(x.dtype).reshape(-1)
        if value.numel() not in (1, x.shape[0]):
            raise ValueError(
                f"ConditionedUNet: correlation must be a number or one per image ({x.shape[0]}), "
                f"got {value.numel()}"
            )
        if not torch.isfinite(value).all():
            raise ValueError("ConditionedUNet: correlation must be finite")
        return value.clamp(-1.0, 1.0).expand(x.shape[0])

    def residual(
        self, x: torch.Tensor, level: torch.Tensor, correlation: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The predicted noise ``r(x, sigma)`` of a padded batch (height, width multiples of ``multiple``)."""
        sub = F.pixel_unshuffle(x, 2)
        maps = [(level / _MAP_SCALE).reshape(-1, 1, 1, 1).expand(-1, 1, *sub.shape[-2:])]
        if self.uses_correlation:
            if correlation is None:
                raise ValueError("ConditionedUNet: this model needs the noise correlation")
            maps.append(correlation.reshape(-1, 1, 1, 1).expand(-1, 1, *sub.shape[-2:]))
        y = input_layer(self.head, torch.cat([sub, *(m.to(sub.dtype) for m in maps)], dim=1))
        y = run_unet_stages(y, self.down, self.body, self.up)
        return F.pixel_shuffle(self.tail(y), 2)

    def forward(
        self,
        x: torch.Tensor,
        sigma: float | Sequence[float] | torch.Tensor | None = None,
        *,
        correlation: float | Sequence[float] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoise ``x`` ``(N, 1, H, W)`` at noise level ``sigma`` (number, one per image, or ``None``);
        ``correlation`` (same forms) is used by models with ``correlation_input`` only."""
        h, w = x.shape[-2:]
        padded = self._pad(x)
        level = self.noise_levels(x, sigma)  # estimated on the unpadded images
        corr = self.noise_correlations(x, correlation) if self.uses_correlation else None
        gate = noise_gate(level, self.sigma0).reshape(-1, 1, 1, 1)
        y = x - gate * self.residual(padded, level, corr)[..., :h, :w]
        return y if self.training else y.clamp(0.0, 1.0)

    def can_grow_from(self, source: nn.Module) -> bool:
        """Whether :meth:`grow_from` can start this network from ``source``'s weights: a
        :class:`ConditionedUNet` of the same widths and ``sigma0`` with fewer residual blocks per stage
        or in the body and/or without the correlation input this one has (and not the same network)."""
        if not isinstance(source, ConditionedUNet):
            return False
        same_widths = source.channels == self.channels and source.sigma0 == self.sigma0
        grows = (
            source.blocks <= self.blocks
            and source.body_blocks <= self.body_blocks
            and source.uses_correlation <= self.uses_correlation
        )
        same = (source.blocks, source.body_blocks, source.uses_correlation) == (
            self.blocks,
            self.body_blocks,
            self.uses_correlation,
        )
        return same_widths and grows and not same

    def grow_from(self, state: dict[str, torch.Tensor]) -> None:
        """Load the weights of a smaller network of this kind (:meth:`can_grow_from`) so that this one
        computes exactly what it computed, whatever correlation it is told, until training changes it.

        * **More residual blocks per stage or in the body** (deepening): the source's blocks keep their
          places (first in each stage and in the body); each added block's second convolution starts at 0,
          so the block is the identity (``x + 0``), while its first convolution keeps this network's seeded
          initialisation, so the block starts to learn at the first step (the gradient reaches the zeroed
          convolution through it).
        * **The correlation input** (widening): the head's new input channel starts at weight 0.
        """
        body_blocks = _count_blocks(state, "body.")
        # the first encoder stage's blocks (0 is a depth too: the stage is then its down-sampling alone);
        # a one-level network has no stages (nothing there to grow)
        has_stages = any(key.startswith("down.0.") for key in state)
        blocks = _count_blocks(state, "down.0.") if has_stages else self.blocks
        if blocks > self.blocks or body_blocks > self.body_blocks:
            raise ValueError(
                f"ConditionedUNet.grow_from: the source has {blocks} blocks per stage and {body_blocks} in the "
                f"body, this network {self.blocks} and {self.body_blocks}: it can only add blocks"
            )
        head = state["head.weight"]
        missing_inputs = self.head.weight.shape[1] - head.shape[1]
        if missing_inputs not in (0, 1) or (missing_inputs == 1 and not self.uses_correlation):
            raise ValueError(
                f"ConditionedUNet.grow_from: a head of {head.shape[1]} input channels cannot grow into "
                f"{self.head.weight.shape[1]}"
                + ("" if self.uses_correlation else " (this model has no correlation input to add)")
            )
        if missing_inputs == 0 and (blocks, body_blocks) == (self.blocks, self.body_blocks):
            raise ValueError("ConditionedUNet.grow_from: the source is this same network: load_state_dict")
        grown = dict(self.state_dict())
        for key, value in state.items():
            target = _grown_key(key, blocks, self.blocks)
            if target not in grown:
                raise ValueError(f"ConditionedUNet.grow_from: the source's {key!r} has no place here")
            grown[target] = value
        if missing_inputs:
            grown["head.weight"] = torch.cat([head, head.new_zeros(head.shape[0], 1, *head.shape[2:])], dim=1)
        for key in grown:
            if _added_block(key, blocks, body_blocks) and key.endswith(".conv2.weight"):
                grown[key] = torch.zeros_like(grown[key])
        self.load_state_dict(grown)


def _grown_key(key: str, blocks: int, new_blocks: int) -> str:
    """Where ``key`` of a U-Net with ``blocks`` blocks per stage lives in one with ``new_blocks``: encoder
    stages ``down.i`` hold the blocks then the down-sampling (which moves to index ``new_blocks``); body and
    decoder stages (``up.i.0`` is the up-sampling) keep their indices."""
    parts = key.split(".")
    if parts[0] == "down" and int(parts[2]) == blocks:
        parts[2] = str(new_blocks)
    return ".".join(parts)


def _count_blocks(state: dict[str, torch.Tensor], prefix: str) -> int:
    """How many residual blocks the stage ``prefix`` (``"body."``, ``"down.0."``) of ``state`` holds."""
    depth = prefix.count(".")
    return sum(
        1
        for key in state
        if key.startswith(prefix) and key.endswith(".conv1.weight") and key.count(".") == depth + 2
    )


def _added_block(key: str, blocks: int, body_blocks: int) -> bool:
    """Whether ``key`` belongs to a residual block that a source with ``blocks`` blocks per stage and
    ``body_blocks`` in the body lacks."""
    parts = key.split(".")
    if len(parts) < 4 or not parts[-2].startswith("conv"):
        return False
    if parts[0] == "down":
        return int(parts[2]) >= blocks
    if parts[0] == "body":
        return int(parts[1]) >= body_blocks
    if parts[0] == "up":
        return int(parts[2]) > blocks  # up.i.0 is the up-sampling
    return False
