"""Shipped models and checkpoints as self-describing ONNX files, and ONNX files back as denoisers.

An exported file carries, in its ``metadata_props`` (keys below), what the factory needs to use it
exactly as the PyTorch model is used: the intensity mapping (:class:`~meddenoise.data.IntensitySpec` as
JSON), the model card (a shipped model's JSON card; a checkpoint's training config and metadata), and
the graph's contract. The shipped model's Markdown card is also the graph's ``doc_string``.
:func:`meddenoise.methods.export_model` resolves a name and writes the file; the factory runs a ``.onnx``
path, or any model with ``backend="onnx"``, through :class:`~meddenoise.models.onnx.OnnxDenoiser`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from torch import nn

from meddenoise.data.intensity import IntensitySpec
from meddenoise.models.onnx import (
    METADATA_PREFIX,
    ONNX_CORRELATION,
    ONNX_IMAGE,
    ONNX_OUTPUT,
    ONNX_SIGMA,
    OnnxDenoiser,
    export_onnx,
)

T = TypeVar("T")

if TYPE_CHECKING:
    from meddenoise.data.normalize import Normalizer
    from meddenoise.io.image import MedicalImage

__all__ = [
    "KEY_CARD",
    "KEY_INTENSITY",
    "ONNX_SUFFIX",
    "OnnxExport",
    "checkpoint_export",
    "evenly_spaced",
    "onnx_intensity",
    "onnx_strength_above_one",
    "onnx_texture",
    "quantized_export",
    "shipped_export",
]

ONNX_SUFFIX = ".onnx"
KEY_NAME = METADATA_PREFIX + "name"
KEY_SOURCE = METADATA_PREFIX + "source"
KEY_ARCHITECTURE = METADATA_PREFIX + "architecture"
KEY_ARCHITECTURE_PARAMS = METADATA_PREFIX + "architecture_params"
KEY_INTENSITY = METADATA_PREFIX + "intensity"
KEY_INTENSITY_TEXT = METADATA_PREFIX + "intensity_text"
KEY_CARD = METADATA_PREFIX + "model_card"
KEY_INPUTS = METADATA_PREFIX + "inputs"
KEY_VERSION = METADATA_PREFIX + "version"
KEY_QUANTIZED = METADATA_PREFIX + "quantized"
#: Noise levels ([0, 1] scale) at which each calibration image of :func:`quantized_export` is also fed
#: (white noise added, the level told): the activations' ranges then cover noisy inputs too.
CALIBRATION_LEVELS = (0.005, 0.012, 0.03, 0.06)
#: Calibration images are cropped to their centre this size (px): ranges, not layouts, are measured.
CALIBRATION_CROP = 256
#: At most this many slices calibrate (evenly spaced over all those given).
CALIBRATION_SLICES = 16


@dataclass(frozen=True)
class OnnxExport:
    """An exported model: the ONNX file's bytes, its metadata, a label and the intensity mapping it needs."""

    data: bytes
    metadata: dict[str, str]
    label: str
    intensity: IntensitySpec

    def denoiser(self, *, name: str, batch_size: int | None = None) -> OnnxDenoiser:
        """This export run by onnxruntime."""
        return OnnxDenoiser(
            self.data, name=name, **({} if batch_size is None else {"batch_size": batch_size})
        )


def _inputs_text(uses_sigma: bool, uses_correlation: bool = False) -> str:
    text = f"{ONNX_IMAGE}: float32 (N, 1, H, W) on the [0, 1] scale given by {KEY_INTENSITY}"
    if uses_sigma:
        text += f"; {ONNX_SIGMA}: float32 (N,), the noise std on that scale (0 = no noise)"
    if uses_correlation:
        text += f"; {ONNX_CORRELATION}: float32 (N,), the noise's lag-1 spatial correlation (0 = white noise)"
    return text + f"; {ONNX_OUTPUT}: float32 (N, 1, H, W) in [0, 1]"


