"""The pretrained models shipped inside the package: weights (safetensors) + model cards (JSON, Markdown).

Each model ``NAME`` is three files in this folder: ``NAME.safetensors`` (the weights, int8
with a scale per output slice since 2026-11-30: :mod:`meddenoise.models.weights`),
``NAME.json`` (the machine-readable model card: architecture, intensity mapping, training data and
licences, noise, command, seed, sha256 of the weights, measured quality and speed) and ``NAME.md``
(the same card for people). ``scripts/train_pretrained.py`` writes all three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meddenoise.data.intensity import IntensitySpec
from meddenoise.denoiser import Denoiser
from meddenoise.provenance import sha256_file

__all__ = [
    "PRETRAINED_DIR",
    "ModelCard",
    "PretrainedModelError",
    "get_card",
    "list_pretrained",
    "load_pretrained",
    "pretrained_for_modality",
    "sha256_file",
]

PRETRAINED_DIR = Path(__file__).resolve().parent

#: DICOM modality codes → the shipped model trained for them (others get ``general``).
MODALITY_MODEL: dict[str, str] = {
    "CT": "ct",
    "MR": "mri",
    "CR": "xray",
    "DX": "xray",
    "RG": "xray",
    "MG": "xray",
    "XA": "xray",
    "RF": "xray",
    "PX": "xray",
    "IO": "xray",
}


class PretrainedModelError(ValueError):
    """A pretrained model that is unknown, missing its files, or whose weights fail their checksum."""


@dataclass(frozen=True)
class ModelCard:
    """The JSON model card of a shipped model (see ``NAME.json`` / ``NAME.md`` in this folder)."""

    name: str
    modality: str
    architecture: str
    architecture_params: dict[str, Any]
    parameters: int
    weights: str
    sha256: str
    intensity: IntensitySpec
    noise: str
    training_data: list[dict[str, Any]]
    command: str
    seed: int
    quality: dict[str, Any] = field(default_factory=dict)
    ms_per_512: float | None = None
    summary: str = ""
    #: the edge restoration applied to the model's output by default (0 = none; see
    #: :mod:`meddenoise.models.edge_restore`)
    edge_restore: float = 0.0
    #: whether that edge restoration acts only where the removed noise is correlated (a scanner's), not on
    #: white noise (``EdgeRestoring(correlated_only=True)``)
    edge_restore_correlated_only: bool = False
    #: the noise texture kept by default: an amount in [0, 1] or ``"auto"`` (0 = none; see
    #: :mod:`meddenoise.models.texture`)
    texture: float | str = 0.0
    #: how the model goes past ``--strength 1``: ``"level"`` (told more) or ``"repeat"`` (run again on its
    #: own output; :data:`meddenoise.denoiser.STRENGTH_RULES`)
    strength_above_one: str = "level"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def weights_path(self) -> Path:
        return PRETRAINED_DIR / self.weights

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Build a card from its parsed JSON."""
        try:
            return cls(
                name=str(data["name"]),
                modality=str(data["modality"]),
                architecture=str(data["architecture"]),
                architecture_params=dict(data.get("architecture_params", {})),
                parameters=int(data["parameters"]),
                weights=str(data["weights"]),
                sha256=str(data["sha256"]),
                intensity=IntensitySpec.from_dict(data.get("intensity", {})),
                noise=str(data.get("noise", "")),
                training_data=list(data.get("training_data", [])),
                command=str(data.get("command", "")),
                seed=int(data.get("seed", 0)),
                quality=dict(data.get("quality", {})),
                ms_per_512=(None if data.get("ms_per_512") is None else float(data["ms_per_512"])),
                summary=str(data.get("summary", "")),
                edge_restore=float(data.get("edge_restore", 0.0)),
                edge_restore_correlated_only=card_flag(data.get("edge_restore_correlated_only", False)),
                texture=card_texture(data.get("texture", 0.0)),
                strength_above_one=card_strength_rule(data.get("strength_above_one", "level")),
                raw=data,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PretrainedModelError(f"model card {data.get('name', '?')!r} is invalid: {exc}") from exc

    def training_data_line(self) -> str:
        """The training data names, comma-separated, each once."""
        return ", ".join(dict.fromkeys(str(item.get("name", "?")) for item in self.training_data))


def card_strength_rule(value: object) -> str:
    """A card's ``strength_above_one``: ``"level"`` or ``"repeat"`` (:data:`meddenoise.denoiser.STRENGTH_RULES`)."""
    from meddenoise.denoiser import STRENGTH_RULES

    if not isinstance(value, str) or value not in STRENGTH_RULES:
        raise ValueError(f"strength_above_one: expected one of {', '.join(STRENGTH_RULES)}, got {value!r}")
    return value


def card_flag(value: object) -> bool:
    """A card's yes/no setting: a JSON ``true`` / ``false`` (anything else is refused, not read as truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def card_texture(value: object) -> float | str:
    """A card's ``texture``: ``"auto"`` or an amount in [0, 1] (the factory applies the full rule,
    :func:`meddenoise.models.texture.parse_texture`; reading a card loads no network code)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"texture: expected a number in [0, 1] or 'auto', got {value!r}")
    amount = float(value)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"texture: expected a number in [0, 1] or 'auto', got {value!r}")
    return amount


