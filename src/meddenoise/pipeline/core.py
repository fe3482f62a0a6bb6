"""Denoise the pixels of one image (or stack) in original units: map to [0, 1], tile, map back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np

from meddenoise.data import Normalizer
from meddenoise.data.intensity import IntensitySpec, fit_intensity, from_unit, noise_margins, to_unit
from meddenoise.denoiser import (
    Denoiser,
    check_strength,
    repeated_passes,
    repeats_above_one,
    strength_passes,
    takes_noise_correlation,
    told_noise_correlation,
)
from meddenoise.pipeline.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, count_tiles, iter_tiled_rows

__all__ = [
    "CT_NOISE_ESTIMATOR",
    "NOISE_ESTIMATOR",
    "DenoiseOptions",
    "NoiseSource",
    "SliceReport",
    "correlation_ignored_note",
    "denoise_pixels",
    "denoise_slices",
    "describe_noise",
    "ignored_notes",
    "noise_estimator_name",
    "noise_ignored_note",
    "parse_noise_correlation",
    "parse_noise_level",
]


def parse_noise_level(value: str | float | None) -> float | str | None:
    """``"auto"`` → ``"auto"``; ``None``/``"none"`` → ``None``; a number (string or float) → float >= 0.

    A number is the noise std in the image's own units (HU for CT, stored grey levels for PNG/TIFF).

    Raises
    ------
    ValueError
        For anything else, or a negative level.

    Examples
    --------
    >>> parse_noise_level("20"), parse_noise_level("AUTO"), parse_noise_level("none")
    (20.0, 'auto', None)
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text in ("none", ""):
            return None
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"noise level must be 'auto', 'none' or a number, got {value!r}") from None
    else:
        number = float(value)
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"noise level must be a finite number >= 0, got {value!r}")
    return number


