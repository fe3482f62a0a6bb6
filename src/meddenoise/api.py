"""The one-call Python API for notebooks: ``denoise(path_or_array, model=...)``, mirroring the CLI.

Examples
--------
>>> import numpy as np
>>> from meddenoise.api import denoise
>>> noisy = np.random.default_rng(0).normal(100.0, 5.0, (64, 64)).astype(np.float32)
>>> clean = denoise(noisy, method="median")   # array in → array out, same units and dtype
>>> clean.shape, clean.dtype
((64, 64), dtype('float32'))
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from meddenoise.data.intensity import IntensitySpec
from meddenoise.methods import Backend, DenoiserResolver
from meddenoise.pipeline.batch import DEFAULT_DESCRIPTION, denoise_image, derivation
from meddenoise.pipeline.core import DenoiseOptions, SliceReport, denoise_pixels, ignored_notes
from meddenoise.pipeline.tiling import DEFAULT_OVERLAP

if TYPE_CHECKING:
    from meddenoise.io import MedicalImage

__all__ = ["denoise"]


def _cast_like(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(pixels), info.min, info.max).astype(dtype)
    return pixels.astype(dtype, copy=False)


def _warn_if_ignored(label: str, report: SliceReport) -> None:
    for note in ignored_notes(label, report).values():
        warnings.warn(note, UserWarning, stacklevel=3)


def denoise(
    source: str | os.PathLike[str] | np.ndarray | MedicalImage,
    *,
    model: str | None = "auto",
    method: str | None = None,
    noise_level: str | float | None = "auto",
    strength: float = 1.0,
    modality: str | None = None,
    intensity: IntensitySpec | dict[str, Any] | None = None,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    description: str = DEFAULT_DESCRIPTION,
    backend: Backend | None = None,
    ensemble: int = 1,
    edge_restore: float | None = None,
    texture: float | str | None = None,
    noise_correlation: str | float = "auto",
) -> np.ndarray | MedicalImage:
    """Denoise an array, a :class:`~meddenoise.io.MedicalImage` or an image file.

    Parameters
    ----------
    source
        An array ``(H, W)`` or stack ``(N, H, W)`` in its own units (HU for CT), a ``MedicalImage``,
        or a path to a DICOM, NIfTI, PNG or TIFF file.
    model
        ``"auto"`` (the shipped model for the modality; ``general`` for arrays without one),
        ``"general"``, ``"ct"``, ``"mri"``, ``"xray"`` (also ``"pretrained:ct"``, ...), or a checkpoint
        path, resolved by :func:`meddenoise.methods.build_denoiser` (a registered name wins over a
        file of that name; write ``"./ct"`` for a path). Ignored when ``method`` is given.
    method
        A classical method instead of a model: ``median``, ``gaussian``, ``bilateral``, ``nlmeans``,
        ``tv``, ``wavelet``, ``bm3d``.
    noise_level
        The noise std in the image's own units: HU for CT, stored grey levels for PNG/TIFF and X-ray
        DICOM, the array's own values for an array (e.g. ``20`` for 20 HU); ``"auto"`` (estimated per
        slice in those units by :func:`meddenoise.noise.estimate_noise_in_units`: CT in HU by
        :func:`meddenoise.noise.estimate_ct_noise`), or ``None`` (the
        denoiser decides). Converted through the intensity mapping to the denoiser's [0, 1] scale.
        A denoiser that cannot use it ignores it with a :class:`UserWarning`.
    strength
        >= 0; 0 returns the input unchanged, 1 is the default. Scales the noise level given to a
        denoiser that takes one; blends ``input + strength * (denoised - input)`` for the others. Above
        1 a model whose ``strength_above_one`` is ``"repeat"`` (the shipped ``ct``) runs again on its own
        output instead (2 = two passes; :func:`meddenoise.denoiser.strength_passes`).
    noise_correlation
        Which kind of noise, for a model that takes it (the noise's lag-1 spatial correlation):
        ``"auto"`` (estimated per slice where the level is read), ``"white"`` (white noise, e.g. added in a
        test) or a number in [-1, 1]. Other denoisers ignore it.
    modality
        DICOM modality code of an array (``"CT"`` means the array is in HU); files say their own.
    intensity
        Override the intensity mapping (:class:`~meddenoise.data.IntensitySpec` or its dict); by
        default the denoiser's own (model card, checkpoint's training config, or the classical one).
    tile, overlap
        Tiling of large images (by default an image up to 1024x1024 is denoised whole, a larger one in
        640-px tiles).
    output
        Also write the result here (same format rules as the CLI; never onto the input).
    overwrite
        Replace ``output`` when it exists (otherwise :class:`~meddenoise.io.OutputExistsError`,
        raised before any denoising).
    description
        Appended to the DICOM SeriesDescription of a written DICOM.
    backend
        Where a model runs: ``"torch"``, ``"bf16"`` (PyTorch in bfloat16 autocast: ~3x faster on a CPU
        with AMX, slower without native bf16), ``"onnx"`` (onnxruntime; the same pixels within 1e-4 on
        the [0, 1] scale) or ``None`` (the model's own: PyTorch, onnxruntime for a ``.onnx`` file).
    ensemble
        A model's geometric self-ensemble: 1 (off), 2, 4 or 8 flipped / rotated copies averaged;
        +0.1 to +0.5 dB at 8x the time on the shipped models' card images (``docs/denoise.md``).
    edge_restore
        In [0, 1]: the share of what a model removed, low-passed, that is put back at strong edges
        (:mod:`meddenoise.models.edge_restore`; 0 = off). ``None``: the model's own default (``ct`` 0.4,
        the other shipped models and checkpoints 0). ``ct`` restores edges only where the noise it removed is
        correlated (a scanner's), whatever the amount: white noise is left as the network made it.
        Classical methods ignore it.
    texture
        In [0, 1]: the share of the fine-grained noise a model removed that is put back, for the scan's
        own noise texture instead of a smooth, blotchy one (:mod:`meddenoise.models.texture`; 0 = off).
        Costs noise reduction. ``"auto"``: a share that follows the noise level, none up to 30 HU and 0.7
        from 50 HU, and none where the removed noise is white (the ``ct`` model; the others put nothing
        back); the ``ct`` model, told a scanner's noise (its lag-1 correlation from 0.5 to 0.7 and over,
        as CT kernels make it), runs once more and blends instead, as ``"blend"`` with ``strength=2``.
        ``"blend"``: a blend with the input instead (a share of the whole removed component, none up
        to 12 HU, from 24 HU 0.5 of it, up to 0.7 for a soft kernel's coarse noise, same gate), for the
        scan's texture at low dose (with ``strength=2``). ``None``: the model's
        own default (``ct`` ``"auto"``, the others 0). Classical methods ignore it.

    Returns
    -------
    numpy.ndarray or MedicalImage
        Array in → array of the same shape, units and dtype. Path or ``MedicalImage`` in →
        ``MedicalImage`` with denoised float32 pixels in original units and the source's metadata.
    """
    spec = IntensitySpec.from_dict(intensity) if isinstance(intensity, dict) else intensity
    resolver = DenoiserResolver(
        model=model,
        method=method,
        intensity=spec,
        backend=backend,
        ensemble=ensemble,
        edge_restore=edge_restore,
        texture=texture,
    )
    options = DenoiseOptions(
        noise_level=noise_level,
        strength=strength,
        tile=tile,
        overlap=overlap,
        noise_correlation=noise_correlation,
    )

    if isinstance(source, np.ndarray):
        if output is not None:
            raise ValueError("output= needs a file or MedicalImage input (an array has no format to keep)")
        arr = np.asarray(source)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ValueError(f"expected a real numeric array, got dtype {arr.dtype}")
        choice = resolver.for_modality(modality)
        units = "HU" if (modality or "").upper() == "CT" else None
        pixels, report = denoise_pixels(
            arr.astype(np.float32),
            choice.denoiser,
            intensity=choice.intensity,
            modality=modality,
            units=units,
            original_dtype=str(arr.dtype),
            options=options,
        )
        _warn_if_ignored(choice.label, report)
        if options.strength == 0:
            return arr.copy()  # exactly the input, whatever its dtype (the pipeline works in float32)
        return _cast_like(pixels, arr.dtype)

    from meddenoise.io import MedicalImage, check_output, read_image, write_like_source

    if output is not None:  # refused before the (possibly long) denoising, not after it
        check_output(output, overwrite=overwrite)
    image = source if isinstance(source, MedicalImage) else read_image(Path(source))
    pixels, report, label = denoise_image(image, resolver, options)
    _warn_if_ignored(label, report)
    result = MedicalImage(pixels=pixels, meta=image.meta)
    if output is not None:
        target = Path(output)
        src = image.meta.source
        if src is not None and target.resolve() == Path(src).resolve():
            raise ValueError(f"{target}: output would overwrite the input; choose another path")
        write_like_source(target, pixels, image, description=derivation(description, label, report))
    return result
