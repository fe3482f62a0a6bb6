"""Turning ``--model`` / ``--method`` choices into a denoiser plus the intensity mapping it needs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from meddenoise.denoiser import Denoiser
from meddenoise.pipeline.intensity import IntensitySpec

__all__ = ["CLASSICAL_INTENSITY", "DenoiserChoice", "DenoiserResolver"]

#: Mapping used for classical filters: CT through a wide window, others by robust percentiles.
CLASSICAL_INTENSITY = IntensitySpec(method="auto", level=0.0, width=2048.0, low=0.5, high=99.5)


@dataclass
class DenoiserChoice:
    """A ready denoiser, the intensity mapping to feed it, and a label for summaries."""

    denoiser: Denoiser
    intensity: IntensitySpec
    label: str


@dataclass
class DenoiserResolver:
    """Picks (and caches) the denoiser for each image.

    Parameters
    ----------
    model
        ``"auto"`` (the shipped model for the image's modality), a shipped model name
        (``general``, ``ct``, ``mri``, ``xray``), or a checkpoint path (``.safetensors`` with the
        training config ``.json`` beside it). Ignored when ``method`` is given.
    method
        A classical method name (:data:`meddenoise.classical.CLASSICAL_METHODS`), e.g. ``median``, or
        any :class:`~meddenoise.denoiser.Denoiser` instance (used as is).
    intensity
        Overrides the intensity mapping (default: the model card's, or :data:`CLASSICAL_INTENSITY`).
    """

    model: str | None = "auto"
    method: str | Denoiser | None = None
    intensity: IntensitySpec | None = None
    batch_size: int = 4
    _cache: dict[str, DenoiserChoice] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.method is None and not self.model:
            self.model = "auto"
        # Fail early, before any file is touched, when the choice cannot be resolved.
        if self.method is not None or self.model != "auto":
            self.for_modality(None)

    def for_modality(self, modality: str | None) -> DenoiserChoice:
        """The denoiser for an image of this DICOM modality code."""
        if isinstance(self.method, Denoiser):
            if "instance" not in self._cache:
                self._cache["instance"] = DenoiserChoice(
                    self.method, self.intensity or CLASSICAL_INTENSITY, self.method.name
                )
            return self._cache["instance"]
        if self.method is not None:
            key = f"method:{self.method}"
        elif self.model == "auto":
            from meddenoise.pretrained import pretrained_for_modality

            key = f"pretrained:{pretrained_for_modality(modality)}"
        else:
            key = f"model:{self.model}"
        if key not in self._cache:
            self._cache[key] = self._build(key)
        return self._cache[key]

    def _build(self, key: str) -> DenoiserChoice:
        kind, _, name = key.partition(":")
        if kind == "method":
            from meddenoise.classical import get_classical

            denoiser = get_classical(name)
            return DenoiserChoice(denoiser, self.intensity or CLASSICAL_INTENSITY, name)
        if kind == "pretrained":
            return self._pretrained(name)
        path = Path(name)
        if path.suffix == ".safetensors" or path.exists():
            return self._checkpoint(path)
        return self._pretrained(name)

    def _pretrained(self, name: str) -> DenoiserChoice:
        from meddenoise.pretrained import get_card, load_pretrained

        card = get_card(name)
        denoiser = load_pretrained(name, batch_size=self.batch_size)
        return DenoiserChoice(denoiser, self.intensity or card.intensity, f"pretrained {name}")

    def _checkpoint(self, path: Path) -> DenoiserChoice:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint not found")
        from meddenoise.training import load_denoiser

        denoiser = load_denoiser(path)
        spec = self.intensity
        sidecar = path.with_suffix(".json")
        if spec is None and sidecar.is_file():
            # A checkpoint trained for the pipeline may record its intensity mapping in its metadata.
            with open(sidecar, encoding="utf-8") as handle:
                data = json.load(handle)
            recorded = data.get("intensity") or data.get("metadata", {}).get("intensity")
            spec = IntensitySpec.from_dict(recorded) if isinstance(recorded, dict) else None
        return DenoiserChoice(denoiser, spec or CLASSICAL_INTENSITY, f"checkpoint {path.name}")
