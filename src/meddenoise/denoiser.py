"""The one denoiser interface that classical filters and learned models share.

Evaluation, tiling and the CLI only ever hold a :class:`Denoiser`; they never need to know
whether it is a median filter or a trained network.

Conventions
-----------
* Images are ``float32`` arrays scaled to [0, 1]: one image ``(H, W)`` or a batch ``(N, H, W)``.
* ``sigma`` is the standard deviation of the (Gaussian-equivalent) noise on that [0, 1] scale.
  ``None`` means unknown: a denoiser that needs it estimates it blindly.
* The output has the input's shape and is ``float32``. Denoisers never modify their input.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

__all__ = [
    "STRENGTH_RULES",
    "Denoiser",
    "as_float_image",
    "check_strength",
    "noise_correlations_for",
    "one_more_pass",
    "passes_told",
    "repeated_passes",
    "repeats_above_one",
    "strength_passes",
    "takes_noise_correlation",
    "told_noise_correlation",
]

#: How a network that takes a noise level goes past strength 1: ``"level"`` it is told ``strength x`` the
#: level (it smooths more when told more), ``"repeat"`` it runs again on its own output (a network that was
#: never taught to smooth past the truth, such as the shipped ``ct``: told more, it removes *less*).
STRENGTH_RULES = ("level", "repeat")


def check_strength(strength: float, *, owner: str = "strength") -> float:
    """A denoising strength as a float when finite and >= 0, else a one-line ``ValueError`` naming ``owner``.

    The strength of ``meddenoise denoise --strength`` and of the benchmark's ``--strength``: a denoiser that
    takes a noise level is told ``strength x`` it, any other is blended with its input; 0 is the input.
    """
    value = float(strength)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner} must be a finite number >= 0, got {strength!r}")
    return value


def as_float_image(image: np.ndarray) -> np.ndarray:
    """Check an image or batch for denoising and return it as float32 (no copy when already float32).

    Raises
    ------
    ValueError
        If the array is not 2D or 3D, is empty, or holds NaN/Inf.
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or a batch (N, H, W), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("expected a non-empty image, got an empty array")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("image holds NaN or Inf values")
    return arr


