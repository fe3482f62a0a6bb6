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

Since 2026-12-02 ``auto`` also follows the noise's kind the network is told, for a network that takes it and
repeats past strength 1 (``ct``; the ramp's ``scanner``, :func:`auto_texture_ramp`): an image whose told (or
read) lag-1 noise correlation is over :data:`SCANNER_NOISE_CORRELATION`'s second value is a scanner's, and
gets what ``--texture blend --strength 2`` gives at strength 1 (one more pass of the network, then the blend
below) instead of the fine-grained ramp; at or under the first value the fine-grained ramp as above; between,
a mix of the two outputs. So a low-dose scan keeps its noise texture by default and white noise (told
white, or read at 0-0.5) is denoised as before. The two values come from the ``ct`` model's training slices
(the 35 above): the correlation the pipeline reads on the protocol's matched-kernel low-dose noise is 0.7 or
more on 33 of 35 slices at 25 % and at 10 % dose (the others 0.60 / 0.64, and 0.37 / 0.44 for a sharp
kernel); with 10, 20 or 50 HU of white noise added it is 0.5 or less except on two slices at 10 HU (0.60,
0.68: the scan's own noise dominates). On the training slices with white noise the card's rows told the
true std are unchanged and blind ones within 0.02 dB (clean scans blind, 0.34 dB lower: they are routine
scans, whose noise is a scanner's). Measured on the held-apart CT: ``docs/low-dose-ct.md``.

``--texture blend`` (:func:`blend_texture_ramp`) puts back a share of the *whole* removed component
(``coarse=1``: ``out = (1 - a) y + a x``, a blend with the input as CT vendors offer it) instead of its
fine part: none up to :data:`BLEND_TEXTURE_START_HU`, all of the share from :data:`BLEND_TEXTURE_FULL_HU`,
with ``auto``'s correlation gate; the share itself follows the removed component's lag-1 correlation:
:data:`BLEND_TEXTURE_AMOUNT` up to the first of :data:`BLEND_TEXTURE_CORRELATED_BETWEEN`,
:data:`BLEND_TEXTURE_CORRELATED_AMOUNT` from the second (a soft kernel's coarse noise needs more of itself
back to keep its texture than a sharp kernel's). The fine part alone cannot bring back the texture of soft
kernels, whose noise sits at the frequencies ``G`` keeps; the whole component can. The values were chosen
on the ``ct`` model's training slices (35 TCGA-LUAD slices of 21 patients, every series, none held apart;
the LDCT protocol at 25 % and 10 % dose, blind, seed 1000) by ``scripts/calibrate_texture_ramp.py --rule
robust``: of 94 ramps at strength 2 (two passes of the network, inside the texture) that keep 30 % of the
routine scans' noise removed, the likeliest to meet issue 13's PSNR and texture targets on the mean of an
unseen set of 27 patients (resampled from the 21) with margins for the shift from training slices to
held-apart patients (1.3 dB over BM3D told the true std, 0.01 closer in texture distance): 0.5 to 0.7 over
correlations 0.6 to 0.9, from 12 to 24 HU, in 89 % of the resamples (2026-12-02; the ramp before, 0.4 to
0.7 over 0.7 to 0.9 from 15 to 20 HU, chosen by the most patients meeting both targets, 32 %: its mean
texture margin at 10 % dose was thin; before it, by the best PSNR among ramps of one share: 0.6 from 15
to 30 HU, and at strength 1 only 20 to 35 HU). It is meant
with ``--strength 2`` (``meddenoise denoise --texture blend --strength 2``), which is what ``auto`` gives a
scanner's noise at strength 1 (``docs/low-dose-ct.md``, "`--texture blend`").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import ndimage

from meddenoise.denoiser import (
    noise_correlations_for,
    one_more_pass,
    repeats_above_one,
    takes_noise_correlation,
    told_noise_correlation,
)
from meddenoise.models.denoiser import BatchDenoiser, noise_levels_for
from meddenoise.models.edge_restore import check_edge_restore
from meddenoise.models.removed import (
    CORRELATED_REMOVED_NOISE,
    correlation_gate,
    linear_ramp,
    removed_correlation,
)

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
    "SCANNER_NOISE_CORRELATION",
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
AUTO_TEXTURE_CORRELATION = CORRELATED_REMOVED_NOISE
#: The word that asks for the noise-level-dependent amount.
AUTO_TEXTURE: Literal["auto"] = "auto"
#: ``--texture blend``: none of the whole removed component put back up to this noise level (HU) ...
BLEND_TEXTURE_START_HU = 12.0
#: ... :data:`BLEND_TEXTURE_AMOUNT` of it (or more: below) from this one on, linear in between (chosen on the
#: ``ct`` model's training slices: the module docstring).
BLEND_TEXTURE_FULL_HU = 24.0
#: ``--texture blend``: the share of the whole removed component at and above :data:`BLEND_TEXTURE_FULL_HU`
#: where the removed component's lag-1 correlation is at or under :data:`BLEND_TEXTURE_CORRELATED_BETWEEN`'s
#: first value (sharper kernels) ...
BLEND_TEXTURE_AMOUNT = 0.5
#: ... this share from its second value on (soft kernels' coarse noise), linear between.
BLEND_TEXTURE_CORRELATED_AMOUNT = 0.7
#: ``--texture blend``: the lag-1 correlations over which the share rises (see the two above).
BLEND_TEXTURE_CORRELATED_BETWEEN = (0.6, 0.9)
#: The word that asks for a noise-level-dependent blend with the input (the whole removed component).
BLEND_TEXTURE: Literal["blend"] = "blend"
#: ``--texture auto`` on a network told the noise's kind that repeats past strength 1 (``ct``): the noise
#: correlation it is told (or reads) from which the noise is a scanner's, and it gets one more pass and the
#: blend instead of the fine-grained ramp: none of that at or under the first value, all of it from the
#: second, a mix of the two outputs between (the module docstring says where they come from).
SCANNER_NOISE_CORRELATION = (0.5, 0.7)

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
    scanner: TextureRamp | None = None
    scanner_between: tuple[float, float] = SCANNER_NOISE_CORRELATION

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.full:
            raise ValueError(f"texture ramp: need 0 <= start < full, got {self.start} and {self.full}")
        check_texture(self.amount, owner="texture ramp")
        for bounds in (self.correlation, self.correlated_between, self.scanner_between):
            if bounds is not None and not -1 <= bounds[0] < bounds[1] <= 1:
                raise ValueError(f"texture ramp: need -1 <= low < high <= 1 correlations, got {bounds}")
        check_texture(self.coarse, owner="texture ramp: coarse share")
        if self.correlated_amount is not None:
            check_texture(self.correlated_amount, owner="texture ramp: correlated amount")

    @property
    def _own_largest(self) -> float:
        """The most this ramp itself (not its ``scanner`` ramp) puts back at any level and correlation."""
        return max(self.amount, self.correlated_amount or 0.0)

    @property
    def largest(self) -> float:
        """The most the ramp (or its ``scanner`` ramp) puts back at any level and correlation."""
        return self._own_largest if self.scanner is None else max(self._own_largest, self.scanner.largest)

    def amount_for(self, correlation: float) -> float:
        """The full-level amount for a removed component of lag-1 ``correlation``: ``amount``, or with a
        ``correlated_amount`` that one from ``correlated_between[1]`` on, linear from ``correlated_between[0]``
        (the gate of ``correlation`` not applied)."""
        if self.correlated_amount is None:
            return self.amount
        rise = linear_ramp(correlation, *self.correlated_between)
        return self.amount + (self.correlated_amount - self.amount) * rise

    def at(self, level: float) -> float:
        """The most put back at noise level ``level``, whatever the correlation, by the ramp or its
        ``scanner`` ramp (rounded to 1e-6, so equal levels give equal amounts)."""
        most = round(self._own_largest * linear_ramp(level, self.start, self.full), 6)
        return most if self.scanner is None else max(most, self.scanner.at(level))

    def scanner_share(self, correlation: float) -> float:
        """How much of a noise of lag-1 ``correlation`` (what the network is told) is a scanner's: 0 at or
        under ``scanner_between[0]``, 1 from ``scanner_between[1]``, linear between; 0 without a ``scanner``
        ramp."""
        return 0.0 if self.scanner is None else linear_ramp(correlation, *self.scanner_between)

    def share(self, level: float, *, correlation: float) -> float:
        """The amount at ``level`` for a removed component of lag-1 ``correlation``: :meth:`amount_for` the
        correlation, times the level's ramp and the gate (when the ramp has one)."""
        gate = 1.0 if self.correlation is None else correlation_gate(correlation, self.correlation)
        return round(self.amount_for(correlation) * linear_ramp(level, self.start, self.full) * gate, 6)


#: What a :class:`TextureKeeping` puts back: a fixed amount or one that follows the noise level.
TextureAmount = float | TextureRamp


def auto_texture_ramp(hu_per_unit: float) -> TextureRamp:
    """The ``--texture auto`` ramp for a network whose [0, 1] scale spans ``hu_per_unit`` HU (a CT window's
    width), with :func:`blend_texture_ramp` as its ``scanner`` ramp (used by :class:`TextureKeeping` around a
    network that repeats and is told the noise's kind)."""
    ramp = _ramp_in_hu(
        hu_per_unit, AUTO_TEXTURE_START_HU, AUTO_TEXTURE_FULL_HU, AUTO_TEXTURE_AMOUNT, setting=AUTO_TEXTURE
    )
    return replace(ramp, scanner=blend_texture_ramp(hu_per_unit))


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

    def texture_at(self, level: float | None, correlation: float | None = None) -> float | None:
        """The amount put back at noise level ``level`` ([0, 1] scale), at most (a ramp with a correlation
        gate puts back less where the removed noise is white); ``None`` when a ramp is not told the level
        (it then reads its own estimate, per call). With ``scanner_between``, the noise correlation the
        network is told says which ramp counts (both without one)."""
        ramp = self.amount
        if not isinstance(ramp, TextureRamp):
            return ramp
        if level is None:
            return None
        if self.scanner_between is None or correlation is None or ramp.scanner is None:
            return ramp.at(level)
        share = ramp.scanner_share(correlation)
        if share >= 1:  # a scanner's noise: the blend's share alone
            return ramp.scanner.at(level)
        own = replace(ramp, scanner=None).at(level)
        return own if share <= 0 else max(own, ramp.scanner.at(level))

    @property
    def edge_restore(self) -> float:
        """The base's edge restoration (0 without one), for the pipeline's report."""
        return float(getattr(self.base, "edge_restore", 0.0))

    @property
    def edge_restore_correlated_only(self) -> bool:
        """Whether the base's edge restoration acts on correlated noise only (``False`` without one)."""
        return bool(getattr(self.base, "edge_restore_correlated_only", False))

    @property
    def scanner_between(self) -> tuple[float, float] | None:
        """The told noise correlations over which a scanner's noise gets one more pass and the ``scanner``
        ramp (``--texture auto`` around a network that repeats and takes the noise's kind), else ``None``."""
        ramp = self.amount
        if not isinstance(ramp, TextureRamp) or ramp.scanner is None:
            return None
        if not (repeats_above_one(self.base) and takes_noise_correlation(self.base)):
            return None
        return ramp.scanner_between

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """``base``'s output with a share of its removed fine-grained noise put back, float32 ``(N, H, W)``;
        with a ``scanner`` ramp, images whose noise is a scanner's get one more pass and that ramp instead
        (a mix of the two outputs where it partly is)."""
        batch, levels = self.base.batch_and_levels(images, sigma)  # levels estimated once, not per wrapper
        told = sigma if levels is None else levels
        ramp = self.amount
        if self.scanner_between is None or not isinstance(ramp, TextureRamp) or ramp.scanner is None:
            return self._kept(batch, told, ramp)
        correlations = noise_correlations_for(self.base, batch)
        if correlations is None:  # no network inside takes the kind after all
            return self._kept(batch, told, ramp)
        correlations = np.nan_to_num(correlations, nan=0.0)  # nothing to read (a flat image): white
        levels = noise_levels_for(batch, told, owner=self.name)  # read once, for every group and path
        out = np.empty_like(batch)
        # the network is told the correlation read here (one call per value), so it does not read it again
        for value in np.unique(correlations):
            group = np.flatnonzero(correlations == value)
            with told_noise_correlation(self.base, float(value)):
                out[group] = self._by_kind(batch[group], levels[group], ramp, float(value))
        return out

    def _by_kind(
        self,
        batch: np.ndarray,
        told: float | Sequence[float] | np.ndarray | None,
        ramp: TextureRamp,
        correlation: float,
    ) -> np.ndarray:
        """``batch`` whose noise has lag-1 ``correlation``: the fine-grained ramp (white noise), one more pass
        and ``ramp.scanner`` (a scanner's), or a mix of the two by :meth:`TextureRamp.scanner_share`."""
        share = ramp.scanner_share(correlation)
        fine = replace(ramp, scanner=None)  # the fine-grained ramp alone
        white = self._kept(batch, told, fine) if share < 1 else None
        if share <= 0 or ramp.scanner is None:
            return white if white is not None else self._kept(batch, told, fine)
        with one_more_pass(self.base):
            low_dose = self._kept(batch, told, ramp.scanner)
        return low_dose if white is None else white + np.float32(share) * (low_dose - white)

    def _kept(
        self, batch: np.ndarray, told: float | Sequence[float] | np.ndarray | None, amount: TextureAmount
    ) -> np.ndarray:
        """``base``'s output on ``batch`` (told ``told``) with ``amount`` of the removed noise put back."""
        out = self.base.denoise_batch(batch, sigma=told)
        if isinstance(amount, TextureRamp):
            levels = noise_levels_for(batch, told, owner=self.name)  # a base that takes no level: still one
            amounts = [
                amount.share(float(level), correlation=removed_correlation(x, y))
                if amount.at(float(level))
                else 0.0
                for x, y, level in zip(batch, out, levels, strict=True)
            ]
        else:
            amounts = [amount] * len(batch)
        coarse = amount.coarse if isinstance(amount, TextureRamp) else 0.0
        return np.stack(
            [
                keep_texture(x, y, a, coarse=coarse) if a else y
                for x, y, a in zip(batch, out, amounts, strict=True)
            ]
        ).astype(np.float32)
