"""Per-image scores: which metric, under which convention (data range, SSIM window), over a batch.

:func:`score_images` is the one place a denoised batch is compared with its clean images; the bench
(:func:`meddenoise.evaluation.evaluate`), the reproductions and the model-card measurements all go
through it.

>>> import numpy as np
>>> from meddenoise.evaluation import Score, score_images
>>> clean = np.zeros((2, 16, 16), np.float32)
>>> score_images(clean, clean + 0.1, [Score("psnr")])["psnr"].round(1).tolist()
[20.0, 20.0]

A masked score (``Score(..., masked=True)``, or :func:`with_masked` for a masked copy of each) is computed
inside a mask per image: given as arrays, or made from each clean image by a
:class:`~meddenoise.metrics.masks.MaskRule` (``body``, ``threshold:T``):

>>> estimate = clean.copy(); estimate[..., :8] = 0.5  # wrong on the left half only
>>> inside = np.zeros((16, 16), bool); inside[:, 8:] = True
>>> values = score_images(clean, estimate, with_masked(["mae"]), masks=[inside, inside])
>>> values["mae"].tolist(), values["mae_masked"].tolist()
([0.25, 0.25], [0.0, 0.0])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from meddenoise.metrics.masks import MaskRule, check_mask

__all__ = [
    "BIAS",
    "MASKABLE_METRICS",
    "SSIM_METRICS",
    "Masks",
    "Score",
    "as_scores",
    "resolve_masks",
    "score_images",
    "with_masked",
]

#: Metrics that take a window (``win_size``, ``gaussian_weights``).
SSIM_METRICS = frozenset({"ssim"})
#: Metrics that can be computed inside a mask (SSIM: the mean of its map inside the mask).
MASKABLE_METRICS = frozenset({"ssim", "psnr", "mse", "mae", "bias"})
#: Masks for a set of images: one boolean array per image, or a rule applied to each clean image.
Masks = Sequence[np.ndarray] | np.ndarray | MaskRule
#: The mean shift ``mean(estimate - clean)`` (signed; 0 is best): computed here, not a metric of
#: :mod:`meddenoise.metrics` (which scores distances).
BIAS = "bias"


@dataclass(frozen=True)
class Score:
    """One scored quantity: a metric of :mod:`meddenoise.metrics` under a stated convention.

    Parameters
    ----------
    name
        Key of the per-image values (e.g. ``"ssim"``, ``"ssim_dr2"``).
    metric
        Metric name in :data:`meddenoise.metrics.METRICS` (default: ``name``).
    data_range
        Distance between the largest and smallest possible pixel values (1.0 for [0, 1] images).
    win_size
        SSIM window side (odd, >= 3); ``None``: the metric's default (7 uniform, 11 Gaussian).
    gaussian_weights
        SSIM with a Gaussian (sigma 1.5) instead of a uniform window.
    label
        Text for tables (default: ``name``).
    clip
        ``(low, high)``: both images are clipped to this range before scoring (e.g. a CT display
        window, or the nominal range of the stored values); ``None``: scored as they are.
    masked
        Score inside the image's mask only (:data:`MASKABLE_METRICS`; the mask comes with the call).
    to_units
        ``(low, high)`` of an affine intensity mapping: both images, on its [0, 1] scale, are mapped
        back to ``low + x * (high - low)`` (e.g. HU for the CT measures) before clipping and scoring.
    """

    name: str
    metric: str = ""
    data_range: float = 1.0
    win_size: int | None = None
    gaussian_weights: bool = False
    label: str = ""
    clip: tuple[float, float] | None = None
    masked: bool = False
    to_units: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        metric = (self.metric or self.name).strip().lower().replace("-", "_")
        object.__setattr__(self, "metric", metric)
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.data_range <= 0:
            raise ValueError(f"score {self.name}: data_range must be > 0, got {self.data_range}")
        if (self.win_size is not None or self.gaussian_weights) and self.metric not in SSIM_METRICS:
            raise ValueError(f"score {self.name}: a window applies to SSIM only, not {self.metric}")
        if self.clip is not None and not float(self.clip[1]) > float(self.clip[0]):
            raise ValueError(f"score {self.name}: clip range must have high > low, got {self.clip}")
        if self.masked and self.metric not in MASKABLE_METRICS:
            raise ValueError(
                f"score {self.name}: {self.metric} cannot be masked; masks apply to "
                f"{', '.join(sorted(MASKABLE_METRICS))}"
            )

    def masked_copy(self) -> Score:
        """This score inside the mask: named ``<name>_masked``, labelled ``<label> (in mask)``."""
        return replace(self, name=f"{self.name}_masked", label=f"{self.label} (in mask)", masked=True)

    def check(self) -> Score:
        """This score, after checking that its metric exists (``ValueError`` naming the choices otherwise)."""
        from meddenoise.metrics import get_metric

        if self.metric != BIAS:
            get_metric(self.metric)
        return self

    @property
    def higher_is_better(self) -> bool:
        from meddenoise.metrics import HIGHER_IS_BETTER

        return HIGHER_IS_BETTER.get(self.metric, self.metric != BIAS)

    def __call__(
        self,
        estimate: np.ndarray,
        clean: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        noisy: np.ndarray | None = None,
    ) -> float:
        """The score of one image pair (a masked score needs the pair's ``mask``; others ignore it).

        ``noisy`` is the input the estimate was made from: the metrics of
        :data:`~meddenoise.metrics.NOISY_INPUT_METRICS` (the error's noise texture against the added noise)
        need it, the others ignore it. It goes through the same unit mapping and clipping as the pair.
        """
        from meddenoise.metrics import NOISY_INPUT_METRICS, get_metric, mae, mse, psnr, ssim

        if not self.masked:
            mask = None
        elif mask is None:
            raise ValueError(f"score {self.name} is masked: give the images' masks")
        needs_noisy = self.metric in NOISY_INPUT_METRICS
        if needs_noisy and noisy is None:
            raise ValueError(
                f"score {self.name} compares the error with the added noise: give the noisy input"
            )
        if self.to_units is not None:
            low, width = float(self.to_units[0]), float(self.to_units[1]) - float(self.to_units[0])
            estimate = low + width * np.asarray(estimate, dtype=np.float64)
            clean = low + width * np.asarray(clean, dtype=np.float64)
            if needs_noisy:
                noisy = low + width * np.asarray(noisy, dtype=np.float64)
        if self.clip is not None:
            low, high = float(self.clip[0]), float(self.clip[1])
            estimate = np.clip(np.asarray(estimate, dtype=np.float64), low, high)
            clean = np.clip(np.asarray(clean, dtype=np.float64), low, high)
            if needs_noisy:
                noisy = np.clip(np.asarray(noisy, dtype=np.float64), low, high)
        if needs_noisy:
            metric = NOISY_INPUT_METRICS[self.metric]
            return float(metric(estimate, clean, noisy=noisy, data_range=self.data_range))
        if self.metric == BIAS:
            diff = np.asarray(estimate, dtype=np.float64) - np.asarray(clean, dtype=np.float64)
            if mask is not None:
                diff = diff[check_mask(mask, diff.shape)]
            return float(np.mean(diff)) if diff.size else math.nan
        if self.metric == "ssim":
            return float(
                ssim(
                    estimate,
                    clean,
                    data_range=self.data_range,
                    win_size=self.win_size,
                    gaussian_weights=self.gaussian_weights,
                    mask=mask,
                )
            )
        if mask is not None:
            functions: dict[str, Callable[..., float]] = {"psnr": psnr, "mse": mse, "mae": mae}
            pixelwise = functions[self.metric]
            return float(pixelwise(estimate, clean, data_range=self.data_range, mask=mask))
        return float(get_metric(self.metric)(estimate, clean, data_range=self.data_range))


def as_scores(
    scores: Sequence[str | Score],
    *,
    data_range: float = 1.0,
    win_size: int | None = None,
    gaussian_weights: bool = False,
) -> tuple[Score, ...]:
    """Scores from names or :class:`Score` objects (metrics checked before any work); names get the given
    data range and SSIM window."""
    out: list[Score] = []
    for item in scores:
        if isinstance(item, Score):
            out.append(item.check())
            continue
        name = item.strip().lower().replace("-", "_")
        windowed = name in SSIM_METRICS
        out.append(
            Score(
                name,
                data_range=data_range,
                win_size=win_size if windowed else None,
                gaussian_weights=gaussian_weights and windowed,
            ).check()
        )
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"score names must be distinct, got {names}")
    return tuple(out)


def with_masked(
    scores: Sequence[str | Score],
    *,
    data_range: float = 1.0,
    win_size: int | None = None,
    gaussian_weights: bool = False,
) -> tuple[Score, ...]:
    """The scores (names go through :func:`as_scores` with these options), each maskable one followed by
    its masked copy (:meth:`Score.masked_copy`): whole-image and in-mask numbers side by side."""
    out: list[Score] = []
    for score in as_scores(
        scores, data_range=data_range, win_size=win_size, gaussian_weights=gaussian_weights
    ):
        out.append(score)
        if score.metric in MASKABLE_METRICS and not score.masked:
            out.append(score.masked_copy())
    return as_scores(out)


def resolve_masks(masks: Masks | None, clean: Sequence[np.ndarray]) -> list[np.ndarray] | None:
    """One boolean mask per clean image: the given arrays (shapes checked) or the rule applied to each."""
    if masks is None:
        return None
    if isinstance(masks, MaskRule):
        return [masks(img) for img in clean]
    given = [np.asarray(m) for m in ([masks] if isinstance(masks, np.ndarray) and masks.ndim == 2 else masks)]
    if len(given) != len(clean):
        raise ValueError(f"{len(given)} masks for {len(clean)} images")
    out = []
    for i, (mask, img) in enumerate(zip(given, clean, strict=True)):
        try:
            out.append(check_mask(mask, img.shape))
        except ValueError as exc:
            raise ValueError(f"image {i}: {exc}") from None
    return out


def score_images(
    clean: np.ndarray | Sequence[np.ndarray],
    estimate: np.ndarray | Sequence[np.ndarray],
    scores: Sequence[str | Score],
    *,
    masks: Masks | None = None,
    noisy: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Mapping[str, np.ndarray]:
    """Per-image values (float64, one per image) of every score, keyed by score name.

    ``clean`` and ``estimate`` are batches ``(N, H, W)`` (or one 2D image, or equal-length sequences of
    2D images) in the same order. Names in ``scores`` use ``data_range=1`` and the metric's default window.
    ``masks`` (one per image, or a :class:`~meddenoise.metrics.masks.MaskRule` applied to each clean
    image) is used by the masked scores, which need it; ``noisy`` (the inputs, same order) by the scores
    that compare the error with the added noise (:data:`~meddenoise.metrics.NOISY_INPUT_METRICS`).
    """
    specs = as_scores(scores)
    a = _image_list(estimate)
    b = _image_list(clean)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} estimates for {len(b)} clean images")
    inputs: list[np.ndarray | None] = [None] * len(b) if noisy is None else list(_image_list(noisy))
    if len(inputs) != len(b):
        raise ValueError(f"{len(inputs)} noisy inputs for {len(b)} clean images")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape or x.ndim != 2:
            raise ValueError(f"image {i}: estimate {x.shape} and clean {y.shape} must be the same 2D shape")
    per_image = resolve_masks(masks, b) if any(s.masked for s in specs) else None
    inside: list[np.ndarray | None] = list(per_image) if per_image is not None else [None] * len(b)
    return {
        s.name: np.array(
            [s(x, y, m, noisy=n) for x, y, m, n in zip(a, b, inside, inputs, strict=True)], dtype=np.float64
        )
        for s in specs
    }


def _image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        return [images] if images.ndim == 2 else list(images)
    return [np.asarray(img) for img in images]
