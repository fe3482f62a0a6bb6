"""Turning a training checkpoint into a :class:`~meddenoise.denoiser.Denoiser`."""

from __future__ import annotations

from pathlib import Path

from meddenoise.denoiser import Denoiser
from meddenoise.training.checkpoint import load_checkpoint

__all__ = ["load_denoiser"]


def load_denoiser(
    path: str | Path,
    *,
    batch_size: int = 16,
    channels_last: bool | None = None,
    bf16: bool | None = None,
    name: str | None = None,
) -> Denoiser:
    """Load a checkpoint (run folder → ``best``, ``.json`` or ``.safetensors``) as a Denoiser.

    ``channels_last`` and ``bf16`` default to the settings the model was trained with; ``name``
    defaults to the model's registered name. Raises
    :class:`~meddenoise.training.checkpoint.CheckpointError` for a missing, corrupt or mismatched file.

    Examples
    --------
    >>> denoiser = load_denoiser("runs/mias-dae")  # doctest: +SKIP
    >>> clean = denoiser(noisy_image)  # doctest: +SKIP
    """
    from meddenoise.models.denoiser import ModelDenoiser

    model, config = load_checkpoint(path)
    # Trained runs record their resolved precision and layout; a hand-written "auto" config gets this
    # machine's layout and fp32 (``config.bf16`` is False for "auto").
    layout = config.resolved().channels_last
    return ModelDenoiser(
        model,
        name=name or config.model,
        batch_size=batch_size,
        channels_last=layout is True if channels_last is None else channels_last,
        bf16=config.bf16 if bf16 is None else bf16,
    )