def list_pretrained(directory: str | Path | None = None) -> list[ModelCard]:
    """All model cards in ``directory`` (default: the package's), sorted by name."""
    folder = Path(directory) if directory is not None else PRETRAINED_DIR
    cards = []
    for path in sorted(folder.glob("*.json")):
        with open(path, encoding="utf-8") as handle:
            cards.append(ModelCard.from_dict(json.load(handle)))
    return cards


def get_card(name: str) -> ModelCard:
    """The card of the shipped model ``name``.

    Raises
    ------
    PretrainedModelError
        If no such model is shipped.
    """
    path = PRETRAINED_DIR / f"{name}.json"
    if not path.is_file():
        valid = ", ".join(card.name for card in list_pretrained()) or "none"
        raise PretrainedModelError(f"no pretrained model {name!r}; shipped models: {valid}")
    with open(path, encoding="utf-8") as handle:
        return ModelCard.from_dict(json.load(handle))


def pretrained_for_modality(modality: str | None) -> str:
    """Name of the shipped model for a DICOM modality code (``general`` when none is specific)."""
    name = MODALITY_MODEL.get((modality or "").upper(), "general")
    return name if (PRETRAINED_DIR / f"{name}.json").is_file() else "general"


def load_pretrained(name: str, *, batch_size: int = 4, verify: bool = True) -> Denoiser:
    """Load the shipped model ``name`` as a :class:`~meddenoise.denoiser.Denoiser`.

    Parameters
    ----------
    name
        ``general``, ``ct``, ``mri``, ``xray`` (see :func:`list_pretrained`).
    batch_size
        Images per forward pass.
    verify
        Check the weights' SHA-256 against the card first.
    """
    from meddenoise.models import build_model
    from meddenoise.models.denoiser import ModelDenoiser
    from meddenoise.models.weights import load_weights

    card = get_card(name)
    weights = card.weights_path
    if not weights.is_file():
        raise PretrainedModelError(f"{weights}: weights of pretrained model {name!r} are missing")
    if verify and sha256_file(weights) != card.sha256:
        raise PretrainedModelError(f"{weights}: SHA-256 does not match the model card; the file is damaged")
    model = build_model(card.architecture, **card.architecture_params)
    model.load_state_dict(load_weights(weights))  # int8 weights come back as float32
    model.eval()
    denoiser = ModelDenoiser(model, name=f"{card.name}", batch_size=batch_size)
    denoiser.strength_above_one = card.strength_above_one  # how it goes past strength 1 (ct: again)
    return denoiser
