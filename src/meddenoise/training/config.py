"""The typed training configuration, saved as JSON beside every checkpoint.

One :class:`TrainConfig` fully determines a training run: the same (resolved) config, data and seed
give the same weights. Unknown keys are refused (``extra="forbid"``) so a typo never silently falls back to a
default. Settings that belong together are groups: ``objective`` (which objective and its loss,
selected by ``kind``), ``optim`` (optimiser and learning-rate schedule), ``data`` (patches and
augmentation) and ``pretrain`` (greedy layer-wise pretraining of models that declare it).

Configs written before the groups existed (one flat level: ``mode``, ``loss``, ``optimizer``,
``lr``, ``patch_size``, ``blind_spot_fraction``, ``pretrain_epochs_per_layer``, …) still load: the
flat fields are moved into their groups before validation, so old checkpoints and the flat keyword
arguments ``TrainConfig(mode="noise2void", lr=1e-3)`` keep working; their boolean ``bf16`` becomes
``precision`` ("bf16" / "fp32"). Configs are immutable; derive a changed one with
:meth:`TrainConfig.derive`, which validates the result.

``precision`` and ``channels_last`` may be "auto": the trainer replaces them with this machine's
choice (:meth:`TrainConfig.resolved`) once, at the start of a run, and saves the resolved config, so
the config in a run folder or checkpoint always names the arithmetic its weights came from.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from meddenoise.data.intensity import DEFAULT_INTENSITY, IntensitySpec
from meddenoise.training.objectives import OBJECTIVES, ObjectiveConfig, SupervisedConfig

__all__ = [
    "LOSSES",
    "MODES",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "DataConfig",
    "OptimConfig",
    "PretrainConfig",
    "TrainConfig",
    "TrainConfigError",
    "parse_noise_spec",
]

OptimizerName = Literal["adam", "adamw", "adadelta", "sgd"]
ScheduleName = Literal["none", "cosine", "step", "plateau"]
Precision = Literal["auto", "fp32", "bf16"]

LOSSES: tuple[str, ...] = ("mse", "l1", "bce", "ssim", "msssim_l1")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "adadelta", "sgd")
SCHEDULES: tuple[str, ...] = ("none", "cosine", "step", "plateau")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
#: The built-in objectives (``--mode`` of the CLI); registered plugins add to ``OBJECTIVES``.
MODES: tuple[str, ...] = ("supervised", "noise2void", "noise2noise")

#: Learning rates used when ``lr`` is left unset: Adam's usual 1e-3; Adadelta's 1.0 as in Keras
#: (which Gondara 2016 used); SGD with momentum 0.01.
DEFAULT_LR: dict[str, float] = {"adam": 1e-3, "adamw": 1e-3, "adadelta": 1.0, "sgd": 1e-2}

# The grouped fields: a dict given for one of them in derive() updates only the fields it names.
_GROUPS = ("objective", "optim", "data", "pretrain")

# Flat field of the configs written before the groups → (group, field in the group).
_FLAT_FIELDS: dict[str, tuple[str, str]] = {
    "loss": ("objective", "loss"),
    "ssim_window": ("objective", "ssim_window"),
    "msssim_alpha": ("objective", "msssim_alpha"),
    "blind_spot_fraction": ("objective", "fraction"),
    "blind_spot_replacement": ("objective", "replacement"),
    "blind_spot_radius": ("objective", "radius"),
    "optimizer": ("optim", "optimizer"),
    "lr": ("optim", "lr"),
    "weight_decay": ("optim", "weight_decay"),
    "grad_clip": ("optim", "grad_clip"),
    "lr_schedule": ("optim", "schedule"),
    "lr_step_size": ("optim", "step_size"),
    "lr_gamma": ("optim", "gamma"),
    "lr_plateau_patience": ("optim", "plateau_patience"),
    "augment_flips": ("data", "augment_flips"),
    "augment_rot90": ("data", "augment_rot90"),
    "patch_size": ("data", "patch_size"),
    "patches_per_image": ("data", "patches_per_image"),
    "pretrain_epochs_per_layer": ("pretrain", "epochs_per_layer"),
    "pretrain_code_corruption": ("pretrain", "code_corruption"),
}


class TrainConfigError(ValueError):
    """A training configuration that cannot be used (bad JSON, unknown keys, invalid values)."""


def parse_noise_spec(spec: str) -> Any:
    """Parse a noise spec with :func:`meddenoise.noise.parse_noise` (imported lazily)."""
    from meddenoise.noise import parse_noise

    return parse_noise(spec)


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimConfig(_Group):
    """Optimiser, learning rate and its schedule."""

    optimizer: OptimizerName = "adam"
    lr: float | None = Field(None, gt=0, description="Learning rate; None → per-optimiser default.")
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: float | None = Field(None, gt=0, description="Clip the gradient norm to this value.")
    divergence_factor: float | None = Field(
        100.0,
        gt=1.0,
        description="Stop (TrainingDivergedError) when an epoch's mean training loss exceeds this many times "
        "the lowest earlier epoch of its phase; None: never.",
    )
    schedule: ScheduleName = "none"
    step_size: int = Field(30, ge=1, description="step schedule: epochs between decays.")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="step/plateau schedule: decay factor.")
    plateau_patience: int = Field(5, ge=0, description="plateau schedule: epochs without improvement.")

    @property
    def learning_rate(self) -> float:
        """The learning rate in use: ``lr`` or the optimiser's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


