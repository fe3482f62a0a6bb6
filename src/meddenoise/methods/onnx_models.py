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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from meddenoise.data.intensity import IntensitySpec
from meddenoise.models.onnx import (
    METADATA_PREFIX,
    ONNX_IMAGE,
    ONNX_OUTPUT,
    ONNX_SIGMA,
    OnnxDenoiser,
    export_onnx,
)

__all__ = [
    "KEY_CARD",
    "KEY_INTENSITY",
    "ONNX_SUFFIX",
    "OnnxExport",
    "checkpoint_export",
    "onnx_intensity",
    "onnx_texture",
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


def _inputs_text(uses_sigma: bool) -> str:
    text = f"{ONNX_IMAGE}: float32 (N, 1, H, W) on the [0, 1] scale given by {KEY_INTENSITY}"
    if uses_sigma:
        text += f"; {ONNX_SIGMA}: float32 (N,), the noise std on that scale (0 = no noise)"
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
        KEY_INPUTS: _inputs_text(bool(getattr(model, "uses_sigma", False))),
        KEY_VERSION: __version__,
    }
    data = export_onnx(model, metadata=metadata, doc=doc)
    return OnnxExport(data, metadata, name, intensity)


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


def onnx_edge_restore(metadata: dict[str, str]) -> float:
    """The edge restoration recorded in an exported file's model card (a shipped ``ct``: 0.8), else 0."""
    try:
        card = json.loads(metadata.get(KEY_CARD, "{}"))
        return float(card.get("edge_restore", 0.0)) if isinstance(card, dict) else 0.0
    except (ValueError, TypeError):
        return 0.0


def onnx_texture(metadata: dict[str, str]) -> float | str:
    """The noise texture recorded in an exported file's model card (a shipped ``ct``: ``"auto"``), else 0."""
    from meddenoise.pretrained.registry import card_texture

    try:
        card = json.loads(metadata.get(KEY_CARD, "{}"))
        return card_texture(card.get("texture", 0.0)) if isinstance(card, dict) else 0.0
    except (ValueError, TypeError):
        return 0.0


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
