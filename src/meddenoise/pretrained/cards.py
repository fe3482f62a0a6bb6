"""Writing the model cards of the shipped models (``NAME.json`` and ``NAME.md``) from measured data.

Pure functions of their arguments: the caller measures (``scripts/train_pretrained.py`` through
:func:`meddenoise.experiments.model_cards.measure_quality`) and passes the numbers in;
nothing here trains, scores or reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from meddenoise._utils import atomic_path
from meddenoise.pretrained.registry import card_flag, card_strength_rule, card_texture

#: A network constructor argument as a card stores it (e.g. ``depth: 7`` or ``channels: [32, 64, 128]``).
ArchitectureParam = bool | int | float | str | list[int]

__all__ = [
    "METHOD_LABELS",
    "ArchitectureParam",
    "CardTraining",
    "ModelCardData",
    "Quality",
    "QualityTable",
    "model_card_markdown",
    "quality_markdown",
    "read_model_card",
    "write_model_card",
]

#: Quality-table row key → label in the Markdown card (``model`` is labelled with the model's name).
METHOD_LABELS: dict[str, str] = {
    "noisy": "noisy input",
    "model": "(this model), blind",
    "model_told": "(this model), told the true std",
    "model_x8": "(this model) x8 self-ensemble, blind",
    "model_told_x8": "(this model) x8 self-ensemble, told the true std",
    "bm3d": "BM3D, told the true std",
    "nlmeans": "NL-means, told the true std",
}

JsonData = Mapping[str, object]


@dataclass(frozen=True)
class Quality:
    """Mean PSNR (dB, 2 decimals) and SSIM (4 decimals) of one method."""

    psnr: float
    ssim: float

    def to_dict(self) -> dict[str, float]:
        return {"psnr": self.psnr, "ssim": self.ssim}


@dataclass(frozen=True)
class QualityTable:
    """The measured quality on held-apart images: headline rows (mean over noise levels) and per level."""

    rows: dict[str, Quality]
    per_sigma: dict[str, dict[str, Quality]]
    images: int
    #: side of the centre crop the images were scored on; 0: whole images (every card since 2026-11-30)
    crop: int
    noise: str
    held_apart: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            **{name: q.to_dict() for name, q in self.rows.items()},
            "per_sigma": {s: {n: q.to_dict() for n, q in rows.items()} for s, rows in self.per_sigma.items()},
            "images": self.images,
            "crop": self.crop,
            "noise": self.noise,
            "held_apart": self.held_apart,
        }

    @classmethod
    def from_dict(cls, data: JsonData) -> QualityTable:
        per_sigma = _mapping(data["per_sigma"])
        return cls(
            rows={k: _quality(v) for k, v in data.items() if k in METHOD_LABELS},
            per_sigma={
                s: {n: _quality(q) for n, q in _mapping(rows).items()} for s, rows in per_sigma.items()
            },
            images=_int(data["images"]),
            crop=_int(data["crop"]),
            noise=str(data["noise"]),
            held_apart=str(data.get("held_apart", "")),
        )


@dataclass(frozen=True)
class CardTraining:
    """How the weights were trained: patches, epochs, time, machine, date and the TrainConfig (as JSON)."""

    patches: int
    epochs: int
    seconds: float
    machine: str
    date: str
    config: JsonData = field(default_factory=dict)
    #: side of the square training patches (cards written before the field: 48)
    patch_size: int = 48

    def to_dict(self) -> dict[str, object]:
        return {
            "patches": self.patches,
            "epochs": self.epochs,
            "seconds": self.seconds,
            "machine": self.machine,
            "date": self.date,
            "config": dict(self.config),
            "patch_size": self.patch_size,
        }


@dataclass(frozen=True)
class ModelCardData:
    """Everything a shipped model's card says (the JSON card's fields, in its order)."""

    name: str
    modality: str
    summary: str
    architecture: str
    architecture_params: Mapping[str, ArchitectureParam]
    parameters: int
    weights: str
    sha256: str
    size_bytes: int
    intensity: JsonData
    intensity_text: str
    noise: str
    training_data: Sequence[Mapping[str, str]]
    held_apart: str
    command: str
    seed: int
    quality: QualityTable
    ms_per_512: float
    initialised_from: str | None
    training: CardTraining
    #: where ``ms_per_512`` was timed (the weights may have trained elsewhere, e.g. on a GPU) and with how
    #: many torch threads; cards written before these fields were timed where they trained
    speed_machine: str = ""
    speed_threads: int | None = None
    #: how the weights file stores them (:mod:`meddenoise.models.weights`); cards before this field: float32
    weight_storage: str = "float32"
    #: edge restoration applied to the output by default (:mod:`meddenoise.models.edge_restore`; 0 = none)
    edge_restore: float = 0.0
    #: whether it acts only where the removed noise is correlated (a scanner's), not on white noise
    edge_restore_correlated_only: bool = False
    #: noise texture kept by default (:mod:`meddenoise.models.texture`): an amount in [0, 1] or ``"auto"``
    texture: float | str = 0.0
    #: how the model goes past ``--strength 1`` (:data:`meddenoise.denoiser.STRENGTH_RULES`)
    strength_above_one: str = "level"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "modality": self.modality,
            "summary": self.summary,
            "architecture": self.architecture,
            "architecture_params": dict(self.architecture_params),
            "parameters": self.parameters,
            "weights": self.weights,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "weight_storage": self.weight_storage,
            "edge_restore": self.edge_restore,
            "edge_restore_correlated_only": self.edge_restore_correlated_only,
            "texture": self.texture,
            "strength_above_one": self.strength_above_one,
            "intensity": dict(self.intensity),
            "intensity_text": self.intensity_text,
            "noise": self.noise,
            "training_data": [dict(s) for s in self.training_data],
            "held_apart": self.held_apart,
            "command": self.command,
            "seed": self.seed,
            "quality": self.quality.to_dict(),
            "ms_per_512": self.ms_per_512,
            "initialised_from": self.initialised_from,
            "training": self.training.to_dict(),
            "speed": {"machine": self.speed_machine, "threads": self.speed_threads},
        }

    @classmethod
    def from_dict(cls, data: JsonData) -> ModelCardData:
        training = _mapping(data["training"])
        init = data.get("initialised_from")
        speed = _mapping(data.get("speed", {}))
        threads = speed.get("threads")
        return cls(
            name=str(data["name"]),
            modality=str(data["modality"]),
            summary=str(data["summary"]),
            architecture=str(data["architecture"]),
            architecture_params={
                k: _architecture_param(v) for k, v in _mapping(data["architecture_params"]).items()
            },
            parameters=_int(data["parameters"]),
            weights=str(data["weights"]),
            sha256=str(data["sha256"]),
            size_bytes=_int(data["size_bytes"]),
            weight_storage=str(data.get("weight_storage", "float32")),
            edge_restore=_float(data.get("edge_restore", 0.0)),
            edge_restore_correlated_only=card_flag(data.get("edge_restore_correlated_only", False)),
            texture=card_texture(data.get("texture", 0.0)),
            strength_above_one=card_strength_rule(data.get("strength_above_one", "level")),
            intensity=_mapping(data["intensity"]),
            intensity_text=str(data["intensity_text"]),
            noise=str(data["noise"]),
            training_data=[
                {k: str(v) for k, v in _mapping(s).items()} for s in _sequence(data["training_data"])
            ],
            held_apart=str(data["held_apart"]),
            command=str(data["command"]),
            seed=_int(data["seed"]),
            quality=QualityTable.from_dict(_mapping(data["quality"])),
            ms_per_512=_float(data["ms_per_512"]),
            initialised_from=None if init is None else str(init),
            training=CardTraining(
                patches=_int(training["patches"]),
                epochs=_int(training["epochs"]),
                seconds=_float(training["seconds"]),
                machine=str(training["machine"]),
                date=str(training["date"]),
                config=_mapping(training.get("config", {})),
                patch_size=_int(training.get("patch_size", 48)),
            ),
            speed_machine=str(speed.get("machine", "")),
            speed_threads=None if threads is None else _int(threads),
        )


def _storage_text(storage: str) -> str:
    if storage == "int8":
        return "int8 with a float32 scale per output slice, float32 at load: meddenoise.models.weights"
    if storage == "int4":
        from meddenoise.models.weights import INT4_GROUP, INT4_MIN_ELEMENTS

        return (
            f"tensors of {INT4_MIN_ELEMENTS:,} values or more (the coarsest levels) int4 with a float16 scale "
            f"per {INT4_GROUP} values, the other large ones int8; float32 at load: meddenoise.models.weights"
        )
    return storage


def model_card_markdown(card: ModelCardData, *, patch_size: int, torch_threads: int) -> str:
    """The Markdown card (``NAME.md``) of ``card``; ``patch_size`` and ``torch_threads`` as trained/timed."""
    q = card.quality
    rows = quality_markdown(q, card.name)
    sources = "\n".join(
        f"- **{s['name']}** — {s.get('images', '')}. Licence: {s['licence']}. Credit: {s['credit']}"
        for s in card.training_data
    )
    t = card.training
    return f"""# Pretrained model `{card.name}` ({card.modality})