class DataConfig(_Group):
    """How training samples are cut from the images and augmented."""

    augment_flips: bool = Field(False, description="Random horizontal and vertical flips.")
    augment_rot90: bool = Field(False, description="Random rotations by multiples of 90 degrees.")
    patch_size: int | None = Field(
        None, ge=8, description="Train on random square patches of this size (new patches each epoch)."
    )
    patches_per_image: int = Field(1, ge=1, description="Random patches drawn from each image per epoch.")

    @model_validator(mode="after")
    def _patches(self) -> DataConfig:
        if self.patch_size is None and self.patches_per_image != 1:
            raise ValueError("patches_per_image needs patch_size")
        return self


class PretrainConfig(_Group):
    """Greedy layer-wise pretraining, for models that declare pretraining phases (``stacked-dae``)."""

    epochs_per_layer: int = Field(
        5, ge=0, description="Greedy layer-wise pretraining epochs per layer (0 skips it)."
    )
    code_corruption: float = Field(
        0.25,
        ge=0.0,
        lt=1.0,
        description="Fraction of code units zeroed (masking noise) when pretraining layers above the first.",
    )


def _migrate_flat(data: dict[str, Any]) -> dict[str, Any]:
    """Move the flat fields of old configs (and flat keyword arguments) into their groups.

    A flat field wins over the same field inside its group, so ``{**saved, "lr": 0.1}`` changes the
    learning rate of a saved grouped config. ``mode`` selects the objective's kind; when it changes
    the kind, the objective's settings that the new kind lacks are dropped, and so are flat
    objective fields the kind lacks (the ``blind_spot_*`` defaults every flat config carried).
    """
    out = dict(data)
    if "bf16" in out:  # the boolean of the configs before ``precision``; it wins like the flat fields
        bf16 = out.pop("bf16")
        out["precision"] = ("bf16" if bf16 else "fp32") if isinstance(bf16, bool) else bf16
    flat = {key: out.pop(key) for key in list(out) if key in _FLAT_FIELDS}
    mode = out.pop("mode", None)
    if not flat and mode is None:
        return out
    groups: dict[str, dict[str, Any]] = {}
    for name in _GROUPS:
        value = out.get(name)
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, dict):
            groups[name] = dict(value)
    flat_objective: dict[str, Any] = {}
    for key, value in flat.items():
        group, field = _FLAT_FIELDS[key]
        (flat_objective if group == "objective" else groups.setdefault(group, {}))[field] = value
    current = groups.get("objective", {})
    old_kind = current.get("kind", "supervised")
    kind = old_kind if mode is None else mode
    target = OBJECTIVES.get(kind) if isinstance(kind, str) else None

    def fitting(fields: dict[str, Any]) -> dict[str, Any]:
        return fields if target is None else {k: v for k, v in fields.items() if k in target.model_fields}

    kept = current if kind == old_kind else fitting(current)
    out.update(groups)
    out["objective"] = {**kept, **fitting(flat_objective), "kind": kind}
    return out


