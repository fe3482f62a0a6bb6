"""Any denoising network as a :class:`meddenoise.denoiser.Denoiser`: batched, gradient-free, fast layout."""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from meddenoise.denoiser import Denoiser, as_float_image, told_noise_correlation
from meddenoise.noise import estimate_noise_correlation_per_slice, estimate_noise_std_per_slice

__all__ = ["BatchDenoiser", "ModelDenoiser", "noise_levels_for", "told_noise_correlation"]


def noise_levels_for(
    images: np.ndarray, sigma: float | Sequence[float] | np.ndarray | None, *, owner: str
) -> np.ndarray:
    """The noise level a conditioned model gets for each image of ``(N, H, W)``: float64 ``(N,)``.

    ``sigma`` broadcast to the batch, or each image's :func:`~meddenoise.noise.estimate_noise_std`
    when ``sigma`` is ``None``. ``owner`` names the model in the one-line errors.
    """
    if sigma is None:
        return estimate_noise_std_per_slice(images)
    levels = np.asarray(sigma, dtype=np.float64).reshape(-1)
    if levels.size not in (1, len(images)):
        raise ValueError(
            f"{owner}: sigma must be a number or one per image ({len(images)}), got {levels.size}"
        )
    if not np.isfinite(levels).all() or (levels < 0).any():
        raise ValueError(f"{owner}: sigma must be finite and >= 0, got {sigma}")
    return np.broadcast_to(levels, (len(images),)).copy()