{card.summary}

| | |
|---|---|
| architecture | `{card.architecture}` {dict(card.architecture_params)}, {card.parameters:,} parameters |
| weights | `{card.weights}` ({card.size_bytes:,} bytes, {_storage_text(card.weight_storage)}), sha256 `{card.sha256}` |
| intensity mapping | {card.intensity_text} → [0, 1]; content outside is left unchanged (noise just past it is denoised) |
| edge restoration | {_edge_restore_text(card.edge_restore, correlated_only=card.edge_restore_correlated_only)} |
| noise texture | {_texture_text(card.texture)} |
| strength above 1 | {_strength_text(card.strength_above_one)} |
| noise trained on | {card.noise} |
| training | {t.patches} random {patch_size}x{patch_size} patches, {t.epochs} epochs, Adam, {_loss_text(t.config)}{_frozen_text(t.config)}, seed {card.seed}, {t.seconds:.0f} s on {t.machine} |
| initialised from | {card.initialised_from or "random (seeded)"} |
| speed | {card.ms_per_512} ms per 512x512 slice ({card.speed_machine or t.machine}, torch threads {torch_threads}) |
| command | `{card.command}` |

## Training data

{sources}

Not used, because their terms forbid redistribution or commercial use: mini-MIAS, the dental set, Set12/Train400, MNIST.