class TrainConfig(BaseModel):
    """Everything that defines a training run.

    Examples
    --------
    >>> cfg = TrainConfig(model="gondara-dae", noise="gaussian(p=0.1,sigma=1)", epochs=100, batch_size=10)
    >>> TrainConfig.from_json(cfg.to_json()) == cfg
    True
    >>> cfg.derive(mode="noise2void", lr=1e-4).objective.kind
    'noise2void'
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    def __init__(self, **data: Any) -> None:
        # Spelled out so that the flat keyword arguments of older versions (``mode=``, ``lr=``,
        # ``patch_size=``, …; moved into their groups by ``_flat_fields``) type-check as well.
        super().__init__(**data)

    # --- model -------------------------------------------------------------------------------------
    model: str = Field("gondara-dae", description="Registered model name (meddenoise.models).")
    model_params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the model.")
    init_from: str | None = Field(
        None, description="Checkpoint whose weights initialise the model (transfer learning / fine-tuning)."
    )
    frozen: list[str] = Field(
        default_factory=list,
        description="Parameters kept at their initial values (not optimised): names as in the model's "
        "state dict, or fnmatch patterns ('encoders.3.*'); each must match a parameter, and something must "
        "be left to train. E.g. a fine-tune that keeps int4-stored tensors as stored.",
    )

    # --- objective ---------------------------------------------------------------------------------
    objective: SerializeAsAny[ObjectiveConfig] = Field(
        default_factory=SupervisedConfig,
        description="The training objective; its 'kind' (supervised, noise2void, noise2noise or a "
        "registered plugin) selects the config class.",
    )

    # --- noise -------------------------------------------------------------------------------------
    noise: str | None = Field(
        "gaussian(p=0.1,sigma=1)",
        description="Noise spec for meddenoise.noise.parse_noise; None when the training images are "
        "already noisy (self-supervised training on real data, explicit noise2noise pairs).",
    )
    noise_mode: Literal["fresh", "fixed"] = Field(
        "fresh",
        description="fresh: a new noise draw for every batch; fixed (paper-faithful): one corruption of "
        "the whole dataset before training.",
    )

    # --- length, validation and stopping -----------------------------------------------------------
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(10, ge=1)
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Fraction of training images held out when no val set is given."
    )
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after this many epochs without a better validation loss."
    )
    early_stopping_min_delta: float = Field(0.0, ge=0.0)

    # --- data --------------------------------------------------------------------------------------
    intensity: IntensitySpec = Field(
        DEFAULT_INTENSITY,
        description="How training images map from original units to [0, 1] (meddenoise.data.intensity); "
        "recorded in checkpoints and used again whenever the checkpoint denoises.",
    )
    seed: int = Field(0, ge=0)

    # --- groups ------------------------------------------------------------------------------------
    optim: OptimConfig = Field(default_factory=OptimConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)

    # --- speed -------------------------------------------------------------------------------------
    precision: Precision = Field(
        "auto",
        description="Arithmetic of the forward passes: fp32, bf16 (bfloat16 autocast; losses stay float32) "
        "or auto (bf16 where the CPU computes bf16 in hardware: avx512_bf16/amx_bf16; fp32 elsewhere). "
        "A run records the resolved choice; a resumed run keeps it.",
    )
    channels_last: Literal["auto"] | bool = Field(
        "auto",
        description="channels_last memory format (same arithmetic, faster with oneDNN); auto: on where "
        "torch has oneDNN (every x86 build).",
    )
    num_threads: int | None = Field(None, ge=1, description="torch threads; None leaves torch's setting.")
    device: str = Field(
        "cpu",
        pattern=r"^(cpu|cuda(:[0-9]+)?|auto)$",
        description="Where the network trains: cpu, cuda, cuda:N, or auto (cuda where torch sees a GPU, else "
        "cpu). Batches are always made on the CPU (numpy, seeded). On cuda, precision auto means bf16 where "
        "the GPU computes it. A run records the resolved device; a resumed run may move to another one.",
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_fields(cls, data: Any) -> Any:
        return _migrate_flat(data) if isinstance(data, dict) else data

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_kind(cls, value: Any) -> Any:
        if isinstance(value, BaseModel) and not isinstance(value, ObjectiveConfig):
            value = value.model_dump()
        if isinstance(value, dict):
            kind = value.get("kind", "supervised")
            if kind not in OBJECTIVES:
                raise ValueError(f"unknown objective kind {kind!r}; valid: {', '.join(OBJECTIVES)}")
            return OBJECTIVES[kind].model_validate(value)
        return value

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from meddenoise.models import MODEL_REGISTRY

        if name not in MODEL_REGISTRY:
            raise ValueError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODEL_REGISTRY))}")
        return name

    @field_validator("noise")
    @classmethod
    def _canonical_noise(cls, spec: str | None) -> str | None:
        if spec is None:
            return None
        try:
            return str(parse_noise_spec(spec))
        except ImportError:  # the noise subpackage is not importable: keep the spec as written
            return spec

    @model_validator(mode="after")
    def _model_params_fit(self) -> TrainConfig:
        # Cheap: the parameter names against the builder's signature. Values are checked when the
        # trainer builds the network; no network is built here.
        from meddenoise.models import MODEL_REGISTRY

        try:
            inspect.signature(MODEL_REGISTRY[self.model]).bind(**self.model_params)
        except TypeError as exc:
            raise ValueError(
                f"model_params {self.model_params} do not fit model {self.model!r}: {exc}"
            ) from None
        return self

    # --- derived -----------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate in use: ``optim.lr`` or the optimiser's default."""
        return self.optim.learning_rate

    @property
    def bf16(self) -> bool:
        """Whether the forward passes run under bf16 autocast (``precision == "bf16"``; False for "auto":
        see :meth:`resolved`)."""
        return self.precision == "bf16"

    def resolved(self) -> TrainConfig:
        """This config with ``device``, ``precision`` and ``channels_last`` "auto" replaced by this machine's choice.

        ``device`` "auto" → "cuda" where torch sees a GPU, else "cpu"; ``precision`` "auto" → "bf16" where
        :func:`meddenoise.provenance.native_bf16` says the device computes bfloat16 in hardware, else "fp32"
        (on a CPU, :func:`meddenoise.training.train` then times the run's step in both precisions and keeps
        bf16 only when it is faster: :mod:`meddenoise.training.speed`);
        ``channels_last`` "auto" → True where torch has oneDNN (CPU) or on a GPU. The
        trainer resolves once, at the start of a run, and records the result (a resumed run keeps the
        recorded values, wherever it runs).

        Examples
        --------
        >>> TrainConfig(precision="fp32", channels_last=False).resolved().precision
        'fp32'
        >>> TrainConfig().resolved().precision in ("fp32", "bf16")
        True
        """
        import torch

        from meddenoise import provenance

        changes: dict[str, Any] = {}
        device = self.device
        if device == "auto":
            device = changes["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        device_type = device.split(":")[0]
        if self.precision == "auto":
            changes["precision"] = "bf16" if provenance.native_bf16(device_type) else "fp32"
        if self.channels_last == "auto":
            changes["channels_last"] = device_type == "cuda" or bool(torch.backends.mkldnn.is_available())
        return self.model_copy(update=changes) if changes else self

    @property
    def mode(self) -> str:
        """The objective's kind (``supervised``, ``noise2void``, ``noise2noise``, …)."""
        return self.objective.kind

    def derive(self, **changes: Any) -> TrainConfig:
        """A new config with ``changes`` applied, validated like a fresh one.

        ``changes`` are top-level fields, groups (a dict updates only the fields it names; a dict
        with another objective ``kind`` replaces the objective) or the flat names of old configs
        (``lr``, ``mode``, ``patch_size``, …). Changing ``model`` without ``model_params`` drops the
        old model's parameters. Raises :class:`TrainConfigError` naming every bad field.

        Examples
        --------
        >>> TrainConfig().derive(epochs=3, optim={"lr": 0.01}).optim.lr
        0.01
        """
        data = self.to_dict()
        if "model" in changes and "model_params" not in changes and changes["model"] != self.model:
            data.pop("model_params")
        for key, value in changes.items():
            if isinstance(value, BaseModel):
                value = value.model_dump()
            current = data.get(key)
            same_kind = key != "objective" or (
                isinstance(value, dict) and value.get("kind", self.objective.kind) == self.objective.kind
            )
            if key in _GROUPS and isinstance(value, dict) and same_kind:
                assert isinstance(current, dict)
                data[key] = {**current, **value}
            else:
                data[key] = value
        return type(self).from_dict(data, source="derive")

    # --- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict of every field (defaults included)."""
        return self.model_dump(mode="json")

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> TrainConfig:
        """Validate a dict; errors become one :class:`TrainConfigError` line naming ``source``."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
            )
            raise TrainConfigError(f"{source}: invalid training config: {reasons}") from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TrainConfigError(f"{source}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise TrainConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a config JSON file (the flat configs of older versions included)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TrainConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
        return cls.from_json(text, source=str(path))

    def save(self, path: str | Path) -> Path:
        """Write the config as JSON atomically; returns the path."""
        from meddenoise._utils import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        return path