def parse_noise_correlation(value: str | float) -> float | str:
    """``"auto"`` → ``"auto"``; ``"white"`` → 0.0; a number in [-1, 1] (string or float) → float.

    The lag-1 spatial correlation of the noise, for models that take it (``ffdunet(correlation_input=True)``):
    0 for white noise (added in a test or a synthetic benchmark), 0.3-0.9 for a CT kernel's noise.

    Examples
    --------
    >>> parse_noise_correlation("white"), parse_noise_correlation("AUTO"), parse_noise_correlation("0.6")
    (0.0, 'auto', 0.6)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "white"):
            return "auto" if text == "auto" else 0.0
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"noise correlation must be 'auto', 'white' or a number in [-1, 1], got {value!r}"
            ) from None
    else:
        number = float(value)
    if not -1.0 <= number <= 1.0:
        raise ValueError(f"noise correlation must be in [-1, 1], got {value!r}")
    return number


@dataclass(frozen=True)
class DenoiseOptions:
    """How to run a denoiser over an image.

    Parameters
    ----------
    noise_level
        The noise std **in the image's own units** (HU for CT, stored grey levels for PNG/TIFF and
        X-ray DICOM, the array's own values for an array), ``"auto"`` (estimated per slice in those
        units with :func:`meddenoise.noise.estimate_noise_in_units`: :func:`meddenoise.noise.estimate_ct_noise` for CT in HU,
        :func:`meddenoise.noise.estimate_noise_std` otherwise) or ``None`` (the denoiser decides).
        It reaches a denoiser that uses it (:attr:`~meddenoise.denoiser.Denoiser.uses_sigma`) on the
        denoiser's [0, 1] scale: ``sigma = noise_level / (high - low)`` of the intensity mapping.
    strength
        How hard to denoise, >= 0: 0 returns the input unchanged, 1 is the default. A denoiser given a
        noise level gets ``strength * sigma``; for any other (a blind model, or ``noise_level=None``)
        the output is blended: ``input + strength * (denoised - input)`` (above 1 this extrapolates
        the removed component; values are clipped to the intensity mapping's range). Above 1 a
        denoiser whose ``strength_above_one`` is ``"repeat"`` (the shipped ``ct``) instead runs again
        on its own output, told the same level (:func:`~meddenoise.denoiser.strength_passes`: 2 is two
        passes, 1.5 half way from one to two).
    tile, overlap
        Tile side and overlap in pixels (:func:`~meddenoise.pipeline.tiling.denoise_tiled`); without a
        tile side an image up to 1024x1024 is denoised whole and a larger one in 640-px tiles
        (:func:`~meddenoise.pipeline.tiling.resolve_tile`).
    batch_size
        Tiles per denoiser call (memory grows with it).
    noise_correlation
        For a model that takes the noise's kind (:func:`~meddenoise.denoiser.takes_noise_correlation`):
        its lag-1 spatial correlation, ``"auto"`` (estimated per slice where the level is read:
        :func:`meddenoise.noise.estimate_noise_correlation_in_units`), ``"white"`` (0: white noise, as in
        a synthetic test) or a number in [-1, 1] (:func:`parse_noise_correlation`). Other denoisers ignore it.
    """

    noise_level: str | float | None = "auto"
    strength: float = 1.0
    tile: int | None = None
    overlap: int = DEFAULT_OVERLAP
    batch_size: int = 1
    noise_correlation: str | float = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_level", parse_noise_level(self.noise_level))
        object.__setattr__(self, "noise_correlation", parse_noise_correlation(self.noise_correlation))
        object.__setattr__(self, "strength", check_strength(self.strength))
        if self.tile is not None and self.tile < 16:
            raise ValueError(f"tile must be >= 16 pixels, got {self.tile}")
        smallest = DEFAULT_TILE if self.tile is None else self.tile  # the smallest tile it may get
        if not 0 <= self.overlap < smallest // 2:
            raise ValueError(f"overlap must be in [0, tile/2), got {self.overlap} for tile {smallest}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


NoiseSource = Literal["estimated", "given", "none"]


@dataclass
class SliceReport:
    """What happened to the pixels: the intensity mapping, the noise level per slice and the strength.

    Attributes
    ----------
    mapping
        The intensity mapping (original units → [0, 1]).
    units
        The image's units (``"HU"``, ``"counts"``, ``""`` ...).
    noise_source
        ``"estimated"`` (``noise_level="auto"``), ``"given"`` (a number) or ``"none"``.
    noise
        Per slice, the noise std in the image's units (``None`` under ``"none"``).
    sigmas
        Per slice, the ``sigma`` the denoiser received on its [0, 1] scale (strength included, unless it
        repeats), or ``None`` when it got none.
    strength
        :attr:`DenoiseOptions.strength`.
    passes
        How many times the denoiser ran on each slice: 1, or more for a strength above 1 on a denoiser
        that repeats (:func:`~meddenoise.denoiser.strength_passes`).
    uses_sigma
        Whether the denoiser takes a noise level.
    edge_restore
        The edge restoration applied to the denoiser's output (its ``edge_restore``, e.g. the ``ct``
        model's 0.4; 0 for none: :mod:`meddenoise.models.edge_restore`).
    edge_restore_correlated_only
        Whether it acts only where the removed noise is correlated, not on white noise (the denoiser's
        ``edge_restore_correlated_only``; the ``ct`` model's does).
    texture
        The share of the removed fine-grained noise put back (the denoiser's ``texture``; 0 for none:
        :mod:`meddenoise.models.texture`); with ``texture_auto`` the largest it can be.
    texture_auto
        Whether that share follows the noise level (``--texture auto`` or ``blend``); ``textures`` then holds
        it per slice.
    texture_setting
        The word of that rule (``"auto"``, ``"blend"``: the denoiser's ``texture_setting``), for the report.
    textures
        Per slice, the most the noise level allows to be put back (with ``texture_auto``; the denoiser puts
        back less where the removed noise is white; ``None`` for a slice whose level the denoiser estimates
        itself; else empty).
    tiles
        Tiles denoised in all.
    uses_correlation
        Whether the denoiser takes the noise's lag-1 correlation (its kind: 0 for white noise).
    correlation_source
        ``"estimated"`` (``noise_correlation="auto"``) or ``"given"``.
    correlations
        Per slice, the noise correlation the denoiser was told (with ``uses_correlation``).
    scanner_between
        With ``--texture auto`` around a network that repeats and takes the noise's kind (``ct``): the told
        correlations from which the noise counts as a scanner's, which gets one more pass and the blend
        (the denoiser's ``scanner_between``: :mod:`meddenoise.models.texture`); else ``None``.
    """

    mapping: Normalizer
    units: str = ""
    noise_source: NoiseSource = "none"
    noise: list[float | None] = field(default_factory=list)
    sigmas: list[float | None] = field(default_factory=list)
    strength: float = 1.0
    passes: int = 1
    uses_sigma: bool = False
    edge_restore: float = 0.0
    edge_restore_correlated_only: bool = False
    texture: float = 0.0
    texture_auto: bool = False
    texture_setting: str = "auto"
    textures: list[float | None] = field(default_factory=list)
    tiles: int = 0
    uses_correlation: bool = False
    correlation_source: Literal["estimated", "given"] = "estimated"
    correlations: list[float] = field(default_factory=list)
    scanner_between: tuple[float, float] | None = None

    @property
    def noise_ignored(self) -> bool:
        """A number was given as the noise level but the denoiser cannot use one."""
        return self.noise_source == "given" and not self.uses_sigma

    @property
    def correlation_ignored(self) -> bool:
        """The noise's kind was given (``white`` or a number) but the denoiser cannot use it."""
        return self.correlation_source == "given" and not self.uses_correlation

    def describe(self) -> str:
        """One line, e.g. ``estimated noise 17.5 HU; strength 1.0`` (:func:`describe_noise`)."""
        return describe_noise([self])


def _format_level(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _with_units(text: str, units: str) -> str:
    # "intensity" (PNG, TIFF, NIfTI) means the stored values themselves: no unit to print
    return f"{text} {units}" if units and units != "intensity" else text


def describe_noise(reports: Sequence[SliceReport]) -> str:
    """The noise level and strength of one or more reports (a file, or all files of a series) in one line.

    Examples: ``estimated noise 17.5 HU; strength 1.0``, ``estimated noise 17.5 HU (per slice
    15.2-19.0); strength 0.5``, ``noise 20 HU (given), not used by the denoiser; strength 1.0``,
    ``noise level left to the denoiser; strength 1.0``, ``...; strength 2.0 (2 passes)`` for a denoiser
    that repeats past strength 1; a denoiser that restores edges adds e.g.
    ``; edge restoration 0.4 on correlated noise``, one that keeps a noise texture ``; noise texture 0.5`` (``; noise texture
    auto up to 0.35``, or ``up to 0-0.7`` over slices, when it follows the noise level: the most the level
    allows, less where the removed noise is white; ``auto 0`` when the level allows none; ``blend`` for
    ``--texture blend``); ``--texture auto`` on the ``ct`` model adds ``; a scanner's noise: one more pass``
    (``on 3 of 5 slices``) where the noise correlation it was told is a CT kernel's (the blend's share is
    in the texture's).
    """
    if not reports:
        return ""
    first = reports[0]
    levels = [v for r in reports for v in r.noise if v is not None]
    strength = f"strength {first.strength!r}"
    if first.passes > 1:  # a denoiser that runs again on its own output past strength 1
        strength += f" ({first.passes} passes)"
    if first.edge_restore:
        strength += f"; edge restoration {first.edge_restore:g}"
        if first.edge_restore_correlated_only:
            strength += " on correlated noise"
    if first.texture_auto:
        shares = [s for r in reports for s in r.textures if s is not None]
        strength += f"; noise texture {first.texture_setting}"
        if shares:  # the most each slice whose level it gave can get: the gate may put back less
            low, high = min(shares), max(shares)
            span = f"{low:.2g}" + ("" if f"{low:.2g}" == f"{high:.2g}" else f"-{high:.2g}")
            strength += f" up to {span}" if high else " 0"
    elif first.texture:
        strength += f"; noise texture {first.texture:g}"
    if first.scanner_between is not None:  # --texture auto on a network told the noise's kind (ct)
        told = [c for r in reports for c in r.correlations]
        scanned = sum(c > first.scanner_between[0] for c in told)
        if scanned:
            where = "" if scanned == len(told) else f" on {scanned} of {len(told)} slices"
            strength += f"; a scanner's noise{where}: one more pass"
    if first.noise_source == "none" or not levels:
        return f"noise level left to the denoiser; {strength}"
    mean = _with_units(_format_level(float(np.mean(levels))), first.units)
    text = f"estimated noise {mean}" if first.noise_source == "estimated" else f"noise {mean} (given)"
    low, high = min(levels), max(levels)
    if len(levels) > 1 and _format_level(low) != _format_level(high):
        text += f" (per slice {_format_level(low)}-{_format_level(high)})"
    if not first.uses_sigma:
        text += ", not used by the denoiser"
    correlations = [c for r in reports for c in r.correlations]
    if first.uses_correlation and correlations:
        low, high = min(correlations), max(correlations)
        span = f"{low:.2f}" + ("" if f"{low:.2f}" == f"{high:.2f}" else f"-{high:.2f}")
        text += f", correlation {span}" + (" (given)" if first.correlation_source == "given" else "")
    return f"{text}; {strength}"


def noise_ignored_note(label: str, report: SliceReport) -> str:
    """The one line said (once per run) when a given noise level meets a denoiser that takes none."""
    given = next((v for v in report.noise if v is not None), 0.0)
    return (
        f"note: {label} does not take a noise level; the noise level "
        f"{_with_units(f'{given:g}', report.units)} is ignored (strength still applies)"
    )


def correlation_ignored_note(label: str) -> str:
    """The one line said (once per run) when a given noise kind meets a denoiser that takes none."""
    return (
        f"note: {label} does not take the noise's kind; the noise correlation given is ignored "
        "(only models trained with it use one, e.g. the shipped ct)"
    )


def ignored_notes(label: str, report: SliceReport) -> dict[str, str]:
    """What was given to ``label`` but cannot be used (``"noise level"``, ``"noise kind"``) → its note."""
    notes = {"noise level": noise_ignored_note(label, report)} if report.noise_ignored else {}
    return notes | ({"noise kind": correlation_ignored_note(label)} if report.correlation_ignored else {})


#: The blind noise estimator behind ``noise_level="auto"`` and ``meddenoise info`` (image units).
NOISE_ESTIMATOR = "meddenoise.noise.estimate_noise_std"
#: Its CT counterpart, for images in HU: the mode of the local std in flat fat and soft tissue.
CT_NOISE_ESTIMATOR = "meddenoise.noise.estimate_ct_noise"


def noise_estimator_name(units: str | None) -> str:
    """The estimator ``noise_level="auto"`` uses for images in ``units`` (``"HU"``: the CT one), by name."""
    from meddenoise.noise import noise_estimator_for

    return f"meddenoise.noise.{noise_estimator_for(units).__name__}"


def denoise_pixels(
    pixels: np.ndarray,
    denoiser: Denoiser,
    *,
    intensity: IntensitySpec,
    modality: str | None = None,
    units: str | None = None,
    original_dtype: str | None = None,
    file_format: str | None = None,
    value_range: tuple[float, float] | None = None,
    options: DenoiseOptions | None = None,
    progress: Callable[[int], None] | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, SliceReport]:
    """Denoise an image ``(H, W)`` or stack ``(N, H, W)`` given in original units.

    ``intensity`` with ``modality``, ``units``, ``original_dtype``, ``file_format`` and ``value_range``
    chooses the mapping (:func:`meddenoise.data.fit_intensity`). It is fitted once on the whole input
    (so every slice of a volume shares it), each slice is denoised in tiles, and the result is mapped
    back to the original units; pixels that lay outside the mapping's range keep their original value.

    The noise level (:attr:`DenoiseOptions.noise_level`, in the image's units, estimated per slice
    under ``"auto"``) is converted to the denoiser's [0, 1] scale by the same mapping,
    ``sigma = strength * noise / (high - low)``, and passed to a denoiser that uses it; any other gets
    no ``sigma`` and its output is blended by ``strength``. ``strength=0`` returns the input as it is.

    Memory: slices are denoised one at a time, each in streamed rows of tiles
    (:func:`~meddenoise.pipeline.tiling.iter_tiled_rows`); the mapping to [0, 1] and back is applied
    tile by tile and row block by row block, so besides the input and the output only one row of
    tiles is held in float.

    ``out``, when given, receives the result (the input's shape): float, or an integer type, in which
    case values are rounded and clipped to it as an integer file writer would
    (``clip(rint(x), min, max)``) — half the memory of a float32 result for 16-bit images.

    Returns
    -------
    (denoised, report)
        The pixels in original units (``out``, or float32 of the input's shape), and a :class:`SliceReport`.
    """
    options = options or DenoiseOptions()
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or a stack (N, H, W), got shape {arr.shape}")
    if min(arr.shape[-2:]) < 2:  # said here, not by the noise estimator or a filter deep inside
        raise ValueError(
            f"an image of {arr.shape[-2]}x{arr.shape[-1]} pixels is too small to denoise (2x2 at least)"
        )
    mapping = fit_intensity(
        arr,
        intensity,
        modality=modality,
        units=units,
        original_dtype=original_dtype,
        file_format=file_format,
        value_range=value_range,
    )
    stack = arr if arr.ndim == 3 else arr[None]
    if out is None:
        out = np.empty(arr.shape, dtype=np.float32)
    if out.shape != arr.shape:
        raise ValueError(f"out has shape {out.shape}, the image {arr.shape}")
    out_stack = out if out.ndim == 3 else out[None]
    report = _new_report(mapping, units, options, denoiser)
    for slice_pixels, out_slice in zip(stack, out_stack, strict=True):
        _denoise_slice(slice_pixels, out_slice, denoiser, report, options=options, progress=progress)
    return out, report


def denoise_slices(
    slices: Iterable[np.ndarray],
    denoiser: Denoiser,
    *,
    mapping: Normalizer,
    units: str | None = None,
    options: DenoiseOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Iterator[np.ndarray], SliceReport]:
    """Denoise a volume given slice by slice (e.g. read lazily from its file), one slice in memory at a time.

    The same computation as :func:`denoise_pixels` on the stacked slices, whose intensity ``mapping``
    (fitted on the whole volume) the caller gives. Returns the denoised slices (float32, original
    units), produced as they are consumed, and the report they fill in meanwhile.
    """
    options = options or DenoiseOptions()
    report = _new_report(mapping, units, options, denoiser)

    def denoised() -> Iterator[np.ndarray]:
        for slice_pixels in slices:
            arr = np.asarray(slice_pixels, dtype=np.float32)
            if arr.ndim != 2 or min(arr.shape) < 2:
                raise ValueError(f"expected slices (H, W) of 2x2 pixels at least, got shape {arr.shape}")
            out = np.empty(arr.shape, dtype=np.float32)
            _denoise_slice(arr, out, denoiser, report, options=options, progress=progress)
            yield out

    return denoised(), report


def _new_report(
    mapping: Normalizer, units: str | None, options: DenoiseOptions, denoiser: Denoiser
) -> SliceReport:
    level = options.noise_level
    return SliceReport(
        mapping=mapping,
        units=units or "",
        noise_source="estimated" if level == "auto" else ("none" if level is None else "given"),
        strength=options.strength,
        passes=strength_passes(options.strength)[0] if repeats_above_one(denoiser) else 1,
        uses_sigma=denoiser.uses_sigma,
        # duck-typed: the pipeline does not import the networks' wrappers (EdgeRestoring sets it)
        edge_restore=float(getattr(denoiser, "edge_restore", 0.0)),
        edge_restore_correlated_only=bool(getattr(denoiser, "edge_restore_correlated_only", False)),
        texture=float(getattr(denoiser, "texture", 0.0)),  # TextureKeeping sets it
        texture_auto=bool(getattr(denoiser, "texture_auto", False)),
        texture_setting=str(getattr(denoiser, "texture_setting", "auto")),
        scanner_between=getattr(denoiser, "scanner_between", None),
        uses_correlation=takes_noise_correlation(denoiser),
        correlation_source="estimated" if options.noise_correlation == "auto" else "given",
    )


def _denoise_slice(
    slice_pixels: np.ndarray,
    out: np.ndarray,
    denoiser: Denoiser,
    report: SliceReport,
    *,
    options: DenoiseOptions,
    progress: Callable[[int], None] | None,
) -> None:
    """Denoise one slice (original units) into ``out`` (its shape, float or integer); append its noise
    level and sigma to ``report``."""
    # not at import time: the CLI starts without them
    from meddenoise.noise import (
        estimate_noise_correlation_in_units,
        estimate_noise_in_units,
        estimate_noise_reading_in_units,
    )

    mapping, level, store = report.mapping, options.noise_level, _storer(out.dtype)
    units = report.units or None
    read_kind = report.uses_correlation and options.noise_correlation == "auto"
    # the level and the kind of the noise read in one pass when both are to be read
    reading = estimate_noise_reading_in_units(slice_pixels, units) if level == "auto" and read_kind else None
    noise = (
        reading.std
        if reading is not None
        else (estimate_noise_in_units(slice_pixels, units) if level == "auto" else level)
    )
    if not (noise is None or isinstance(noise, float)):  # DenoiseOptions parses it: only a bypass gets here
        raise TypeError(f"noise level must be a number, 'auto' or None, got {noise!r}")
    report.noise.append(noise)
    passes = report.passes
    # the noise std on the denoiser's [0, 1] scale: the mapping is affine, (x - low) / (high - low); a
    # denoiser that repeats is told the level itself on every pass
    told = options.strength if passes == 1 else 1.0
    sigma = None if noise is None or not denoiser.uses_sigma else told * noise / mapping.width
    report.sigmas.append(sigma)
    if options.strength == 0:  # identity: the input itself, not a denoiser told "no noise"
        if report.texture_auto:
            report.textures.append(denoiser.texture_at(sigma))  # type: ignore[attr-defined]
        out[...] = store(slice_pixels)
        return
    correlation: float | None = None
    if report.uses_correlation:  # which kind of noise: read where its level is read, unless given
        if reading is not None:
            correlation = reading.correlation
        elif read_kind:
            correlation = estimate_noise_correlation_in_units(slice_pixels, units)
        else:
            correlation = float(options.noise_correlation)
        report.correlations.append(correlation)
    if report.texture_auto:  # the share this slice gets, at the level (and kind) the network is told
        report.textures.append(denoiser.texture_at(sigma, correlation))  # type: ignore[attr-defined]
    # noisy air under a CT window's -1024, and the noise's tails past percentiles fitted to the noisy
    # image, are denoised, not left as they are
    margin = noise_margins(
        mapping, noise if noise is not None else partial(estimate_noise_in_units, slice_pixels, units)
    )
    report.tiles += count_tiles(*slice_pixels.shape, tile=options.tile, overlap=options.overlap)
    rows = iter_tiled_rows(
        slice_pixels,
        denoiser,
        tile=options.tile,
        overlap=options.overlap,
        sigma=sigma,
        batch_size=options.batch_size,
        progress=progress,
        prepare=partial(to_unit, mapping, margin=margin),
    )
    # the rows are denoised as they are drawn: told the correlation, and past strength 1 a repeating
    # network runs again on its own output inside any edge restoration and texture
    with told_noise_correlation(denoiser, correlation), repeated_passes(denoiser, options.strength):
        for top, denoised in rows:
            original = slice_pixels[top : top + len(denoised)]
            if sigma is None and options.strength != 1 and passes == 1:  # strength as a blend
                unit = to_unit(mapping, original, margin=margin)  # (from_unit clips to the range)
                denoised = unit + np.float32(options.strength) * (denoised - unit)
            out[top : top + len(denoised)] = store(
                from_unit(mapping, denoised, original=original, margin=margin)
            )


def _storer(dtype: np.dtype) -> Callable[[np.ndarray], np.ndarray]:
    """Float32 values in original units → ``dtype``: rounded and clipped for integers, as a writer would."""
    if not np.issubdtype(dtype, np.integer):
        return lambda values: values
    info = np.iinfo(dtype)
    return lambda values: np.clip(np.rint(values), info.min, info.max).astype(dtype)