class Denoiser(ABC):
    """A denoiser of [0, 1] float images.

    Subclasses implement :meth:`denoise_image` (one 2D image); learned models override
    :meth:`denoise_batch` to run a whole batch at once.
    """

    #: Short name used in tables and on the command line, e.g. ``"median"`` or ``"gondara-dae"``.
    name: str = "denoiser"
    #: Whether the denoiser uses the noise level ``sigma`` when it is given.
    uses_sigma: bool = False
    #: How it goes past strength 1 when it uses ``sigma`` (one of :data:`STRENGTH_RULES`; a shipped model's
    #: card says which): told more, or run again on its own output (:func:`strength_passes`).
    strength_above_one: str = "level"

    @abstractmethod
    def denoise_image(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        """Denoise one float32 image of shape ``(H, W)``."""

    def denoise_batch(self, images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        """Denoise a float32 batch of shape ``(N, H, W)``; by default one image at a time."""
        return np.stack([self.denoise_image(img, sigma=sigma) for img in images]).astype(
            np.float32, copy=False
        )

    def __call__(self, image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        """Denoise an image ``(H, W)`` or a batch ``(N, H, W)`` in [0, 1]; returns float32 of the same shape."""
        arr = as_float_image(image)
        out = self.denoise_image(arr, sigma=sigma) if arr.ndim == 2 else self.denoise_batch(arr, sigma=sigma)
        return np.asarray(out, dtype=np.float32).reshape(arr.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _chain(denoiser: object) -> Iterator[object]:
    """``denoiser`` and the denoisers it wraps (``base`` / ``inner`` attributes), outermost first."""
    seen: set[int] = set()
    while denoiser is not None and id(denoiser) not in seen:
        seen.add(id(denoiser))
        yield denoiser
        denoiser = getattr(denoiser, "base", None) or getattr(denoiser, "inner", None)


def _repeaters(denoiser: object) -> list[object]:
    """The networks inside ``denoiser`` that go past strength 1 by running again (duck-typed: a
    ``strength_above_one`` of ``"repeat"`` and a ``passes`` count to be told)."""
    return [
        d
        for d in _chain(denoiser)
        if getattr(d, "strength_above_one", "level") == "repeat" and hasattr(d, "passes")
    ]


def repeats_above_one(denoiser: object) -> bool:
    """Whether ``denoiser`` (or a network it wraps: wrappers are seen through) goes past strength 1 by running
    again on its own output (``strength_above_one == "repeat"``) instead of being told a higher level."""
    return bool(_repeaters(denoiser))


def passes_told(denoiser: object) -> tuple[tuple[int, float], ...]:
    """``(passes, share)`` each repeating network inside ``denoiser`` runs per call now (:func:`repeated_passes`
    sets them; ``(1, 1.0)`` outside it); empty when none repeats. E.g. part of a cache key of outputs."""
    return tuple((d.passes, d.pass_share) for d in _repeaters(denoiser))  # type: ignore[attr-defined]


@contextlib.contextmanager
def repeated_passes(denoiser: object, strength: float) -> Iterator[int]:
    """Within the block, the repeating networks inside ``denoiser`` run :func:`strength_passes` of ``strength``
    times per call: each pass on the previous one's output, told the levels of the input, the last weighted
    by the fraction. Wrappers around such a network (edge restoration, texture) then act once, on what all
    passes removed from the input. Yields the number of passes (1 when nothing repeats)."""
    inner = _repeaters(denoiser)
    passes, share = strength_passes(strength) if inner else (1, 1.0)
    before = [(d.passes, d.pass_share) for d in inner]  # type: ignore[attr-defined]
    try:
        for d in inner:
            d.passes, d.pass_share = passes, share  # type: ignore[attr-defined]
        yield passes
    finally:
        for d, (count, weight) in zip(inner, before, strict=True):
            d.passes, d.pass_share = count, weight  # type: ignore[attr-defined]


@contextlib.contextmanager
def one_more_pass(denoiser: object) -> Iterator[int]:
    """Within the block, the repeating networks inside ``denoiser`` run once more than they are set to (the
    weight of their last pass kept), whatever strength set them: what ``--texture auto`` gives a scanner's
    noise (:mod:`meddenoise.models.texture`). Yields the number of passes (1 when nothing repeats)."""
    inner = _repeaters(denoiser)
    before = [d.passes for d in inner]  # type: ignore[attr-defined]
    try:
        for d in inner:
            d.passes += 1  # type: ignore[attr-defined]
        yield max(before, default=0) + 1
    finally:
        for d, count in zip(inner, before, strict=True):
            d.passes = count  # type: ignore[attr-defined]


def strength_passes(strength: float) -> tuple[int, float]:
    """How a ``"repeat"`` denoiser runs at ``strength``: ``(passes, share)``, each pass on the previous one's
    output (told the same noise level), the result ``previous + share * (last - previous)``.

    Up to 1 one pass (strength then works as for any denoiser); above it one more pass per started unit,
    the last one weighted by the fraction: 1.5 is half way from one pass to two, 2 is two passes, 3 three.

    Examples
    --------
    >>> strength_passes(0.5), strength_passes(1), strength_passes(1.5), strength_passes(2), strength_passes(3.25)
    ((1, 1.0), (1, 1.0), (2, 0.5), (2, 1.0), (4, 0.25))
    """
    value = check_strength(strength)
    if value <= 1:
        return 1, 1.0
    passes = math.ceil(value)
    return passes, round(value - (passes - 1), 12)


def _takers(denoiser: object) -> list[object]:
    """The networks inside ``denoiser`` that take a noise correlation (duck-typed: ``uses_correlation``)."""
    return [
        d for d in _chain(denoiser) if getattr(d, "uses_correlation", False) and hasattr(d, "correlation")
    ]


def takes_noise_correlation(denoiser: object) -> bool:
    """Whether ``denoiser`` (or a network it wraps) takes the noise's lag-1 correlation (:func:`told_noise_correlation`)."""
    return bool(_takers(denoiser))


def noise_correlations_for(denoiser: object, images: np.ndarray) -> np.ndarray | None:
    """The noise correlation the first network inside ``denoiser`` that takes one is told for each image of
    ``(N, H, W)`` (on its [0, 1] scale): what :func:`told_noise_correlation` set, else its own estimate per
    image; ``None`` when no network inside takes one."""
    inner = _takers(denoiser)
    if not inner:
        return None
    correlations = inner[0].noise_correlations(images)  # type: ignore[attr-defined]
    return None if correlations is None else np.asarray(correlations, dtype=np.float64)


@contextlib.contextmanager
def told_noise_correlation(denoiser: object, correlation: float | None) -> Iterator[bool]:
    """Within the block, the networks inside ``denoiser`` that take a noise correlation are told ``correlation``.

    ``None`` has them estimate it. Wrappers (self-ensemble, edge restoration, texture, strength) are seen
    through. Yields whether any network takes one. The previous values come back at the end of the block.
    """
    inner = _takers(denoiser)
    before = [d.correlation for d in inner]  # type: ignore[attr-defined]
    try:
        for d in inner:
            d.correlation = correlation  # type: ignore[attr-defined]
        yield bool(inner)
    finally:
        for d, value in zip(inner, before, strict=True):
            d.correlation = value  # type: ignore[attr-defined]