## Quality on held-apart images

Held apart: {card.held_apart}. Noise: {q.noise}.

{rows}

Measured by `scripts/train_pretrained.py` through `meddenoise.evaluation.benchmark` (the code behind
`meddenoise benchmark`); re-measured for the shipped weights with `scripts/train_pretrained.py --cards-only`
(timings on a shared machine are noisy).
"""


def quality_markdown(quality: QualityTable, name: str) -> str:
    """The card's quality table: one row per method, PSNR (dB) / SSIM per noise level and their mean."""
    levels = list(quality.per_sigma)
    header = (
        "| method | "
        + " | ".join("clean input (std 0)" if lv == "0" else f"std {lv}" for lv in levels)
        + " | mean over levels with noise |"
    )
    lines = [header, "|---" * (len(levels) + 2) + "|"]
    for key, label in METHOD_LABELS.items():
        if key not in quality.rows:
            continue
        text = f"**{name}** {label}" if key.startswith("model") else label
        cells = []
        for lv in levels:
            q = quality.per_sigma[lv].get(key)
            cells.append("(clean)" if q is None else _cell(q))
        cells.append(_cell(quality.rows[key]))
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    return "PSNR (dB) / SSIM\n\n" + "\n".join(lines)


def _cell(q: Quality) -> str:
    psnr = "≥ 100" if q.psnr >= 100 else f"{q.psnr:.2f}"  # PSNR is capped at 100 dB (identical images)
    return f"{psnr} / {q.ssim:.4f}"


