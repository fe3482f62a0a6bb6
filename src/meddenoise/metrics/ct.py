"""CT image-quality measures: noise power spectrum, edge MTF, gradient ratio, HU bias, residual structure.

The formulas (``docs/ct-quality.md`` has them with their conventions):

* **NPS** (:func:`noise_power_spectrum`): ROIs of a noise image (or of flat regions), each
  mean-subtracted (``detrend="mean"``) or plane-detrended; ``NPS(fx, fy) = dx * dy / (Nx * Ny) *
  <|FFT(roi)|^2>`` over the ROIs, in HU^2 mm^2 with ``dx = dy`` the pixel size in mm. Its integral
  over frequency, ``sum(NPS) / (Nx dx * Ny dy)``, is the ROIs' variance. The radial average (bins of
  width ``1 / (N dx)``) gives the 1D NPS; its **peak frequency** and its **mean frequency**
  ``sum(|f| NPS) / sum(NPS)`` (over the 2D spectrum) in cycles/mm describe the noise texture (a
  denoiser that leaves blotchy "plastic" noise moves both down).
* **NPS texture distance** (:func:`nps_texture_distance`): how differently two noises spread their
  variance over spatial frequency, whatever their magnitudes: each 2D NPS summed over annuli of width
  ``1 / (N dx)`` (corners past Nyquist included) and divided by its total gives the share of the
  variance at each radial frequency, ``p`` and ``q``; the distance is ``0.5 * sum |p - q|`` (total
  variation), 0 for the same texture at any level, 1 for noises with no frequency in common. Applied to
  a denoiser's error and the noise that was added, it says how far the noise left behind is from the
  scan's own texture, without the peak's steps of ``1 / (N dx)``.
* **MTF** (:func:`edge_mtf`): a straight edge along the rows or columns of an ROI; the edge-spread
  function is the ROI averaged along the edge, its difference the line-spread function (LSF), and
  ``MTF(f) = |FFT(LSF)| / |FFT(LSF)(0)| / sinc(f dx)`` (the division undoes the finite difference
  and the pixel's sampling aperture of a pixel-sampled edge); **MTF50** is where it first falls to
  0.5 (linear interpolation). A Gaussian-blurred edge of std ``s`` mm has ``MTF50 = sqrt(ln 2 / 2)
  / (pi s)``.
* **Gradient ratio** (:func:`edge_gradient_ratio`): ``sum (grad out . n) / sum |grad ref|`` over the
  strong edges of the reference (the top 5 % of its gradient magnitude; derivative-of-Gaussian
  gradients, std 1 px), ``n`` the reference's unit gradient (edge normal). 1 keeps edges as sharp;
  below 1 blurs them. Projected on ``n``, zero-mean noise in the output adds nothing on average.
* **HU bias** (:func:`hu_bias`): ``mean(out - ref)`` over the pixels whose reference, smoothed by a
  Gaussian of 2 px, lies in a tissue band (:data:`TISSUE_BANDS`: fat -150..-50 HU, soft tissue
  0..100 HU), eroded by 2 px away from the band's borders; ``hu_bias_soft_core`` erodes by
  :data:`CORE_ERODE` (6 px) and so measures a level shift apart from blur at tissue borders.
* **Residual structure** (:func:`residual_structure`): the Pearson correlation, over the body
  (reference > -500 HU, or every pixel of a non-CT image), between the local energy of the removed
  component ``r = ref - out`` (``r^2`` smoothed by a Gaussian of 2 px) and the reference's gradient
  magnitude. About 0 when only noise was removed; towards 1 when the removed component follows the
  anatomy (organ outlines, vessels, ribs).
* **Routine-dose faithfulness** (:func:`routine_dose_faithfulness`): for a real scan with no added
  noise and its denoised version: HU shift in soft tissue and fat, the gradient ratio at strong edges,
  and the noise-std reduction in flat tissue (16x16 tiles wholly in fat or soft tissue whose input std
  is at most the median of such tiles; ``1 - median std(out) / median std(in)``).

The full-reference functions registered in :data:`meddenoise.metrics.METRICS` (``hu_bias_soft``,
``hu_bias_soft_core``, ``hu_bias_fat``, ``gradient_ratio``, ``residual_structure``) take ``(output, reference, *,
data_range)`` with both images **in HU** (``data_range`` is unused; it keeps the metric signature).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "CT_METRICS",
    "NOISY_INPUT_METRICS",
    "TISSUE_BANDS",
    "EdgeMTF",
    "Faithfulness",
    "NoisePowerSpectrum",
    "edge_gradient_ratio",
    "edge_mtf",
    "error_nps_peak_shift",
    "error_texture_distance",
    "flat_rois",
    "gradient_ratio_metric",
    "hu_bias",
    "hu_bias_fat",
    "hu_bias_soft",
    "hu_bias_soft_core",
    "noise_power_spectrum",
    "nps_in_rois",
    "nps_texture_distance",
    "residual_structure",
    "residual_structure_metric",
    "routine_dose_faithfulness",
    "strong_edges",
    "tissue_mask",
]

#: HU bands of the tissues whose mean shift is measured.
TISSUE_BANDS: dict[str, tuple[float, float]] = {"fat": (-150.0, -50.0), "soft": (0.0, 100.0)}
#: The share of the reference's pixels, by gradient magnitude, counted as strong edges.
EDGE_FRACTION = 0.05
#: Erosion (px) of the tissue mask of ``hu_bias_soft_core``: about 4 mm at 0.7 mm pixels, past the reach of
#: a blurred border.
CORE_ERODE = 6
#: Side (px) of the flat ROIs in which the noise-texture metrics compare the error's NPS with the noise's.
TEXTURE_ROI = 32
_BODY_HU = -500.0


def _as_float(image: np.ndarray, owner: str) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{owner}: expected a 2D image, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{owner}: image holds NaN or Inf values")
    return arr


def _pair(output: np.ndarray, reference: np.ndarray, owner: str) -> tuple[np.ndarray, np.ndarray]:
    out, ref = _as_float(output, owner), _as_float(reference, owner)
    if out.shape != ref.shape:
        raise ValueError(f"{owner}: output {out.shape} and reference {ref.shape} differ in shape")
    return out, ref


# ----------------------------------------------------------------------------------------------------
# Noise power spectrum
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoisePowerSpectrum:
    """A 2D NPS and its radial average.

    Attributes
    ----------
    nps2d
        ``(N, N)`` NPS in (image units)^2 mm^2, zero frequency at the centre (``fftshift``).
    frequencies
        Radial bin centres in cycles/mm (bin width ``1 / (N dx)``, up to the Nyquist ``1 / (2 dx)``).
    radial
        The radially averaged NPS at those frequencies.
    variance
        The integral of ``nps2d`` over frequency (equals the ROIs' mean variance after detrending).
    peak_frequency, mean_frequency
        Where the radial NPS is largest, and ``sum(|f| NPS) / sum(NPS)`` over the 2D spectrum (cycles/mm).
        :meth:`band_std` gives how much noise lies in a band of frequencies.
    rois
        How many ROIs were averaged.
    """

    nps2d: np.ndarray
    frequencies: np.ndarray
    radial: np.ndarray
    variance: float
    peak_frequency: float
    mean_frequency: float
    rois: int

    def band_std(self, low: float = 0.0, high: float = math.inf) -> float:
        """The std (image units) of the noise between ``low`` and ``high`` cycles/mm (``low <= |f| < high``).

        The square root of the 2D NPS integrated over that annulus: the bands of a partition of the
        frequencies add up, in variance, to :attr:`variance`. It says how much noise of a texture is
        left, where the peak and mean frequencies only say where it sits.

        Examples
        --------
        >>> rois = np.random.default_rng(0).normal(0, 10, (50, 32, 32))
        >>> nps = noise_power_spectrum(rois, pixel_mm=0.5)
        >>> bool(abs(nps.band_std(0, 0.3) ** 2 + nps.band_std(0.3) ** 2 - nps.variance) < 1e-9)
        True
        """
        n = self.nps2d.shape[0]
        step = float(self.frequencies[1] - self.frequencies[0]) if len(self.frequencies) > 1 else 1.0
        freq = np.fft.fftshift(np.fft.fftfreq(n, d=1.0 / (n * step)))
        radius = np.hypot(*np.meshgrid(freq, freq, indexing="ij"))
        inside = (radius >= low) & (radius < high)
        return math.sqrt(max(float(self.nps2d[inside].sum()) * step * step, 0.0))


def _detrend(roi: np.ndarray, how: str) -> np.ndarray:
    if how == "mean":
        return roi - roi.mean()
    rows, cols = np.mgrid[: roi.shape[0], : roi.shape[1]].astype(np.float64)
    basis = np.stack([np.ones(roi.size), rows.ravel(), cols.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(basis, roi.ravel(), rcond=None)
    return roi - (basis @ coef).reshape(roi.shape)


def noise_power_spectrum(
    rois: Sequence[np.ndarray] | np.ndarray, *, pixel_mm: float = 1.0, detrend: str = "mean"
) -> NoisePowerSpectrum:
    """The NPS of square ROIs of noise (or of flat regions) of one size; see the module docstring.

    Parameters
    ----------
    rois
        ROIs ``(K, N, N)`` or a sequence of ``(N, N)`` arrays (or one ``(N, N)`` ROI).
    pixel_mm
        Pixel size in mm (the frequency axis is in cycles/mm, the NPS in units^2 mm^2).
    detrend
        ``"mean"`` subtracts each ROI's mean, ``"plane"`` a fitted plane.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> result = noise_power_spectrum(rng.normal(0, 10, (64, 32, 32)), pixel_mm=0.5)
    >>> round(result.variance, 0), round(float(result.nps2d.mean()), 0)  # white: flat at var * dx * dy
    (100.0, 25.0)
    """
    stack = np.asarray(rois, dtype=np.float64)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2] or stack.shape[1] < 4 or len(stack) == 0:
        raise ValueError(
            f"noise_power_spectrum: expected square ROIs (K, N, N) with N >= 4, got {stack.shape}"
        )
    if detrend not in ("mean", "plane"):
        raise ValueError(f"noise_power_spectrum: detrend must be 'mean' or 'plane', got {detrend!r}")
    if not pixel_mm > 0:
        raise ValueError(f"noise_power_spectrum: pixel_mm must be > 0, got {pixel_mm}")
    n = stack.shape[1]
    power = np.zeros((n, n))
    for roi in stack:
        power += np.abs(np.fft.fft2(_detrend(roi, detrend))) ** 2
    nps2d = np.fft.fftshift(power / len(stack) * pixel_mm * pixel_mm / (n * n))
    freq = np.fft.fftshift(np.fft.fftfreq(n, d=pixel_mm))
    radius = np.hypot(*np.meshgrid(freq, freq, indexing="ij"))
    step = 1.0 / (n * pixel_mm)
    index = np.rint(radius / step).astype(int)
    bins = n // 2 + 1  # up to Nyquist
    inside = index < bins
    counts = np.bincount(index[inside], minlength=bins)
    sums = np.bincount(index[inside], nps2d[inside], minlength=bins)
    radial = sums / np.maximum(counts, 1)
    frequencies = np.arange(bins) * step
    total = float(nps2d.sum())
    return NoisePowerSpectrum(
        nps2d=nps2d,
        frequencies=frequencies,
        radial=radial,
        variance=total * step * step,
        peak_frequency=float(frequencies[int(np.argmax(radial))]),
        mean_frequency=float((radius * nps2d).sum() / total) if total > 0 else 0.0,
        rois=len(stack),
    )


def _annulus_shares(spectrum: NoisePowerSpectrum) -> np.ndarray:
    """The share of the 2D NPS in each annulus of width one frequency step (corners past Nyquist too)."""
    n = spectrum.nps2d.shape[0]
    steps = np.fft.fftshift(np.fft.fftfreq(n)) * n  # frequency in steps of 1 / (N dx), zero at the centre
    index = np.rint(np.hypot(*np.meshgrid(steps, steps, indexing="ij"))).astype(int)
    power = np.bincount(index.ravel(), np.clip(spectrum.nps2d, 0.0, None).ravel())
    return power / power.sum()


def nps_in_rois(
    image: np.ndarray,
    corners: Sequence[tuple[int, int]],
    *,
    size: int,
    pixel_mm: float = 1.0,
    detrend: str = "mean",
) -> NoisePowerSpectrum:
    """:func:`noise_power_spectrum` of the ``size x size`` ROIs of ``image`` at ``corners`` (top, left), e.g.
    those of :func:`flat_rois`."""
    return noise_power_spectrum(
        [image[r : r + size, c : c + size] for r, c in corners], pixel_mm=pixel_mm, detrend=detrend
    )


def nps_texture_distance(spectrum: NoisePowerSpectrum, reference: NoisePowerSpectrum) -> float:
    """How differently two noises spread their variance over frequency: 0 (same texture) to 1 (disjoint).

    ``0.5 * sum |p - q|`` over annuli of width ``1 / (N dx)``, ``p`` and ``q`` each spectrum's share of
    its variance per annulus (module docstring). Magnitude does not count: noise at half the std with
    the same texture is at distance 0. NaN when either spectrum holds no power.

    Raises
    ------
    ValueError
        When the spectra differ in ROI size or pixel size (their frequency bins differ).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> white = noise_power_spectrum(rng.normal(0, 10, (64, 32, 32)), pixel_mm=0.7)
    >>> weaker = noise_power_spectrum(rng.normal(0, 3, (64, 32, 32)), pixel_mm=0.7)
    >>> bool(nps_texture_distance(weaker, white) < 0.05)
    True
    """
    if spectrum.nps2d.shape != reference.nps2d.shape or not np.allclose(
        spectrum.frequencies, reference.frequencies
    ):
        raise ValueError(
            "nps_texture_distance: the spectra differ in ROI size or pixel size "
            f"({spectrum.nps2d.shape[0]} px at {spectrum.frequencies[1]:.4g} /mm steps vs "
            f"{reference.nps2d.shape[0]} px at {reference.frequencies[1]:.4g} /mm steps)"
        )
    if not (spectrum.nps2d.clip(0.0).sum() > 0 and reference.nps2d.clip(0.0).sum() > 0):
        return math.nan
    return float(0.5 * np.abs(_annulus_shares(spectrum) - _annulus_shares(reference)).sum())


def flat_rois(
    reference: np.ndarray,
    *,
    size: int = 32,
    band: tuple[float, float] = (-200.0, 300.0),
    limit: int | None = None,
) -> list[tuple[int, int]]:
    """(top, left) of non-overlapping ``size x size`` ROIs whose smoothed reference stays inside ``band`` (HU).

    The reference is smoothed by a Gaussian of 2 px first (its noise must not decide), so the ROIs lie
    in fat and soft tissue by default, away from lung, bone and air. ``limit`` keeps that many, spread
    evenly over the candidates.
    """
    ref = _as_float(reference, "flat_rois")
    smooth = ndimage.gaussian_filter(ref, 2.0)
    inside = (smooth >= band[0]) & (smooth <= band[1])
    found = [
        (r, c)
        for r in range(0, ref.shape[0] - size + 1, size)
        for c in range(0, ref.shape[1] - size + 1, size)
        if inside[r : r + size, c : c + size].all()
    ]
    if limit is not None and len(found) > limit:
        found = [found[i] for i in np.linspace(0, len(found) - 1, limit).astype(int)]
    return found


# ----------------------------------------------------------------------------------------------------
# Edge sharpness
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeMTF:
    """The MTF measured at an edge: frequencies (cycles/mm), MTF values, and MTF50 (cycles/mm)."""

    frequencies: np.ndarray
    mtf: np.ndarray
    mtf50: float


def edge_mtf(roi: np.ndarray, *, pixel_mm: float = 1.0, axis: int | None = None) -> EdgeMTF:
    """MTF of a straight edge that runs along one axis of ``roi`` (see the module docstring).

    Parameters
    ----------
    roi
        A 2D ROI holding one high-contrast edge parallel to its rows or columns, with flat plateaus on
        both sides.
    pixel_mm
        Pixel size in mm.
    axis
        The axis the intensity changes along (1: a vertical edge, values change across columns);
        ``None`` picks the axis with the larger mean absolute difference.

    Examples
    --------
    >>> from math import erf, sqrt, log, pi
    >>> x = (np.arange(64) - 31.5) * 0.5  # mm, 0.5 mm pixels
    >>> edge = np.tile([1000 * (1 + erf(v / (0.8 * sqrt(2)))) / 2 for v in x], (16, 1))
    >>> round(edge_mtf(edge, pixel_mm=0.5).mtf50, 3), round(sqrt(log(2) / 2) / (pi * 0.8), 3)
    (0.234, 0.234)
    """
    arr = _as_float(roi, "edge_mtf")
    if axis is None:
        axis = int(np.abs(np.diff(arr, axis=1)).mean() >= np.abs(np.diff(arr, axis=0)).mean())
    esf = arr.mean(axis=1 - axis)
    if esf[-1] < esf[0]:
        esf = esf[::-1]
    lsf = np.diff(esf)
    if not np.abs(lsf).sum() > 0:
        raise ValueError("edge_mtf: the ROI holds no edge")
    spectrum = np.abs(np.fft.rfft(lsf))
    frequencies = np.fft.rfftfreq(len(lsf), d=pixel_mm)
    mtf = spectrum / spectrum[0] / np.sinc(frequencies * pixel_mm)
    below = np.flatnonzero(mtf < 0.5)
    if len(below) == 0:
        mtf50 = float(frequencies[-1])
    else:
        k = int(below[0])
        f0, f1, m0, m1 = frequencies[k - 1], frequencies[k], mtf[k - 1], mtf[k]
        mtf50 = float(f0 + (m0 - 0.5) * (f1 - f0) / (m0 - m1))
    return EdgeMTF(frequencies=frequencies, mtf=mtf, mtf50=mtf50)


def _gradient(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return np.asarray(ndimage.gaussian_gradient_magnitude(image, sigma))


def strong_edges(reference: np.ndarray, *, fraction: float = EDGE_FRACTION) -> np.ndarray:
    """Mask of the reference's strongest edges: the top ``fraction`` of its gradient magnitude."""
    grad = _gradient(_as_float(reference, "strong_edges"))
    return np.asarray(grad >= np.quantile(grad, 1.0 - fraction)) & (grad > 0)


def _gradient_vector(image: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Derivative-of-Gaussian gradient ``(d/dx, d/dy)`` of std ``sigma`` px (its norm is :func:`_gradient`)."""
    return (
        np.asarray(ndimage.gaussian_filter(image, sigma, order=(0, 1))),
        np.asarray(ndimage.gaussian_filter(image, sigma, order=(1, 0))),
    )


def edge_gradient_ratio(
    output: np.ndarray, reference: np.ndarray, *, fraction: float = EDGE_FRACTION
) -> float:
    """``sum (grad out . n) / sum |grad ref|`` over the reference's strong edges, ``n = grad ref / |grad ref|``.

    The output's gradient is projected on the reference's edge normal, so zero-mean noise adds nothing
    on average (``|grad out|`` would count noise as edge strength: a noisy image read 1.005 at a simulated
    10 % dose). 1 keeps the edges; blur lowers it; ``0.9 * ref`` gives exactly 0.9.

    Examples
    --------
    >>> step = np.repeat([[0.0] * 16 + [100.0] * 16], 32, axis=0)
    >>> round(edge_gradient_ratio(step * 0.9, step), 3)
    0.9
    """
    out, ref = _pair(output, reference, "edge_gradient_ratio")
    edges = strong_edges(ref, fraction=fraction)
    ref_x, ref_y = _gradient_vector(ref)
    magnitude = np.hypot(ref_x, ref_y)[edges]
    denominator = float(magnitude.sum())
    if denominator == 0.0:
        return float("nan")
    out_x, out_y = _gradient_vector(out)
    along = (out_x[edges] * ref_x[edges] + out_y[edges] * ref_y[edges]) / magnitude
    return float(along.sum() / denominator)


# ----------------------------------------------------------------------------------------------------
# HU bias and residual structure
# ----------------------------------------------------------------------------------------------------


def tissue_mask(reference: np.ndarray, band: tuple[float, float], *, erode: int = 2) -> np.ndarray:
    """Pixels whose reference, smoothed by a Gaussian of 2 px, lies in ``band``, eroded by ``erode`` px."""
    if erode < 1:
        raise ValueError(f"tissue_mask: erode must be at least 1 pixel, got {erode}")
    smooth = ndimage.gaussian_filter(_as_float(reference, "tissue_mask"), 2.0)
    inside = (smooth >= band[0]) & (smooth <= band[1])
    return np.asarray(ndimage.binary_erosion(inside, iterations=erode))


def hu_bias(
    output: np.ndarray, reference: np.ndarray, *, band: tuple[float, float] | str = "soft", erode: int = 2
) -> float:
    """Mean ``output - reference`` (HU) over a tissue band of the reference; NaN when the band is empty.

    ``erode`` (px) keeps the mask that far inside the band: 2 (the default) counts thin structures and
    the pixels next to other tissue, where a denoiser that blurs pulls values towards the neighbour;
    :data:`CORE_ERODE` (``hu_bias_soft_core``) counts only the tissue's core, where a shift is a shift.

    Examples
    --------
    >>> ref = np.full((32, 32), 40.0)
    >>> hu_bias(ref + 3.0, ref), bool(np.isnan(hu_bias(ref, ref, band="fat")))
    (3.0, True)
    """
    out, ref = _pair(output, reference, "hu_bias")
    low_high = TISSUE_BANDS[band] if isinstance(band, str) else band
    mask = tissue_mask(ref, low_high, erode=erode)
    if not mask.any():
        return float("nan")
    return float(np.mean(out[mask] - ref[mask]))


def residual_structure(output: np.ndarray, reference: np.ndarray) -> float:
    """Correlation of the removed component's local energy with the reference's gradient (module docstring).

    ``reference`` is what the denoiser saw (a routine scan) or the clean image; ``reference - output``
    is then the removed component (or the error). Pixels below -500 HU (air, lung) are left out when the
    reference holds any; 0 when the removed component is nowhere (an identical output).
    """
    out, ref = _pair(output, reference, "residual_structure")
    energy = ndimage.gaussian_filter((ref - out) ** 2, 2.0)
    grad = _gradient(ref)
    body = ref > _BODY_HU
    if body.sum() < 16:
        body = np.ones_like(body)
    e, g = energy[body], grad[body]
    if e.std() == 0 or g.std() == 0:
        return 0.0
    return float(np.corrcoef(e, g)[0, 1])


def _error_and_noise_nps(
    output: np.ndarray, reference: np.ndarray, noisy: np.ndarray, owner: str
) -> tuple[NoisePowerSpectrum, NoisePowerSpectrum] | None:
    """The NPS of the error ``output - reference`` and of the added noise ``noisy - reference`` in the same
    flat :data:`TEXTURE_ROI`-px ROIs of the reference (HU; :func:`flat_rois`); None when it has fewer than two."""
    out, ref = _pair(output, reference, owner)
    noise = _as_float(noisy, owner)
    if noise.shape != ref.shape:
        raise ValueError(f"{owner}: noisy image {noise.shape} and reference {ref.shape} must be one shape")
    corners = flat_rois(ref, size=TEXTURE_ROI)
    if len(corners) < 2:
        return None
    return nps_in_rois(out - ref, corners, size=TEXTURE_ROI), nps_in_rois(
        noise - ref, corners, size=TEXTURE_ROI
    )


def error_texture_distance(output: np.ndarray, reference: np.ndarray, noisy: np.ndarray) -> float:
    """:func:`nps_texture_distance` of the error ``output - reference`` against the added noise ``noisy -
    reference``, in the reference's flat fat / soft-tissue ROIs (HU images).

    0 when the noise a denoiser leaves has the added noise's texture (at any level: a share of it), towards
    1 for a changed ("plastic") texture; NaN with fewer than two flat 32x32 ROIs or no error at all. Pixel
    size does not matter (both spectra share their frequency bins).
    """
    spectra = _error_and_noise_nps(output, reference, noisy, "error_texture_distance")
    return math.nan if spectra is None else nps_texture_distance(*spectra)


def error_nps_peak_shift(output: np.ndarray, reference: np.ndarray, noisy: np.ndarray) -> float:
    """Relative shift of the error's NPS peak from the added noise's, ``peak_error / peak_noise - 1``, in the
    reference's flat ROIs (HU images): 0 = the noise's own peak, negative = coarser (the blotchy, "plastic"
    look of MSE denoisers), positive = finer. NaN without two flat ROIs or without error / noise power.
    The peak moves in steps of one radial bin (``1 / 32`` of the sampling rate), and white noise has no
    peak to speak of (its NPS is flat, its argmax a matter of chance): for CT noise, which a reconstruction
    kernel shapes; :func:`error_texture_distance` is the steadier figure."""
    spectra = _error_and_noise_nps(output, reference, noisy, "error_nps_peak_shift")
    if spectra is None:
        return math.nan
    error, noise = spectra
    if not (error.variance > 0 and noise.variance > 0 and noise.peak_frequency > 0):
        return math.nan
    return float(error.peak_frequency / noise.peak_frequency - 1.0)


# Metric-signature wrappers (output, reference, *, data_range): HU images; data_range is unused.


def hu_bias_soft(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """:func:`hu_bias` in soft tissue (0..100 HU) of ``x`` (output) against ``y`` (reference), both in HU."""
    return hu_bias(x, y, band="soft")


def hu_bias_soft_core(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """:func:`hu_bias` in the core of soft tissue (at least :data:`CORE_ERODE` px inside), both in HU."""
    return hu_bias(x, y, band="soft", erode=CORE_ERODE)


def hu_bias_fat(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """:func:`hu_bias` in fat (-150..-50 HU) of ``x`` (output) against ``y`` (reference), both in HU."""
    return hu_bias(x, y, band="fat")


def gradient_ratio_metric(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """:func:`edge_gradient_ratio` of ``x`` (output) against ``y`` (reference)."""
    return edge_gradient_ratio(x, y)


def residual_structure_metric(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """:func:`residual_structure` of ``x`` (output) against ``y`` (reference), both in HU."""
    return residual_structure(x, y)


def _needs_noisy(noisy: np.ndarray | None, name: str) -> np.ndarray:
    if noisy is None:
        raise ValueError(f"{name} compares the error with the added noise: give the noisy input too")
    return noisy


def nps_distance_metric(
    x: np.ndarray, y: np.ndarray, *, noisy: np.ndarray | None = None, data_range: float = 1.0
) -> float:
    """:func:`error_texture_distance` of ``x`` (output) against ``y`` (clean), ``noisy`` the input, all in HU."""
    return error_texture_distance(x, y, _needs_noisy(noisy, "nps_distance"))


def nps_peak_shift_metric(
    x: np.ndarray, y: np.ndarray, *, noisy: np.ndarray | None = None, data_range: float = 1.0
) -> float:
    """:func:`error_nps_peak_shift` of ``x`` (output) against ``y`` (clean), ``noisy`` the input, all in HU."""
    return error_nps_peak_shift(x, y, _needs_noisy(noisy, "nps_peak_shift"))


#: CT metric name -> (function, higher is better); registered in :data:`meddenoise.metrics.METRICS`.
CT_METRICS = {
    "hu_bias_soft": (hu_bias_soft, False),
    "hu_bias_soft_core": (hu_bias_soft_core, False),
    "hu_bias_fat": (hu_bias_fat, False),
    "gradient_ratio": (gradient_ratio_metric, True),
    "residual_structure": (residual_structure_metric, False),
    "nps_distance": (nps_distance_metric, False),
    "nps_peak_shift": (nps_peak_shift_metric, False),
}
#: The CT metrics that also read the noisy input (``fn(x, y, *, noisy, data_range)``): they compare the error
#: with the added noise.
NOISY_INPUT_METRICS: dict[str, Callable[..., float]] = {
    "nps_distance": nps_distance_metric,
    "nps_peak_shift": nps_peak_shift_metric,
}


# ----------------------------------------------------------------------------------------------------
# Routine-dose faithfulness
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faithfulness:
    """What a denoiser does to a routine-dose scan with no added noise (see the module docstring).

    Attributes
    ----------
    shift_soft, shift_fat
        Mean HU shift (output - input) in soft tissue and in fat.
    gradient_ratio
        :func:`edge_gradient_ratio` of the output against the input at the input's strong edges.
    noise_in, noise_out
        Median std (HU) of the flat tissue tiles in the input and, at the same tiles, in the output.
    noise_reduction
        ``1 - noise_out / noise_in`` (0.3 = 30 % less noise).
    residual_structure
        :func:`residual_structure` of the removed component.
    tiles
        How many flat tiles were measured.
    """

    shift_soft: float
    shift_fat: float
    gradient_ratio: float
    noise_in: float
    noise_out: float
    noise_reduction: float
    residual_structure: float
    tiles: int

    def as_dict(self) -> dict[str, float]:
        return {
            "shift_soft_hu": self.shift_soft,
            "shift_fat_hu": self.shift_fat,
            "gradient_ratio": self.gradient_ratio,
            "noise_in_hu": self.noise_in,
            "noise_out_hu": self.noise_out,
            "noise_reduction": self.noise_reduction,
            "residual_structure": self.residual_structure,
        }


def routine_dose_faithfulness(output: np.ndarray, scan: np.ndarray, *, tile: int = 16) -> Faithfulness:
    """HU shift, edge gradient ratio and flat-region noise reduction of ``output`` (denoised ``scan``, HU).

    Flat tiles: non-overlapping ``tile x tile`` tiles wholly inside fat or soft tissue (the scan smoothed
    by a Gaussian of 2 px in -200..-40 or -20..300 HU) whose scan std is at most the median of those tiles
    (the upper half holds the edges and small structure).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scan = np.where(np.arange(128)[None, :] < 64, -100.0, 40.0) + rng.normal(0, 15, (128, 128))
    >>> result = routine_dose_faithfulness(scan * 0 + np.where(np.arange(128)[None, :] < 64, -100.0, 40.0), scan)
    >>> round(result.noise_reduction, 2), round(result.shift_soft, 1)
    (1.0, -0.1)
    """
    out, ref = _pair(output, scan, "routine_dose_faithfulness")
    smooth = ndimage.gaussian_filter(ref, 2.0)
    tissue = ((smooth >= -200) & (smooth < -40)) | ((smooth >= -20) & (smooth < 300))
    fat = (smooth >= -200) & (smooth < -40)
    std_in, std_out = [], []
    for r in range(0, ref.shape[0] - tile + 1, tile):
        for c in range(0, ref.shape[1] - tile + 1, tile):
            window = tissue[r : r + tile, c : c + tile]
            kind = fat[r : r + tile, c : c + tile]
            if window.all() and (kind.all() or not kind.any()):
                std_in.append(ref[r : r + tile, c : c + tile].std(ddof=1))
                std_out.append(out[r : r + tile, c : c + tile].std(ddof=1))
    if std_in:
        keep = np.asarray(std_in) <= np.median(std_in)
        noise_in = float(np.median(np.asarray(std_in)[keep]))
        noise_out = float(np.median(np.asarray(std_out)[keep]))
    else:
        noise_in = noise_out = math.nan
    return Faithfulness(
        shift_soft=hu_bias(out, ref, band="soft"),
        shift_fat=hu_bias(out, ref, band="fat"),
        gradient_ratio=edge_gradient_ratio(out, ref),
        noise_in=noise_in,
        noise_out=noise_out,
        noise_reduction=1.0 - noise_out / noise_in if noise_in > 0 else math.nan,
        residual_structure=residual_structure(out, ref),
        tiles=int(np.sum(np.asarray(std_in) <= np.median(std_in))) if std_in else 0,
    )
