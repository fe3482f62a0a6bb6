"""Tissue masks for scoring inside the body: a threshold, or the body (threshold, largest component, holes).

Whole-image scores of mostly-background images (a mammogram is mostly black) measure the background
as much as the tissue; the metrics of :mod:`meddenoise.metrics` take ``mask=`` to score inside a mask,
and :class:`MaskRule` makes the mask from the clean image:

* ``threshold:T`` — pixels above ``T`` (in the units of the image the rule is applied to);
* ``body`` — pixels above a threshold (Otsu's, or ``body:T``), keeping the largest 8-connected
  component and filling its holes (``scipy.ndimage.label`` and ``binary_fill_holes``): the patient's
  outline with the lungs, bowel gas and dark tissue inside it, without table, labels or noise specks.

>>> import numpy as np
>>> image = np.zeros((9, 9)); image[2:7, 2:7] = 1.0; image[4, 4] = 0.0  # a square with a hole
>>> image[0, 8] = 1.0  # and a speck
>>> int(body_mask(image).sum()), int(threshold_mask(image, 0.5).sum())
(25, 25)
>>> str(MaskRule.parse("threshold:-500"))
'threshold:-500'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

__all__ = ["MASK_RULES", "MaskRule", "body_mask", "check_mask", "threshold_mask"]

#: The rule names :meth:`MaskRule.parse` accepts (a file of a mask is handled by the caller).
MASK_RULES = ("body", "threshold")
_EIGHT = np.ones((3, 3), dtype=bool)


def threshold_mask(image: np.ndarray, threshold: float) -> np.ndarray:
    """``image > threshold`` as a boolean array."""
    return np.asarray(image) > float(threshold)


def body_mask(image: np.ndarray, *, threshold: float | None = None) -> np.ndarray:
    """The body: ``image > threshold`` (default Otsu's threshold), its largest 8-connected component, holes filled.

    An image without any pixel above the threshold (e.g. constant) gives an empty mask.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"a body mask needs a 2D image, got shape {arr.shape}")
    if threshold is None:
        from skimage.filters import threshold_otsu

        if float(arr.min()) == float(arr.max()):
            return np.zeros(arr.shape, dtype=bool)
        threshold = float(threshold_otsu(arr))
    labels, count = ndimage.label(arr > threshold, structure=_EIGHT)
    if count == 0:
        return np.zeros(arr.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # the background is no component
    return np.asarray(ndimage.binary_fill_holes(labels == int(np.argmax(sizes))), dtype=bool)


def check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` as a boolean array after checking its shape (nonzero = inside)."""
    arr = np.asarray(mask)
    if arr.shape != tuple(shape):
        raise ValueError(f"mask of shape {arr.shape} does not match the image's {tuple(shape)}")
    return arr != 0


@dataclass(frozen=True)
class MaskRule:
    """How to make a mask from a clean image: ``body`` (optionally ``body:T``) or ``threshold:T``.

    ``threshold`` is in the units of the image the rule is applied to; ``None`` (``body`` only) means
    Otsu's threshold of that image.
    """

    kind: Literal["body", "threshold"]
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MASK_RULES:
            raise ValueError(f"unknown mask rule {self.kind!r}; choose from {', '.join(MASK_RULES)}")
        if self.kind == "threshold" and self.threshold is None:
            raise ValueError("a threshold mask needs its threshold: threshold:T")

    @classmethod
    def parse(cls, text: str) -> MaskRule:
        """``"body"``, ``"body:T"`` or ``"threshold:T"`` (``T`` a number); ``ValueError`` otherwise."""
        kind, _, value = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in MASK_RULES:
            raise ValueError(f"unknown mask {text!r}: write body, body:T, threshold:T or a mask file")
        if not value.strip():
            return cls("body") if kind == "body" else cls("threshold")
        try:
            threshold = float(value)
        except ValueError:
            raise ValueError(f"mask {text!r}: {value.strip()!r} is not a number") from None
        return cls("body" if kind == "body" else "threshold", threshold)

    def with_threshold(self, threshold: float | None) -> MaskRule:
        """The same rule with another threshold (e.g. the same value in another intensity scale)."""
        return MaskRule(self.kind, threshold)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The boolean mask of the 2D ``image``."""
        if self.kind == "threshold":
            assert self.threshold is not None  # checked in __post_init__
            return threshold_mask(image, self.threshold)
        return body_mask(image, threshold=self.threshold)

    def __str__(self) -> str:
        return self.kind if self.threshold is None else f"{self.kind}:{self.threshold:g}"