def write_model_card(
    card: ModelCardData, out_dir: Path, *, patch_size: int | None = None, torch_threads: int | None = None
) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.json`` and ``<name>.md`` atomically; returns both paths.

    ``patch_size`` and ``torch_threads`` default to the card's ``training.patch_size`` and ``speed_threads``.
    """
    patch_size = card.training.patch_size if patch_size is None else patch_size
    if torch_threads is None:
        if card.speed_threads is None:
            raise ValueError(
                f"card {card.name!r} does not say how many torch threads timed it: pass torch_threads"
            )
        torch_threads = card.speed_threads
    json_path = Path(out_dir) / f"{card.name}.json"
    md_path = Path(out_dir) / f"{card.name}.md"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
    with atomic_path(md_path) as tmp:
        tmp.write_text(
            model_card_markdown(card, patch_size=patch_size, torch_threads=torch_threads), encoding="utf-8"
        )
    return json_path, md_path


def read_model_card(path: Path) -> ModelCardData:
    """A JSON card written by :func:`write_model_card`."""
    try:
        return ModelCardData.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable model card ({exc})") from exc


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _sequence(value: object) -> Sequence[object]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _architecture_param(value: object) -> ArchitectureParam:
    """A model constructor argument as JSON holds it: a flag, a number, a string, or a list of integers."""
    if isinstance(value, list):
        return [_int(v) for v in value]
    if not isinstance(value, (bool, int, float, str)):
        raise TypeError(f"expected a flag, a number, a string or a list of integers, got {value!r}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _edge_restore_text(amount: float, *, correlated_only: bool = False) -> str:
    if amount == 0:
        return "none by default (`--edge-restore A` adds it)"
    where = (
        ", only where the removed noise is correlated like a scanner's (none on white noise: its lag-1"
        " correlation decides, meddenoise.models.removed)"
        if correlated_only
        else ""
    )
    return (
        f"{amount:g} by default: that share of the removed component, low-passed, is put back at strong "
        f"edges (meddenoise.models.edge_restore; `--edge-restore 0` turns it off){where}; the quality below "
        "includes it"
    )


def _loss_text(config: JsonData) -> str:
    """The training loss as the card says it: MSE, and how each patch's level weighted it, if it did."""
    objective = config.get("objective")
    if not isinstance(objective, Mapping) or not objective.get("level_weight_power"):
        return "MSE"
    return f"MSE weighted per patch by max(std, {objective['level_weight_floor']})^-{objective['level_weight_power']:g}"


def _frozen_text(config: JsonData) -> str:
    """What the training kept at its starting values (``TrainConfig.frozen``), if anything."""
    frozen = config.get("frozen")
    if not isinstance(frozen, list) or not frozen:
        return ""
    # fnmatch patterns: how many tensors they match is not known from the config
    if any(set(str(entry)) & set("*?[") for entry in frozen):
        return f", the parameters matching {len(frozen)} `frozen` patterns kept at their starting values (in the config)"
    return f", {len(frozen)} tensors kept at their starting values (`frozen`, in the config)"


def _strength_text(rule: str) -> str:
    if rule == "repeat":
        return (
            "runs again on its own output, told the same noise level (`--strength 2`: two passes, 1.5 half "
            "way; told a higher level it would remove less)"
        )
    return "told `strength` times the noise level"


def _texture_text(setting: float | str) -> str:
    if setting == "auto":
        return (
            "auto by default: a share of the fine-grained noise removed is put back, none up to 30 HU, 0.7 from "
            "50 HU, and only where the removed noise is spatially correlated like a CT kernel's (white noise "
            "gets none); for a network told the noise's kind that repeats (ct), noise it is told is a "
            "scanner's (lag-1 correlation from 0.5 to 0.7 and over) gets one more pass and the blend with "
            "the input instead (`--texture blend`: none up to 12 HU, from 24 HU 0.5 of what was removed, "
            "up to 0.7 for a soft kernel's coarse noise); meddenoise.models.texture; `--texture 0` turns it "
            "off; the quality below includes it"
        )
    if setting == 0:
        return "none by default (`--texture A` adds it)"
    return (
        f"{setting:g} by default: that share of the fine-grained noise removed is put back "
        "(meddenoise.models.texture; `--texture 0` turns it off); the quality below includes it"
    )


def _float(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _quality(value: object) -> Quality:
    data = _mapping(value)
    return Quality(psnr=_float(data["psnr"]), ssim=_float(data["ssim"]))