def _export(
    model: nn.Module,
    *,
    name: str,
    source: str,
    architecture: str,
    params: dict[str, Any],
    intensity: IntensitySpec,
    card: dict[str, Any],
    doc: str,
) -> OnnxExport:
    from meddenoise import __version__

    metadata = {
        KEY_NAME: name,
        KEY_SOURCE: source,
        KEY_ARCHITECTURE: architecture,
        KEY_ARCHITECTURE_PARAMS: json.dumps(params, sort_keys=True),
        KEY_INTENSITY: json.dumps(intensity.to_dict(), sort_keys=True),
        KEY_INTENSITY_TEXT: intensity.describe(),
        KEY_CARD: json.dumps(card, sort_keys=True),
        KEY_INPUTS: _inputs_text(
            bool(getattr(model, "uses_sigma", False)), bool(getattr(model, "uses_correlation", False))
        ),
        KEY_VERSION: __version__,
    }
    data = export_onnx(model, metadata=metadata, doc=doc)
    return OnnxExport(data, metadata, name, intensity)


def quantized_export(exported: OnnxExport, images: Sequence[MedicalImage], *, seed: int = 0) -> OnnxExport:
    """``exported`` with its convolutions in int8 (:func:`meddenoise.models.onnx.quantize_onnx`), calibrated
    on ``images`` (2D images or stacks, in their own units).

    Up to :data:`CALIBRATION_SLICES` slices, evenly spaced over all those of ``images``, each through
    ``exported``'s intensity mapping, cropped to its centre :data:`CALIBRATION_CROP` px and fed as it is
    (told its estimated noise level when the graph takes one) and with white noise at each of
    :data:`CALIBRATION_LEVELS` (told that level), seeded. The metadata records it (``meddenoise.quantized``)
    and the label gets `` int8``.
    """
    import onnx

    from meddenoise.data.intensity import fit_intensity, meta_intensity_args, to_unit
    from meddenoise.models.onnx import QUANTIZED_FLOAT_ENDS, quantize_onnx
    from meddenoise.noise import estimate_noise_correlation, estimate_noise_std

    rng = np.random.default_rng(seed)
    graph_inputs = {item.name for item in onnx.load_from_string(exported.data).graph.input}
    conditioned, kind = ONNX_SIGMA in graph_inputs, ONNX_CORRELATION in graph_inputs
    every = [(index, number) for index, image in enumerate(images) for number in range(len(image.slices()))]
    picked = evenly_spaced(every, CALIBRATION_SLICES)
    feeds: list[dict[str, np.ndarray]] = []
    mappings: dict[int, Normalizer] = {}
    for index, number in picked:
        image = images[index]
        if index not in mappings:
            mappings[index] = fit_intensity(
                image.pixels, exported.intensity, **meta_intensity_args(image.meta)
            )
        unit = to_unit(mappings[index], image.slices()[number])
        top = max(0, (unit.shape[0] - CALIBRATION_CROP) // 2)
        left = max(0, (unit.shape[1] - CALIBRATION_CROP) // 2)
        crop = unit[top : top + CALIBRATION_CROP, left : left + CALIBRATION_CROP]
        # as given (its own level and kind, estimated), then with white noise (told so)
        versions = [(crop, estimate_noise_std(crop), estimate_noise_correlation(crop) if kind else 0.0)]
        versions += [(crop + rng.normal(0, level, crop.shape), level, 0.0) for level in CALIBRATION_LEVELS]
        for version, level, correlation in versions:
            feed = {ONNX_IMAGE: np.asarray(version, dtype=np.float32)[None, None]}
            if conditioned:
                feed[ONNX_SIGMA] = np.array([level], dtype=np.float32)
            if kind:
                feed[ONNX_CORRELATION] = np.array([correlation], dtype=np.float32)
            feeds.append(feed)
    if not feeds:
        raise ValueError("int8 quantization needs calibration images (none given)")
    first, last = QUANTIZED_FLOAT_ENDS
    quantized = {
        KEY_QUANTIZED: (
            f"int8 convolutions (QDQ, weights per channel, activations uint8), but the first {first} and the "
            f"last {last} in float32; calibrated on {len(picked)} slice(s) as given and with white noise of "
            f"{', '.join(f'{v:g}' for v in CALIBRATION_LEVELS)} on the [0, 1] scale (seed {seed})"
        ),
    }
    data = quantize_onnx(exported.data, feeds, metadata=quantized)
    return OnnxExport(data, {**exported.metadata, **quantized}, exported.label + " int8", exported.intensity)


def evenly_spaced(items: Sequence[T], count: int) -> list[T]:
    """At most ``count`` of ``items``, evenly spaced from the first to the last, in order (all when fewer).

    Examples
    --------
    >>> evenly_spaced(list(range(21)), 16)
    [0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 19, 20]
    >>> evenly_spaced(["a", "b"], 16)
    ['a', 'b']
    """
    if len(items) <= count:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def shipped_export(name: str) -> OnnxExport:
    """The shipped model ``name`` (``ct``, ...) as ONNX, its card and intensity mapping in the metadata."""
    from meddenoise.models.denoiser import ModelDenoiser
    from meddenoise.pretrained import PRETRAINED_DIR, get_card, load_pretrained

    card = get_card(name)
    denoiser = load_pretrained(name)
    assert isinstance(denoiser, ModelDenoiser)  # shipped models are networks
    markdown = PRETRAINED_DIR / f"{name}.md"
    return _export(
        denoiser.model,
        name=card.name,
        source=f"shipped model {card.name} (sha256 of the weights {card.sha256})",
        architecture=card.architecture,
        params=card.architecture_params,
        intensity=card.intensity,
        card=card.raw,
        doc=markdown.read_text(encoding="utf-8") if markdown.is_file() else card.summary,
    )


def checkpoint_export(path: str | Path, intensity: IntensitySpec) -> OnnxExport:
    """A training checkpoint as ONNX; its config and metadata stand for the model card.

    ``intensity`` is the mapping the factory resolved for it (recorded, or the assumed default).
    """
    from meddenoise.training.checkpoint import load_checkpoint, read_checkpoint_json

    json_path, doc = read_checkpoint_json(path)
    model, config = load_checkpoint(path)
    card = {
        "name": json_path.stem,
        "architecture": config.model,
        "architecture_params": config.model_params,
        "config": doc["config"],
        "metadata": doc.get("metadata", {}),
        "weights_sha256": doc["weights_sha256"],
    }
    note = ""
    if config.bf16:
        note = " Trained in bfloat16; exported in float32 (PyTorch runs it in bf16 autocast by default)."
    return _export(
        model,
        name=json_path.stem,
        source=f"checkpoint {json_path}",
        architecture=config.model,
        params=dict(config.model_params),
        intensity=intensity,
        card=card,
        doc=f"meddenoise checkpoint {json_path.name}: {config.model} {config.model_params}.{note}",
    )


def _card_setting(metadata: dict[str, str], key: str, parse: Callable[[Any], T], default: T) -> T:
    """``parse`` of ``key`` in an exported file's model card; ``default`` where the file has no card, the card
    lacks the key, or either does not parse."""
    try:
        card = json.loads(metadata.get(KEY_CARD, "{}"))
        return parse(card.get(key, default)) if isinstance(card, dict) else default
    except (ValueError, TypeError):
        return default


def onnx_edge_restore(metadata: dict[str, str]) -> float:
    """The edge restoration recorded in an exported file's model card (a shipped ``ct``: 0.4), else 0."""
    return _card_setting(metadata, "edge_restore", float, 0.0)


def onnx_edge_restore_correlated_only(metadata: dict[str, str]) -> bool:
    """Whether the edge restoration recorded in an exported file's model card acts on correlated noise only
    (a shipped ``ct``: yes; :class:`~meddenoise.models.edge_restore.EdgeRestoring`), else ``False``."""
    from meddenoise.pretrained.registry import card_flag

    return _card_setting(metadata, "edge_restore_correlated_only", card_flag, False)


def onnx_texture(metadata: dict[str, str]) -> float | str:
    """The noise texture recorded in an exported file's model card (a shipped ``ct``: ``"auto"``), else 0."""
    from meddenoise.pretrained.registry import card_texture

    none: float | str = 0.0
    return _card_setting(metadata, "texture", card_texture, none)


def onnx_strength_above_one(metadata: dict[str, str]) -> str:
    """How the exported model goes past strength 1, from its file's model card (a shipped ``ct``: ``"repeat"``),
    else ``"level"`` (:data:`meddenoise.denoiser.STRENGTH_RULES`)."""
    from meddenoise.pretrained.registry import card_strength_rule

    return _card_setting(metadata, "strength_above_one", card_strength_rule, "level")


def onnx_intensity(metadata: dict[str, str]) -> IntensitySpec | None:
    """The intensity mapping recorded in an exported file's metadata, or ``None`` when it records none."""
    text = metadata.get(KEY_INTENSITY)
    if text is None:
        return None
    try:
        return IntensitySpec.from_dict(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"the ONNX file's {KEY_INTENSITY} is not a valid intensity mapping ({exc})"
        ) from None