class BatchDenoiser(Denoiser):
    """A denoiser that runs whole batches (a network in some runtime): one image is a batch of one.

    Subclasses set ``name`` and ``uses_sigma`` and implement :meth:`denoise_batch`, starting from
    :meth:`batch_and_levels`.
    """

    def denoise_image(
        self, image: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """Denoise one float32 image ``(H, W)``."""
        return self.denoise_batch(np.asarray(image)[None], sigma=sigma)[0]

    @abstractmethod
    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """Denoise a float32 batch ``(N, H, W)``; ``sigma`` a number, one per image, or ``None``."""

    #: Whether the network takes the noise's lag-1 correlation; what it is told (``None``: estimated).
    uses_correlation: bool = False
    correlation: float | None = None
    #: How many times a call runs the network, each pass on the previous one's output, and the weight of the
    #: last (:func:`meddenoise.denoiser.repeated_passes` sets them past strength 1; 1 and 1.0: once).
    passes: int = 1
    pass_share: float = 1.0

    def repeated(self, run: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
        """``run(batch)`` :attr:`passes` times, each on the previous output; the last pass weighted by
        :attr:`pass_share` (``previous + share * (last - previous)``). ``run`` keeps the input's levels."""
        previous, out = batch, run(batch)
        for _ in range(self.passes - 1):
            previous, out = out, run(out)
        if self.pass_share != 1:
            out = (previous + np.float32(self.pass_share) * (out - previous)).astype(np.float32)
        return out

    def noise_correlations(self, images: np.ndarray) -> np.ndarray | None:
        """The noise correlation told to the network for each image of ``(N, H, W)`` (``None`` when it takes
        none): :attr:`correlation`, or each image's :func:`~meddenoise.noise.estimate_noise_correlation`."""
        if not self.uses_correlation:
            return None
        if self.correlation is None:
            return estimate_noise_correlation_per_slice(images)
        return np.full(len(images), float(self.correlation))

    def batch_and_levels(
        self, images: np.ndarray, sigma: float | Sequence[float] | np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The checked float32 batch ``(N, H, W)`` and, for a conditioned network, its noise levels ``(N,)``."""
        batch = as_float_image(images)
        if batch.ndim != 3:
            raise ValueError(f"{self.name}: expected a batch (N, H, W), got shape {batch.shape}")
        return batch, (noise_levels_for(batch, sigma, owner=self.name) if self.uses_sigma else None)


class ModelDenoiser(BatchDenoiser):
    """Denoise [0, 1] float images with a network mapping ``(N, 1, H, W)`` → ``(N, 1, H, W)``.

    Parameters
    ----------
    model
        The network. It is moved to ``device`` (and to channels-last memory format when asked) in place;
        each call runs it in evaluation mode and restores its previous training flag afterwards.
    name
        Name in tables and on the command line.
    batch_size
        Images per forward pass.
    channels_last
        Run convolutions in NHWC memory format: the same arithmetic (results equal to float rounding),
        1.4-2.7x faster with oneDNN on CPU for these networks.
    bf16
        Autocast to bfloat16: 2-4x faster on CPUs with native bf16 (AVX512-BF16, AMX), slower without;
        costs accuracy (about 1e-2 absolute per pixel at worst; see ``docs/models.md``).
    device
        Torch device to run on.
    correlation
        For a network that takes the noise's lag-1 spatial correlation (``uses_correlation``, e.g.
        ``ffdunet(correlation_input=True)``): the value it is told (0 = white noise), or ``None`` (the
        default) to estimate it per image (:func:`meddenoise.noise.estimate_noise_correlation`). It can be
        changed for a block with :func:`told_noise_correlation`.

    Notes
    -----
    Noise-conditioned models (their ``uses_sigma`` attribute is true, e.g. ``ffdunet`` and
    ``unet(noise_conditioned=True)``) get the noise level as ``model(x, sigma=levels)``, one level per
    image: ``sigma`` (a number, or one per image of the batch) or, when it is ``None`` (blind), each
    image's :func:`meddenoise.noise.estimate_noise_std`. Other models cannot use a noise level: their
    ``uses_sigma`` is false, so callers can say so, and ``sigma`` is ignored. Outputs are clamped to [0, 1].
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str,
        batch_size: int = 16,
        channels_last: bool = True,
        bf16: bool = False,
        device: str | torch.device = "cpu",
        correlation: float | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"ModelDenoiser: batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.batch_size = batch_size
        self.channels_last = channels_last
        self.bf16 = bf16
        self.device = torch.device(device)
        self.uses_sigma = bool(getattr(model, "uses_sigma", False))
        self.uses_correlation = self.uses_sigma and bool(getattr(model, "uses_correlation", False))
        self.correlation = correlation
        model.to(self.device)
        if channels_last:
            # Module.to accepts memory_format at run time; torch's overloads do not declare it
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.model = model

    def noise_levels(
        self, images: np.ndarray, sigma: float | Sequence[float] | np.ndarray | None
    ) -> np.ndarray:
        """The noise level given to a conditioned model for each image of ``(N, H, W)``: see :func:`noise_levels_for`."""
        return noise_levels_for(images, sigma, owner=self.name)

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """Denoise a float32 batch ``(N, H, W)`` in chunks of ``batch_size`` under inference mode.

        ``sigma``: a number, one per image, or ``None`` (estimated per image); used by conditioned models only.
        """
        batch, levels = self.batch_and_levels(images, sigma)
        correlations = self.noise_correlations(batch) if levels is not None else None
        # every pass (past strength 1) is told the levels and correlations of the input
        return self.repeated(lambda images: self._run(images, levels, correlations), batch)

    def _run(
        self, batch: np.ndarray, levels: np.ndarray | None, correlations: np.ndarray | None
    ) -> np.ndarray:
        """One pass of the network over ``batch``, told ``levels`` and ``correlations`` (when it takes them)."""
        out = np.empty_like(batch)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        )
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast:
                for start in range(0, len(batch), self.batch_size):
                    chunk = torch.from_numpy(batch[start : start + self.batch_size]).unsqueeze(1)
                    chunk = chunk.to(self.device)
                    if self.channels_last:
                        chunk = chunk.contiguous(memory_format=torch.channels_last)
                    if levels is None:
                        denoised = self.model(chunk)
                    else:
                        chunk_levels = torch.from_numpy(levels[start : start + len(chunk)]).float()
                        told = {"sigma": chunk_levels.to(self.device)}
                        if correlations is not None:
                            part = correlations[start : start + len(chunk)]
                            told["correlation"] = torch.from_numpy(part).float().to(self.device)
                        denoised = self.model(chunk, **told)
                    out[start : start + len(chunk)] = denoised.float().clamp(0.0, 1.0)[:, 0].cpu().numpy()
        finally:
            self.model.train(was_training)
        return out
