"""Noise texture: put back a share of the fine-grained part of what a network removed.

A denoiser trained for the mean squared error removes fine-grained noise almost completely and leaves
some coarse mottle: the noise left in its output has its power at low frequencies, the blotchy,
"plastic" look radiologists object to (its noise power spectrum peaks lower than the scan's own). CT
vendors answer it by blending some of the original noise back in. Here only the fine part is put back:

``out = y + amount * (r - G(r))``, ``r = x - y``

with ``x`` the network's input, ``y`` its output and ``G`` a Gaussian of :data:`TEXTURE_HIGHPASS` px:
``r - G(r)`` is the removed component without its coarse part, so the coarse mottle is not made worse
and what comes back is grain at the frequencies of the scan's own noise (and the finest detail of
edges, which the network had smoothed). The price is noise: the output keeps about ``amount`` of the
fine noise's std. ``amount = 0`` changes nothing; unlike edge restoration it needs no noise level.

Measured on the held-apart CT of issue 13 (``docs/low-dose-ct.md``, matched kernel, blind): the ``ct``
model's error NPS peaks at 0.16 / 0.06 cycles/mm at 25 % / 10 % simulated dose (BM3D told the true
std: 0.15 / 0.17); ``amount = 0.7`` moves it to the scan's own noise texture at both doses (0.16 /
0.18) for 0.8 / 1.7 dB of PSNR (still +2.0 / +1.9 dB over BM3D told), but removes only ~20 % instead of
~50 % of the noise on routine-dose scans. So no fixed amount is a default: it is a setting for readers who
want the scan's texture back everywhere (``meddenoise denoise --texture 0.7``).

``--texture auto`` (:class:`TextureRamp`) makes the amount follow the noise level the network is given:
nothing up to :data:`AUTO_TEXTURE_START_HU`, :data:`AUTO_TEXTURE_AMOUNT` from :data:`AUTO_TEXTURE_FULL_HU`
on, linear in between. The two levels come from the ``ct`` model's *training* slices (35 TCGA-LUAD slices,
none held apart): their own (routine-dose) noise is at most 30.6 HU for 90 % of them, and 10 % of their dose
gives a median 51 HU. So routine scans mostly keep the default's noise reduction and a 10 %-dose scan gets
the texture back. It is defined in HU, so only for models whose intensity mapping is a fixed CT window (the
``ct`` model); for others ``auto`` puts nothing back. Measured on the held-apart CT: ``docs/low-dose-ct.md``.

``auto`` also asks whether the removed noise is a scanner's: a CT reconstruction kernel makes its noise
spatially correlated, white noise (added in a test, or a synthetic benchmark) is not. The ramp's amount is
scaled by :func:`correlation_gate` of the removed component's lag-1 correlation
(:func:`removed_correlation`): nothing at or under :data:`AUTO_TEXTURE_CORRELATION`'s first value, all of it
from the second. Measured on the ``ct`` model's training slices (the 35 above): with the protocol's
matched-kernel low-dose noise (25 % and 10 % dose) the removed component's lag-1 correlation is 0.26-0.90
(the sharpest kernel the lowest), with 50 or 80 HU of white noise -0.07 to 0.00. So a 10 %-dose scan gets
its texture back and white noise of the same level is left denoised. With the gate ``auto`` is the ``ct``
model's default (its card's ``texture``): on the held-apart CT it keeps the texture at low dose and changes
the white-noise card by 0.03 dB at most (``docs/low-dose-ct.md``, "The default texture").

``--texture blend`` (:func:`blend_texture_ramp`) puts back a share of the *whole* removed component
(``coarse=1``: ``out = (1 - a) y + a x``, a blend with the input as CT vendors offer it) instead of its
fine part: none up to :data:`BLEND_TEXTURE_START_HU`, all of the share from :data:`BLEND_TEXTURE_FULL_HU`,
with ``auto``'s correlation gate; the share itself follows the removed component's lag-1 correlation:
:data:`BLEND_TEXTURE_AMOUNT` up to the first of :data:`BLEND_TEXTURE_CORRELATED_BETWEEN`,
:data:`BLEND_TEXTURE_CORRELATED_AMOUNT` from the second (a soft kernel's coarse noise needs more of itself
back to keep its texture than a sharp kernel's). The fine part alone cannot bring back the texture of soft
kernels, whose noise sits at the frequencies ``G`` keeps; the whole component can. The values were chosen
on the ``ct`` model's training slices (21 TCGA-LUAD patients, one slice each, none held apart; the LDCT
protocol at 25 % and 10 % dose, blind, seed 1000) by ``scripts/calibrate_texture_ramp.py``: of 94 ramps at
strength 2 (two passes of the network, inside the texture), among those whose mean texture distance is at
or under BM3D's (told the true std) at both doses, whose mean PSNR is 1.25 dB over BM3D's and that keep 35 %
of the routine scans' noise removed, the one that meets issue 13's PSNR and texture targets together in the
most patients: 0.4 to 0.7 over correlations 0.7 to 0.9, from 15 to 20 HU (2026-12-02 night; before, by the
best PSNR among ramps of one share: 0.6 from 15 to 30 HU, and at strength 1 only 20 to 35 HU). It is meant
with ``--strength 2`` (``meddenoise denoise --texture blend --strength 2``); it is not the default
(``docs/low-dose-ct.md``, "`--texture blend`").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import ndimage

from meddenoise.models.denoiser import BatchDenoiser, noise_levels_for
from meddenoise.models.edge_restore import check_edge_restore

__all__ = [
    "AUTO_TEXTURE",
    "AUTO_TEXTURE_AMOUNT",
    "AUTO_TEXTURE_CORRELATION",
    "AUTO_TEXTURE_FULL_HU",
    "AUTO_TEXTURE_START_HU",
    "BLEND_TEXTURE",
    "BLEND_TEXTURE_AMOUNT",
    "BLEND_TEXTURE_CORRELATED_AMOUNT",
    "BLEND_TEXTURE_CORRELATED_BETWEEN",
    "BLEND_TEXTURE_FULL_HU",
    "BLEND_TEXTURE_START_HU",
    "TEXTURE_HIGHPASS",
    "TextureAmount",
    "TextureKeeping",
    "TextureRamp",
    "TextureSetting",
    "auto_texture_ramp",
    "blend_texture_ramp",
    "check_texture",
    "correlation_gate",
    "keep_texture",
    "parse_texture",
    "removed_correlation",
    "texture_suffix",
]

#: Std (px) of the Gaussian whose output (the coarse part) is taken out of the removed component.
TEXTURE_HIGHPASS = 1.5
#: ``--texture auto``: nothing put back up to this noise level (HU) ...
AUTO_TEXTURE_START_HU = 30.0
#: ... the full amount from this one on, linear in between (the module docstring says where they come from).
AUTO_TEXTURE_FULL_HU = 50.0
#: ``--texture auto``: the amount at and above :data:`AUTO_TEXTURE_FULL_HU`.
AUTO_TEXTURE_AMOUNT = 0.7
#: ``--texture auto``: no texture where the removed component's lag-1 correlation is at or under the first
#: value (white noise), all of the ramp's amount from the second (a CT kernel's noise), linear between.
AUTO_TEXTURE_CORRELATION = (0.05, 0.15)
#: The word that asks for the noise-level-dependent amount.
AUTO_TEXTURE: Literal["auto"] = "auto"
#: ``--texture blend``: none of the whole removed component put back up to this noise level (HU) ...
BLEND_TEXTURE_START_HU = 15.0
#: ... :data:`BLEND_TEXTURE_AMOUNT` of it (or more: below) from this one on, linear in between (chosen on the
#: ``ct`` model's training slices: the module docstring).
BLEND_TEXTURE_FULL_HU = 20.0
#: ``--texture blend``: the share of the whole removed component at and above :data:`BLEND_TEXTURE_FULL_HU`
#: where the removed component's lag-1 correlation is at or under :data:`BLEND_TEXTURE_CORRELATED_BETWEEN`'s
#: first value (sharper kernels) ...
BLEND_TEXTURE_AMOUNT = 0.4
#: ... this share from its second value on (soft kernels' coarse noise), linear between.
BLEND_TEXTURE_CORRELATED_AMOUNT = 0.7
#: ``--texture blend``: the lag-1 correlations over which the share rises (see the two above).
BLEND_TEXTURE_CORRELATED_BETWEEN = (0.7, 0.9)
#: The word that asks for a noise-level-dependent blend with the input (the whole removed component).
BLEND_TEXTURE: Literal["blend"] = "blend"

#: A texture setting as users give it: an amount in [0, 1], ``"auto"`` or ``"blend"``.
TextureSetting = float | Literal["auto", "blend"]


@dataclass(frozen=True)
class TextureRamp:
    """An amount that follows the noise level: 0 up to ``start``, ``amount`` from ``full``, linear between.

    Levels are on the network's [0, 1] scale (what it is told, strength included). With ``correlation``
    (two lag-1 correlations, low < high) the amount is also scaled by :func:`correlation_gate` of the
    removed component's correlation (:meth:`share`): none for white noise. With ``correlated_amount`` the
    full-level amount itself follows that correlation: ``amount`` at or under ``correlated_between[0]``,
    ``correlated_amount`` from ``correlated_between[1]`` on (by default the blend's
    :data:`BLEND_TEXTURE_CORRELATED_BETWEEN`), linear between (a soft kernel's coarse noise,
    lag-1 correlation near 0.9, needs more of itself back than a sharp kernel's to keep its texture).

    Examples
    --------
    >>> ramp = TextureRamp(start=0.01, full=0.03, amount=0.7)
    >>> ramp.at(0.005), ramp.at(0.02), ramp.at(0.1)
    (0.0, 0.35, 0.7)
    >>> gated = TextureRamp(start=0.01, full=0.03, amount=0.7, correlation=(0.05, 0.15))
    >>> gated.share(0.1, correlation=0.0), gated.share(0.1, correlation=0.1), gated.share(0.1, correlation=0.6)
    (0.0, 0.35, 0.7)
    >>> rising = TextureRamp(start=0.01, full=0.03, amount=0.4, correlated_amount=0.7, correlated_between=(0.7, 0.9))
    >>> rising.share(0.1, correlation=0.5), rising.share(0.1, correlation=0.8), rising.share(0.02, correlation=0.95)
    (0.4, 0.55, 0.35)
    >>> rising.at(0.02)  # the most, whatever the correlation
    0.35
    """

    start: float
    full: float
    amount: float
    correlation: tuple[float, float] | None = None
    coarse: float = 0.0
    setting: Literal["auto", "blend"] = AUTO_TEXTURE
    correlated_amount: float | None = None
    correlated_between: tuple[float, float] = BLEND_TEXTURE_CORRELATED_BETWEEN

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.full:
            raise ValueError(f"texture ramp: need 0 <= start < full, got {self.start} and {self.full}")
        check_texture(self.amount, owner="texture ramp")
        for bounds in (self.correlation, self.correlated_between):
            if bounds is not None and not -1 <= bounds[0] < bounds[1] <= 1:
                raise ValueError(f"texture ramp: need -1 <= low < high <= 1 correlations, got {bounds}")
        check_texture(self.coarse, owner="texture ramp: coarse share")
        if self.correlated_amount is not None:
            check_texture(self.correlated_amount, owner="texture ramp: correlated amount")

    @property
    def largest(self) -> float:
        """The most the ramp puts back at any level and correlation."""
        return max(self.amount, self.correlated_amount or 0.0)

    def amount_for(self, correlation: float) -> float:
        """The full-level amount for a removed component of lag-1 ``correlation``: ``amount``, or with a
        ``correlated_amount`` that one from ``correlated_between[1]`` on, linear from ``correlated_between[0]``
        (the gate of ``correlation`` not applied)."""
        if self.correlated_amount is None:
            return self.amount
        rise = _ramp(correlation, *self.correlated_between)
        return self.amount + (self.correlated_amount - self.amount) * rise

    def at(self, level: float) -> float:
        """The most put back at noise level ``level``, whatever the correlation (rounded to 1e-6, so equal
        levels give equal amounts)."""
        return round(self.largest * _ramp(level, self.start, self.full), 6)

    def share(self, level: float, *, correlation: float) -> float:
        """The amount at ``level`` for a removed component of lag-1 ``correlation``: :meth:`amount_for` the
        correlation, times the level's ramp and the gate (when the ramp has one)."""
        gate = 1.0 if self.correlation is None else correlation_gate(correlation, self.correlation)
        return round(self.amount_for(correlation) * _ramp(level, self.start, self.full) * gate, 6)


def correlation_gate(correlation: float, bounds: tuple[float, float] = AUTO_TEXTURE_CORRELATION) -> float:
    """0 at or under ``bounds[0]``, 1 from ``bounds[1]``, linear between: how much a removed component of lag-1
    ``correlation`` is treated as a scanner's noise.

    Examples
    --------
    >>> correlation_gate(-0.05), correlation_gate(0.12), correlation_gate(0.8)
    (0.0, 0.7, 1.0)
    """
    return _ramp(correlation, *bounds)


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or under ``low``, 1 from ``high``, linear between (the rule of both the level ramp and the gate)."""
    return min(max((float(value) - low) / (high - low), 0.0), 1.0)


def removed_correlation(noisy: np.ndarray, denoised: np.ndarray) -> float:
    """Lag-1 spatial correlation of the removed component ``noisy - denoised`` (2D), rows and columns averaged.

    About 0 for white noise, 0.3-0.9 for the noise of CT reconstruction kernels; 0 when nothing was removed.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> white = rng.normal(0, 1, (256, 256)).astype(np.float32)
    >>> blurred = ndimage.gaussian_filter(white, 1.0)
    >>> zero = np.zeros_like(white)
    >>> abs(removed_correlation(white, zero)) < 0.01, round(removed_correlation(blurred, zero), 1)
    (True, 0.8)
    """
    removed = np.asarray(noisy, dtype=np.float32) - np.asarray(denoised, dtype=np.float32)
    if removed.ndim != 2:
        raise ValueError(f"removed_correlation: expected 2D images, got shape {removed.shape}")
    removed -= removed.mean(dtype=np.float64)
    power = float(np.sum(removed * removed, dtype=np.float64))
    if not power > 0:
        return 0.0
    across = float(np.sum(removed[:, 1:] * removed[:, :-1], dtype=np.float64))
    down = float(np.sum(removed[1:] * removed[:-1], dtype=np.float64))
    return (across + down) / (2.0 * power)


#: What a :class:`TextureKeeping` puts back: a fixed amount or one that follows the noise level.
TextureAmount = float | TextureRamp


def auto_texture_ramp(hu_per_unit: float) -> TextureRamp:
    """The ``--texture auto`` ramp for a network whose [0, 1] scale spans ``hu_per_unit`` HU (a CT window's width)."""
    return _ramp_in_hu(
        hu_per_unit, AUTO_TEXTURE_START_HU, AUTO_TEXTURE_FULL_HU, AUTO_TEXTURE_AMOUNT, setting=AUTO_TEXTURE
    )


def blend_texture_ramp(hu_per_unit: float) -> TextureRamp:
    """The ``--texture blend`` ramp for a network whose [0, 1] scale spans ``hu_per_unit`` HU (a CT window's
    width): the whole removed component (``coarse=1``), the levels of :data:`BLEND_TEXTURE_START_HU` and
    :data:`BLEND_TEXTURE_FULL_HU`, an amount from :data:`BLEND_TEXTURE_AMOUNT` to
    :data:`BLEND_TEXTURE_CORRELATED_AMOUNT` as the removed component's correlation rises over
    :data:`BLEND_TEXTURE_CORRELATED_BETWEEN`, the correlation gate of ``auto``."""
    ramp = _ramp_in_hu(
        hu_per_unit,
        BLEND_TEXTURE_START_HU,
        BLEND_TEXTURE_FULL_HU,
        BLEND_TEXTURE_AMOUNT,
        setting=BLEND_TEXTURE,
        coarse=1.0,
    )
    return replace(ramp, correlated_amount=BLEND_TEXTURE_CORRELATED_AMOUNT)  # over the default correlations


def _ramp_in_hu(
    hu_per_unit: float,
    start_hu: float,
    full_hu: float,
    amount: float,
    *,
    setting: Literal["auto", "blend"],
    coarse: float = 0.0,
) -> TextureRamp:
    """A gated ramp whose levels are given in HU, on a [0, 1] scale that spans ``hu_per_unit`` HU."""
    if not hu_per_unit > 0:
        raise ValueError(f"{setting} texture: the window width must be positive, got {hu_per_unit}")
    return TextureRamp(
        start=start_hu / hu_per_unit,
        full=full_hu / hu_per_unit,
        amount=amount,
        correlation=AUTO_TEXTURE_CORRELATION,
        coarse=coarse,
        setting=setting,
    )


def parse_texture(value: float | str, *, owner: str = "texture") -> TextureSetting:
    """``"auto"``, ``"blend"``, or ``value`` as an amount in [0, 1]; else a one-line ``ValueError`` naming ``owner``.

    Examples
    --------
    >>> parse_texture("auto"), parse_texture(" Blend"), parse_texture("0.5"), parse_texture(0)
    ('auto', 'blend', 0.5, 0.0)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO_TEXTURE:
            return AUTO_TEXTURE
        if text == BLEND_TEXTURE:
            return BLEND_TEXTURE
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{owner}: expected a number in [0, 1], 'auto' or 'blend', got {value!r}"
            ) from None
    return check_texture(value, owner=owner)


def texture_suffix(amount: TextureAmount | TextureSetting) -> str:
    """What a name gets for ``amount``: ``" t0.5"``, ``" tauto"`` / ``" tblend"`` for a ramp (or the word that
    asks for one)."""
    if isinstance(amount, TextureRamp):
        return f" t{amount.setting}"
    return f" t{amount}" if isinstance(amount, str) else f" t{amount:g}"


def check_texture(amount: float, *, owner: str = "texture") -> float:
    """``amount`` as a float in [0, 1], else a one-line ``ValueError`` naming ``owner``."""
    return check_edge_restore(amount, owner=owner)  # the same rule for both shares


def keep_texture(
    noisy: np.ndarray, denoised: np.ndarray, amount: float, *, coarse: float = 0.0
) -> np.ndarray:
    """``denoised + amount * (r - (1 - coarse) G(r))`` with ``r = noisy - denoised``, clipped to [0, 1], float32.

    ``noisy`` and ``denoised`` are one 2D image on the [0, 1] scale; ``amount`` in [0, 1] (0 returns
    ``denoised``). ``coarse`` in [0, 1] is how much of the coarse part ``G(r)`` comes back with the fine
    part: 0 (the default) the fine part only, 1 the whole removed component (a plain blend with the
    input, ``(1 - amount) denoised + amount noisy``). See the module docstring.

    Examples
    --------
    >>> noisy = np.random.default_rng(0).normal(0.5, 0.05, (64, 64)).astype(np.float32)
    >>> flat = np.full_like(noisy, 0.5)
    >>> kept = keep_texture(noisy, flat, 0.5)
    >>> round(float((kept - flat).std() / (noisy - flat).std()), 2)  # half the fine part (95 % of white noise's std)
    0.47
    """
    amount = check_texture(amount)
    coarse = check_texture(coarse, owner="texture: coarse share")
    x = np.asarray(noisy, dtype=np.float32)
    y = np.asarray(denoised, dtype=np.float32)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"keep_texture: expected two 2D images of one shape, got {x.shape} and {y.shape}")
    if amount == 0:
        return y.copy()
    removed = x - y
    kept = removed
    if coarse < 1:
        kept = removed - np.float32(1.0 - coarse) * ndimage.gaussian_filter(removed, TEXTURE_HIGHPASS)
    return np.clip(y + np.float32(amount) * kept, 0.0, 1.0).astype(np.float32)


class TextureKeeping(BatchDenoiser):
    """``base`` followed by :func:`keep_texture` of ``amount`` (fixed, or a :class:`TextureRamp` of the noise level).

    ``name`` defaults to the base's with ``t<amount>`` appended (``ct t0.5``; ``ct tauto`` for a ramp).
    With a ramp each image gets the amount at the noise level it is denoised at (the one given, else the
    base's estimate of it).

    Examples
    --------
    >>> import torch
    >>> from meddenoise.models.denoiser import ModelDenoiser
    >>> zero = torch.nn.Conv2d(1, 1, 1, bias=False)
    >>> _ = torch.nn.init.constant_(zero.weight, 0.0)
    >>> textured = TextureKeeping(ModelDenoiser(zero, name="zero"), 0.5)
    >>> textured.name, textured.texture
    ('zero t0.5', 0.5)
    """

    def __init__(self, base: BatchDenoiser, amount: TextureAmount, *, name: str | None = None) -> None:
        self.base = base
        self.amount: TextureAmount = (
            amount
            if isinstance(amount, TextureRamp)
            else check_texture(amount, owner=f"{base.name}: texture")
        )
        self.name = base.name + texture_suffix(self.amount) if name is None else name
        self.uses_sigma = base.uses_sigma

    @property
    def texture(self) -> float:
        """The amount (a ramp's largest), under the name the pipeline's report reads (``; noise texture 0.5``)."""
        return self.amount.largest if isinstance(self.amount, TextureRamp) else self.amount

    @property
    def texture_auto(self) -> bool:
        """Whether the amount follows the noise level (``--texture auto`` or ``blend``)."""
        return isinstance(self.amount, TextureRamp)

    @property
    def texture_setting(self) -> str:
        """The word of a ramp (``"auto"``, ``"blend"``), else the amount as given (``"0.5"``)."""
        return self.amount.setting if isinstance(self.amount, TextureRamp) else f"{self.amount:g}"

    def texture_at(self, level: float | None) -> float | None:
        """The amount put back at noise level ``level`` ([0, 1] scale), at most (a ramp with a correlation
        gate puts back less where the removed noise is white); ``None`` when a ramp is not told the level
        (it then reads its own estimate, per call)."""
        if isinstance(self.amount, TextureRamp):
            return None if level is None else self.amount.at(level)
        return self.amount

    @property
    def edge_restore(self) -> float:
        """The base's edge restoration (0 without one), for the pipeline's report."""
        return float(getattr(self.base, "edge_restore", 0.0))

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """``base``'s output with a share of its removed fine-grained noise put back, float32 ``(N, H, W)``."""
        batch, levels = self.base.batch_and_levels(images, sigma)  # levels estimated once, not per wrapper
        out = self.base.denoise_batch(batch, sigma=sigma if levels is None else levels)
        if isinstance(self.amount, TextureRamp):
            if levels is None:  # a base that takes no level: the ramp still reads one
                levels = noise_levels_for(batch, sigma, owner=self.name)
            ramp = self.amount
            amounts = [
                ramp.share(float(level), correlation=removed_correlation(x, y))
                if ramp.at(float(level))
                else 0.0
                for x, y, level in zip(batch, out, levels, strict=True)
            ]
        else:
            amounts = [self.amount] * len(batch)
        coarse = self.amount.coarse if isinstance(self.amount, TextureRamp) else 0.0
        return np.stack(
            [
                keep_texture(x, y, a, coarse=coarse) if a else y
                for x, y, a in zip(batch, out, amounts, strict=True)
            ]
        )
