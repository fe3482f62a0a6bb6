"""The masks of ``meddenoise evaluate --mask``: ``body``, ``body:T``, ``threshold:T`` (image units) or a file.

The images of an evaluation are on the [0, 1] scale of their intensity mapping; a threshold the user
writes is in the images' own units (HU, grey levels), so it goes through each image's mapping first.
Otsu's threshold (plain ``body``) does not depend on an affine scale (up to the mapping's clipping).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meddenoise.data.normalize import Normalizer
from meddenoise.metrics.masks import MASK_RULES, MaskRule, check_mask

__all__ = ["masks_for_images"]


def _is_rule(text: str) -> bool:
    return text.strip().partition(":")[0].strip().lower() in MASK_RULES and not Path(text).exists()


def masks_for_images(
    spec: str,
    images: Sequence[np.ndarray],
    normalizers: Sequence[Mapping[str, Any]] | None = None,
) -> list[np.ndarray]:
    """One boolean mask per [0, 1] image from ``spec``: a rule (thresholds in the images' own units) or a file.

    Parameters
    ----------
    spec
        ``body`` (Otsu threshold, largest component, holes filled), ``body:T``, ``threshold:T``, or the
        path of a mask image of the images' shape (nonzero = inside), used for every image.
    images
        The images on their [0, 1] scale.
    normalizers
        Each image's intensity mapping (:meth:`~meddenoise.data.normalize.Normalizer.to_dict`), to put a
        threshold in the images' units on that scale; ``None``: thresholds are on the [0, 1] scale.

    Raises
    ------
    ValueError
        One line for an unknown rule, an unreadable mask file or a shape that does not match.
    """
    if not _is_rule(spec):
        from meddenoise.io import ImageReadError, read_image

        path = Path(spec).expanduser()
        if not path.exists():
            raise ValueError(
                f"unknown mask {spec!r}: write body, body:T, threshold:T or the path of a mask image"
            )
        try:
            pixels = read_image(path).pixels
        except (ImageReadError, OSError) as exc:
            raise ValueError(f"{path}: not a readable mask ({exc})") from None
        if pixels.ndim != 2:
            raise ValueError(f"{path}: a mask is one 2D image, got shape {pixels.shape}")
        try:
            return [check_mask(pixels, img.shape) for img in images]
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    rule = MaskRule.parse(spec)
    if normalizers is not None and len(normalizers) != len(images):
        raise ValueError(f"{len(normalizers)} intensity mappings for {len(images)} images")
    masks = []
    for i, image in enumerate(images):
        image_rule = rule
        if rule.threshold is not None and normalizers is not None and normalizers[i]:
            normalizer = Normalizer.from_dict(normalizers[i])
            image_rule = rule.with_threshold(float(normalizer.forward(np.array(rule.threshold))))
        masks.append(image_rule(image))
    return masks
