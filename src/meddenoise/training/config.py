"""The typed training configuration, saved as JSON beside every checkpoint.

One :class:`TrainConfig` fully determines a training run: the same config, data and seed give the
same weights. Unknown keys are refused (``extra="forbid"``) so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meddenoise.data.intensity import DEFAULT_INTENSITY, IntensitySpec

__all__ = [
    "LOSSES",
    "MODES",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "TrainConfigError",
    "parse_noise_spec",
]

LossName = Literal["mse", "l1", "bce", "ssim", "msssim_l1"]
OptimizerName = Literal["adam", "adamw", "adadelta", "sgd"]
ScheduleName = Literal["none", "cosine", "step", "plateau"]
ModeName = Literal["supervised", "noise2void", "noise2noise"]

LOSSES: tuple[str, ...] = ("mse", "l1", "bce", "ssim", "msssim_l1")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "adadelta", "sgd")
SCHEDULES: tuple[str, ...] = ("none", "cosine", "step", "plateau")
MODES: tuple[str, ...] = ("supervised", "noise2void", "noise2noise")

#: Learning rates used when ``lr`` is left unset: Adam's usual 1e-3; Adadelta's 1.0 as in Keras
#: (which Gondara 2016 used); SGD with momentum 0.01.
DEFAULT_LR: dict[str, float] = {"adam": 1e-3, "adamw": 1e-3, "adadelta": 1.0, "sgd": 1e-2}


class TrainConfigError(ValueError):
    """A training configuration that cannot be used (bad JSON, unknown keys, invalid values)."""


def parse_noise_spec(spec: str) -> Any:
    """Parse a noise spec with :func:`meddenoise.noise.parse_noise` (imported lazily)."""
    from meddenoise.noise import parse_noise

    return parse_noise(spec)


class TrainConfig(BaseModel):
    """Everything that defines a training run.

    Examples
    --------
    >>> cfg = TrainConfig(model="gondara-dae", noise="gaussian(p=0.1,sigma=1)", epochs=100, batch_size=10)
    >>> TrainConfig.from_json(cfg.to_json()) == cfg
    True
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    # --- model -------------------------------------------------------------------------------------
    model: str = Field("gondara-dae", description="Registered model name (meddenoise.models).")
    model_params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the model.")
    init_from: str | None = Field(
        None, description="Checkpoint whose weights initialise the model (transfer learning / fine-tuning)."
    )

    # --- objective ---------------------------------------------------------------------------------
    mode: ModeName = Field(
        "supervised",
        description="supervised (noisy→clean), noise2void (blind-spot masking on noisy images only) or "
        "noise2noise (noisy→independent noisy realisation).",
    )
    loss: LossName = Field(
        "mse", description="mse, l1, bce (as in the papers), ssim or msssim_l1 (Zhao 2017)."
    )
    ssim_window: Literal["gaussian11", "uniform7"] = Field(
        "gaussian11", description="Window of the SSIM loss: Gaussian 11x11 (sigma 1.5) or uniform 7x7."
    )
    msssim_alpha: float = Field(
        0.84, ge=0.0, le=1.0, description="Weight of MS-SSIM in msssim_l1 (Zhao 2017)."
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

    # --- optimisation ------------------------------------------------------------------------------
    optimizer: OptimizerName = "adam"
    lr: float | None = Field(None, gt=0, description="Learning rate; None → per-optimiser default.")
    weight_decay: float = Field(0.0, ge=0.0)
    lr_schedule: ScheduleName = "none"
    lr_step_size: int = Field(30, ge=1, description="step schedule: epochs between decays.")
    lr_gamma: float = Field(0.1, gt=0.0, le=1.0, description="step/plateau schedule: decay factor.")
    lr_plateau_patience: int = Field(5, ge=0, description="plateau schedule: epochs without improvement.")
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(10, ge=1)
    grad_clip: float | None = Field(None, gt=0, description="Clip the gradient norm to this value.")

    # --- validation and stopping -------------------------------------------------------------------
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
    augment_flips: bool = Field(False, description="Random horizontal and vertical flips.")
    augment_rot90: bool = Field(False, description="Random rotations by multiples of 90 degrees.")
    patch_size: int | None = Field(
        None, ge=8, description="Train on random square patches of this size (new patches each epoch)."
    )
    patches_per_image: int = Field(1, ge=1, description="Random patches drawn from each image per epoch.")

    # --- self-supervised ---------------------------------------------------------------------------
    blind_spot_fraction: float = Field(
        0.02, gt=0.0, le=0.5, description="noise2void: fraction of pixels masked per image."
    )
    blind_spot_replacement: Literal["neighbour", "local_mean"] = Field(
        "neighbour",
        description="noise2void: replace a masked pixel by a random neighbour (N2V) or by the mean of "
        "its neighbourhood excluding itself (Noise2Self-style).",
    )
    blind_spot_radius: int = Field(2, ge=1, le=5, description="noise2void: neighbourhood radius (2 → 5x5).")

    # --- stacked DAE (Vincent 2010) ----------------------------------------------------------------
    pretrain_epochs_per_layer: int = Field(
        5, ge=0, description="stacked-dae: greedy layer-wise pretraining epochs per layer (0 skips it)."
    )
    pretrain_code_corruption: float = Field(
        0.25,
        ge=0.0,
        lt=1.0,
        description="stacked-dae: fraction of code units zeroed (masking noise) when pretraining layers "
        "above the first.",
    )

    # --- speed -------------------------------------------------------------------------------------
    channels_last: bool = Field(True, description="Use the channels_last memory format (exact, faster).")
    bf16: bool = Field(False, description="bfloat16 autocast for forward passes (faster, less exact).")
    num_threads: int | None = Field(None, ge=1, description="torch threads; None leaves torch's setting.")

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        import meddenoise.models  # noqa: F401  (registers the models)
        from meddenoise.models.registry import MODEL_REGISTRY

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
    def _consistent(self) -> TrainConfig:
        from meddenoise.models.registry import build_model

        try:
            build_model(self.model, **self.model_params)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"model_params {self.model_params} do not fit model {self.model!r}: {exc}"
            ) from None
        if self.mode == "noise2void" and self.loss not in ("mse", "l1", "bce"):
            raise ValueError(
                f"noise2void trains on masked pixels only; use a per-pixel loss (mse, l1, bce), not {self.loss!r}"
            )
        if self.patch_size is None and self.patches_per_image != 1:
            raise ValueError("patches_per_image needs patch_size")
        return self

    # --- derived -----------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate in use: ``lr`` or the optimiser's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

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
        """Read a config JSON file."""
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
