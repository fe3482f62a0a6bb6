"""Per-image choice of denoiser for the pipeline: ``--model auto`` picks the shipped model per modality."""

from __future__ import annotations

from dataclasses import dataclass, field

from meddenoise.data.intensity import CLASSICAL_INTENSITY, IntensitySpec
from meddenoise.denoiser import Denoiser
from meddenoise.methods.factory import (
    PRETRAINED_PREFIX,
    Backend,
    DenoiserChoice,
    UnknownMethodError,
    build_denoiser,
    classical_names,
    method_kind,
)

__all__ = ["DenoiserResolver"]


def _is_classical(name: str) -> bool:
    try:
        return method_kind(name) == "classical"
    except UnknownMethodError:
        return False


@dataclass
class DenoiserResolver:
    """Picks (and caches) the denoiser for each image; every name goes through :func:`build_denoiser`.

    Parameters
    ----------
    model
        ``"auto"`` (the shipped model for the image's modality), a shipped model name (``general``,
        ``ct``, ``mri``, ``xray``, also ``pretrained:NAME``), or a checkpoint path. Ignored when
        ``method`` is given.
    method
        A classical method name, e.g. ``median``, or any :class:`~meddenoise.denoiser.Denoiser`
        instance (used as is).
    intensity
        Overrides the intensity mapping (default: the one the denoiser comes with).
    batch_size
        Tiles per forward pass of a model.
    backend
        Where models run: ``"torch"``, ``"onnx"`` or ``None`` (the model's own); see
        :func:`~meddenoise.methods.build_denoiser`. Classical methods ignore it.
    ensemble
        Self-ensemble size of models (1, 2, 4 or 8; see :func:`~meddenoise.methods.build_denoiser`).
        Classical methods ignore it.
    edge_restore
        Edge restoration of models' outputs in [0, 1], ``None`` for each model's own default (``ct``:
        0.8, others 0; see :func:`~meddenoise.methods.build_denoiser`). Classical methods ignore it.
    texture
        Share of the fine-grained noise a model removed that is put back, in [0, 1] (0 = off), or ``"auto"``
        / ``"blend"`` (a share that follows the noise level, for the ``ct`` model; see
        :func:`~meddenoise.methods.build_denoiser`). ``None``: the model's own (``ct`` ``"auto"``, the others
        0). Classical methods ignore it.
    """

    model: str | None = "auto"
    method: str | Denoiser | None = None
    intensity: IntensitySpec | None = None
    batch_size: int = 4
    backend: Backend | None = None
    ensemble: int = 1
    edge_restore: float | None = None
    texture: float | str | None = None
    _cache: dict[str, DenoiserChoice] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.method is None and not self.model:
            self.model = "auto"
        if isinstance(self.method, str) and not _is_classical(self.method):
            raise UnknownMethodError(
                f"unknown classical method {self.method!r}; choose from {', '.join(classical_names())} "
                "(or calibrated-<name>); models and checkpoints go in model="
            )
        from meddenoise.models.edge_restore import check_edge_restore
        from meddenoise.models.texture import parse_texture

        # Fail early, before any file is touched, on a bad setting or a choice that cannot be resolved.
        if self.edge_restore is not None:
            self.edge_restore = check_edge_restore(self.edge_restore, owner="edge restore")
        if self.texture is not None:
            self.texture = parse_texture(self.texture, owner="texture")
        if self.method is not None or self.model != "auto":
            self.for_modality(None)

    def for_modality(self, modality: str | None) -> DenoiserChoice:
        """The denoiser for an image of this DICOM modality code."""
        if isinstance(self.method, Denoiser):
            if "instance" not in self._cache:
                spec = self.intensity or CLASSICAL_INTENSITY
                self._cache["instance"] = DenoiserChoice(self.method, spec, self.method.name, "instance")
            return self._cache["instance"]
        if self.method is not None:
            name = self.method
        elif self.model == "auto" or self.model is None:
            from meddenoise.pretrained import pretrained_for_modality

            name = PRETRAINED_PREFIX + pretrained_for_modality(modality)
        else:
            name = self.model
        if name not in self._cache:
            classical = _is_classical(name)
            self._cache[name] = build_denoiser(
                name,
                intensity=self.intensity,
                batch_size=self.batch_size,
                backend=None if classical else self.backend,
                ensemble=1 if classical else self.ensemble,
                edge_restore=None if classical else self.edge_restore,
                texture=0.0 if classical else self.texture,
            )
        return self._cache[name]
