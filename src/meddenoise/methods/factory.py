"""THE denoiser factory: a name or a path → a ready :class:`~meddenoise.denoiser.Denoiser` + its intensity policy.

Accepted names, resolved in this order (the rule is explicit: **a registered name wins; a path is a path**):

1. ``pretrained:NAME`` — the shipped model ``NAME`` (``general``, ``ct``, ``mri``, ``xray``).
2. A classical method (:data:`~meddenoise.classical.CLASSICAL_METHODS`, also ``calibrated-<name>``).
3. A shipped model name (``ct``, ...). A file or folder of that name in the working directory does
   not change this; write ``./ct`` to mean the path.
4. A checkpoint path: anything containing a path separator or starting with ``.`` or ``~``, ending in
   ``.safetensors``, ``.json`` or ``.onnx`` (a file written by ``meddenoise export``), or naming an
   existing file or run folder.

Anything else is an error listing the choices. Optional back ends (``bm3d``) are checked through
:mod:`meddenoise._optional`, so a missing one says which package provides it.

Each denoiser comes with the :class:`~meddenoise.data.IntensitySpec` it needs: a shipped model's card
intensity, a checkpoint's recorded :attr:`TrainConfig.intensity` (a checkpoint that records none is
assumed to use :data:`~meddenoise.data.DEFAULT_INTENSITY`, said once in one log line), an ONNX file's
recorded one, or :data:`~meddenoise.data.CLASSICAL_INTENSITY` for classical filters.

Back ends (``backend=``, :data:`BACKENDS`): a model runs in PyTorch (``"torch"``: the precision it was
trained for; float32 for the shipped models), in PyTorch under bfloat16 autocast (``"bf16"``: ~3x faster
on a CPU with AMX, slower on one without native bf16, which is said once in the log; the layer that
reads the image stays float32; ``ct`` and ``general`` outputs 4-6e-5 from float32's on average on
[0, 1], up to ~1e-3) or, exported to ONNX in memory, in onnxruntime (``"onnx"``; the same pixels within
1e-4 on [0, 1]); ``None`` is the model's own: PyTorch for weights, onnxruntime for a ``.onnx`` file.
Classical filters have no back end to choose.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from meddenoise._optional import feature_for_method, require
from meddenoise.data.intensity import CLASSICAL_INTENSITY, DEFAULT_INTENSITY, IntensitySpec
from meddenoise.denoiser import Denoiser

if TYPE_CHECKING:  # the networks' wrappers load lazily (torch)
    from meddenoise.io.image import MedicalImage
    from meddenoise.models.texture import TextureAmount

__all__ = [
    "BACKENDS",
    "CHECKPOINT_SUFFIXES",
    "PRETRAINED_PREFIX",
    "Backend",
    "DenoiserChoice",
    "MethodKind",
    "UnknownMethodError",
    "build_denoiser",
    "build_denoisers",
    "classical_names",
    "common_intensity",
    "export_model",
    "method_kind",
    "method_names",
    "parse_backend",
    "shipped_names",
    "split_edge_restore",
    "split_texture",
    "texture_amount",
    "with_edge_restore",
    "with_ensemble",
    "with_strength",
    "with_texture",
]

logger = logging.getLogger(__name__)

PRETRAINED_PREFIX = "pretrained:"
#: Suffixes that make a name a checkpoint path (``.onnx``: a model exported by ``meddenoise export``).
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".safetensors", ".json", ".onnx")

MethodKind = Literal["classical", "pretrained", "checkpoint"]
#: Where a model runs: PyTorch, PyTorch in bfloat16 autocast, or onnxruntime (see the module docstring).
Backend = Literal["torch", "bf16", "onnx"]
BACKENDS: tuple[Backend, ...] = ("torch", "bf16", "onnx")


class UnknownMethodError(ValueError):
    """A method name that is neither registered nor a path."""


@dataclass(frozen=True)
class DenoiserChoice:
    """A ready denoiser, the intensity mapping to feed it, a label for summaries and where it came from."""

    denoiser: Denoiser
    intensity: IntensitySpec
    label: str
    kind: MethodKind | Literal["instance"]


def parse_backend(text: str | None) -> Backend | None:
    """A back end name (``"torch"``, ``"onnx"``, any case) or ``None``; ``ValueError`` naming the choices."""
    if text is None:
        return None
    for backend in BACKENDS:
        if text.strip().lower() == backend:
            return backend
    raise ValueError(f"unknown back end {text!r}; choose from {', '.join(BACKENDS)}")


def classical_names() -> tuple[str, ...]:
    """Registered classical method names (each also accepted as ``calibrated-<name>``)."""
    from meddenoise.classical import CLASSICAL_METHODS

    return CLASSICAL_METHODS


def shipped_names() -> tuple[str, ...]:
    """Names of the shipped pretrained models."""
    from meddenoise.pretrained import list_pretrained

    return tuple(card.name for card in list_pretrained())


def method_names() -> tuple[str, ...]:
    """Every registered name: classical methods, then shipped models."""
    return classical_names() + shipped_names()


def _classical_base(name: str) -> str | None:
    from meddenoise.classical import CALIBRATED_PREFIX

    base = name.lower().removeprefix(CALIBRATED_PREFIX)
    return base if base in classical_names() else None


def _is_path_like(name: str) -> bool:
    return (
        "/" in name
        or os.sep in name
        or name.startswith((".", "~"))
        or name.lower().endswith(CHECKPOINT_SUFFIXES)
        or Path(name).exists()
    )


def method_kind(name: str) -> MethodKind:
    """What ``name`` means (see the module docstring for the rule), without loading anything.

    Raises
    ------
    UnknownMethodError
        When ``name`` is neither registered nor a path; the message lists the choices.
    """
    text = name.strip()
    if text.lower().startswith(PRETRAINED_PREFIX):
        return "pretrained"
    if _classical_base(text) is not None:
        return "classical"
    if text in shipped_names():
        return "pretrained"
    if text and _is_path_like(text):
        return "checkpoint"
    raise UnknownMethodError(
        f"unknown method {name!r}: choose from {', '.join(classical_names())} (also calibrated-<name>), "
        f"the shipped models {', '.join(shipped_names()) or 'none'} (also pretrained:<name>), "
        "or a checkpoint path (.safetensors, .json or a run folder)"
    )


def _pretrained(
    name: str, batch_size: int | None, intensity: IntensitySpec | None, backend: Backend | None
) -> DenoiserChoice:
    from meddenoise.pretrained import get_card, load_pretrained

    card = get_card(name)
    if backend == "onnx":
        from meddenoise.methods.onnx_models import shipped_export

        denoiser: Denoiser = shipped_export(name).denoiser(name=card.name, batch_size=batch_size)
    else:
        denoiser = (
            load_pretrained(name) if batch_size is None else load_pretrained(name, batch_size=batch_size)
        )
        _set_precision(denoiser, backend)
    denoiser.strength_above_one = card.strength_above_one  # how its --strength goes past 1
    label = f"pretrained {name}" + _precision_suffix(backend)
    return DenoiserChoice(denoiser, intensity or card.intensity, label, "pretrained")


def _assumed_intensity(path: Path, what: str) -> IntensitySpec:
    logger.warning(
        "%s: %s records no intensity mapping; assuming the default %r (%s)",
        path,
        what,
        DEFAULT_INTENSITY.method,
        DEFAULT_INTENSITY.describe(),
    )
    return DEFAULT_INTENSITY


def _onnx_file(path: Path, batch_size: int | None, intensity: IntensitySpec | None) -> DenoiserChoice:
    from meddenoise.methods.onnx_models import onnx_intensity, onnx_strength_above_one
    from meddenoise.models.onnx import OnnxDenoiser

    options = {} if batch_size is None else {"batch_size": batch_size}
    denoiser = OnnxDenoiser(path, name=path.stem, **options)
    denoiser.strength_above_one = onnx_strength_above_one(denoiser.metadata)  # as its card says
    spec = intensity or onnx_intensity(denoiser.metadata) or _assumed_intensity(path, "ONNX file")
    return DenoiserChoice(denoiser, spec, f"onnx {path.name}", "checkpoint")


def _checkpoint_intensity(path: Path) -> IntensitySpec:
    from meddenoise.training.checkpoint import checkpoint_intensity

    return checkpoint_intensity(path) or _assumed_intensity(path, "checkpoint")


def _checkpoint(
    name: str, batch_size: int | None, intensity: IntensitySpec | None, backend: Backend | None
) -> DenoiserChoice:
    from meddenoise.training import load_denoiser

    path = Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.suffix.lower() == ".onnx":
        if backend in ("torch", "bf16"):
            raise ValueError(f"{path}: an ONNX file runs in onnxruntime only (backend 'onnx')")
        return _onnx_file(path, batch_size, intensity)
    spec = intensity or _checkpoint_intensity(path)
    if backend == "onnx":
        from meddenoise.methods.onnx_models import checkpoint_export

        denoiser: Denoiser = checkpoint_export(path, spec).denoiser(name=path.stem, batch_size=batch_size)
    else:
        denoiser = load_denoiser(path) if batch_size is None else load_denoiser(path, batch_size=batch_size)
        _set_precision(denoiser, backend)
    return DenoiserChoice(
        denoiser, spec, f"checkpoint {path.name}" + _precision_suffix(backend), "checkpoint"
    )


def _precision_suffix(backend: Backend | None) -> str:
    """`` bf16`` in the label of a model run in bf16: its pixels differ from float32's (on a CT slice under
    ``ct``'s window ~0.7 HU on average, up to ~7 HU), so what a derived file records says so."""
    return " bf16" if backend == "bf16" else ""


@cache
def _say_if_bf16_is_emulated(device_type: str) -> None:
    """One log line, once per device type, when it has no native bf16 (then bf16 is slower than float32)."""
    from meddenoise.provenance import native_bf16

    if not native_bf16(device_type):
        logger.warning(
            "backend bf16: this %s has no native bf16 (avx512_bf16 / AMX): emulated, slower than float32",
            device_type.upper(),
        )


def _set_precision(denoiser: Denoiser, backend: Backend | None) -> None:
    """Run a PyTorch network in bfloat16 autocast for ``backend="bf16"`` (:func:`_say_if_bf16_is_emulated`).
    Other back ends leave it as loaded."""
    from meddenoise.models.denoiser import ModelDenoiser

    if backend != "bf16":
        return
    if not isinstance(denoiser, ModelDenoiser):  # load_* return ModelDenoiser; a guard, not a case
        raise ValueError(f"{denoiser.name}: only a PyTorch network runs in bf16")
    denoiser.bf16 = True
    _say_if_bf16_is_emulated(denoiser.device.type)


def build_denoiser(
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    intensity: IntensitySpec | None = None,
    batch_size: int | None = None,
    backend: Backend | None = None,
    ensemble: int = 1,
    edge_restore: float | None = None,
    texture: float | str | None = None,
) -> DenoiserChoice:
    """Build the denoiser ``name`` (classical name, shipped model name, ``pretrained:NAME`` or checkpoint path).

    Parameters
    ----------
    name
        See the module docstring for the resolution rule.
    params
        Keyword parameters of a classical method (refused for models).
    intensity
        Overrides the intensity mapping the denoiser would get.
    batch_size
        Images per forward pass of a model (default: the loader's).
    backend
        ``"torch"``, ``"onnx"`` (the model exported to ONNX in memory and run by onnxruntime) or ``None``
        (the model's own; see the module docstring). Refused for classical methods.
    ensemble
        Geometric self-ensemble of a model: 1 (off), 2, 4 or 8 flipped / rotated copies of each image,
        outputs averaged (:class:`~meddenoise.models.ensemble.SelfEnsemble`; ``size`` times the time).
        Refused for classical methods.
    edge_restore
        Edge restoration of a model's output, in [0, 1] (:class:`~meddenoise.models.edge_restore.EdgeRestoring`;
        0 = off); ``None`` is the model's own: its card's ``edge_restore`` for a shipped model (``ct``:
        0.8), the card recorded in an exported ``.onnx`` file, 0 for a checkpoint. Applied after the self-ensemble. Refused (unless 0 or ``None``) for
        classical methods.
    texture
        Noise texture of a model's output, in [0, 1]: the share of the fine-grained noise it removed that is
        put back (:class:`~meddenoise.models.texture.TextureKeeping`; 0 = off). Applied last.
        ``"auto"``: a share that follows the noise level (:func:`~meddenoise.models.texture.auto_texture_ramp`:
        none up to 30 HU, 0.7 from 50 HU, and none where the removed noise is white) for a model whose
        intensity mapping is a CT window (``ct``); nothing for other models; around a network told the
        noise's kind that repeats past strength 1 (``ct``), a scanner's noise (told correlation from 0.5 to
        0.7 and over) gets one more pass and the blend instead. ``"blend"``: the same kind of
        ramp over the *whole* removed component, a blend with the input (none up to 12 HU, from 24 HU 0.5
        of it, up to 0.7 where the removed noise is as coarse as a soft kernel's:
        :func:`~meddenoise.models.texture.blend_texture_ramp`), for the scan's texture at low dose (chosen
        with ``strength=2``).
        ``None`` is the model's own: its card's ``texture`` for a shipped model (``ct``: ``"auto"``), the
        card recorded in an exported ``.onnx`` file, 0 for a checkpoint. Refused (unless 0 or ``None``) for classical methods.

    Raises
    ------
    UnknownMethodError
        For a name that is neither registered nor a path.
    meddenoise._optional.MissingOptionalDependency
        (an ``ImportError``) When the method's optional back end is not installed.
    FileNotFoundError, ValueError
        For a missing or unusable checkpoint, an unknown shipped model, or parameters given to a model.
    """
    text = name.strip()
    kind = method_kind(text)
    if params and kind != "classical":
        raise ValueError(f"{text}: a {kind} model takes no parameters")
    backend = parse_backend(backend)
    if backend == "onnx":
        require("onnxruntime", what="the onnx back end")
    if kind == "classical":
        if backend is not None:
            raise ValueError(f"{text}: a classical method has no back end to choose (models only)")
        if ensemble != 1:
            raise _no_ensemble(text)
        if edge_restore:
            raise ValueError(f"{text}: a classical method has no edge restoration (models only)")
        if texture:
            raise ValueError(f"{text}: a classical method has no noise texture setting (models only)")
        from meddenoise.classical import get_classical

        base = _classical_base(text)
        assert base is not None  # method_kind said classical
        feature = feature_for_method(base)  # an optional back end says so in meddenoise._optional
        if feature is not None:
            require(feature, what=base)
        denoiser = get_classical(text, **dict(params or {}))
        return DenoiserChoice(denoiser, intensity or CLASSICAL_INTENSITY, text, "classical")
    if kind == "pretrained":
        choice = _pretrained(text.removeprefix(PRETRAINED_PREFIX).strip(), batch_size, intensity, backend)
    else:
        choice = _checkpoint(text, batch_size, intensity, backend)
    from meddenoise.models.texture import parse_texture

    default, correlated_only, own_texture = _own_defaults(choice, kind, text)
    amount = default if edge_restore is None else edge_restore
    # a model as shipped keeps its name; another setting is named (derived DICOMs record the label); the
    # noise its edge restoration acts on is the model's own rule whatever the amount
    restored = with_edge_restore(
        with_ensemble(choice, ensemble), amount, label=amount != default, correlated_only=correlated_only
    )
    setting = own_texture if texture is None else parse_texture(texture, owner=f"{choice.label}: texture")
    return with_texture(restored, texture_amount(restored, setting), label=setting != own_texture)


def texture_amount(choice: DenoiserChoice, texture: float | str) -> TextureAmount:
    """The amount ``texture`` means for ``choice``: a number as is; ``"auto"`` / ``"blend"`` the noise-level
    ramp in HU of a model on a CT window (its [0, 1] scale spans the window's width), else 0 (no HU scale to
    read)."""
    from meddenoise.models.texture import (
        AUTO_TEXTURE,
        BLEND_TEXTURE,
        auto_texture_ramp,
        blend_texture_ramp,
        parse_texture,
    )

    setting = parse_texture(texture, owner=f"{choice.label}: texture")
    if setting not in (AUTO_TEXTURE, BLEND_TEXTURE):
        return float(setting)
    spec = choice.intensity
    if spec.method != "window":
        return 0.0
    return auto_texture_ramp(spec.width) if setting == AUTO_TEXTURE else blend_texture_ramp(spec.width)


def _own_defaults(choice: DenoiserChoice, kind: MethodKind, name: str) -> tuple[float, bool, float | str]:
    """The edge restoration, whether it acts on correlated noise only, and the noise texture a model gets
    unless told otherwise: a shipped model's card's (``ct``: 0.4 on correlated noise only and ``"auto"``), the
    card recorded in an exported ``.onnx`` file, else none."""
    if kind == "pretrained":
        from meddenoise.pretrained import get_card

        card = get_card(name.removeprefix(PRETRAINED_PREFIX).strip())
        return card.edge_restore, card.edge_restore_correlated_only, card.texture
    metadata = getattr(choice.denoiser, "metadata", None)
    if isinstance(metadata, dict):
        from meddenoise.methods.onnx_models import (
            onnx_edge_restore,
            onnx_edge_restore_correlated_only,
            onnx_texture,
        )

        return (
            onnx_edge_restore(metadata),
            onnx_edge_restore_correlated_only(metadata),
            onnx_texture(metadata),
        )
    return 0.0, False, 0.0


def split_edge_restore(choice: DenoiserChoice) -> tuple[DenoiserChoice, float, bool]:
    """``choice`` without its edge restoration, the amount it had (0 when it had none) and whether it acted on
    correlated noise only (:class:`~meddenoise.models.edge_restore.EdgeRestoring`'s ``correlated_only``)."""
    from meddenoise.models.edge_restore import EdgeRestoring

    if isinstance(choice.denoiser, EdgeRestoring):
        restoring = choice.denoiser
        return replace(choice, denoiser=restoring.base), restoring.amount, restoring.correlated_only
    return choice, 0.0, False


def _no_ensemble(name: str) -> ValueError:
    return ValueError(f"{name}: a classical method has no self-ensemble (models only)")


def with_ensemble(choice: DenoiserChoice, size: int) -> DenoiserChoice:
    """``choice`` (a model) with its network run as a self-ensemble of ``size`` (itself for 1); the label
    gets ``x<size>``. ``ValueError`` for a size outside 1, 2, 4, 8 and for a classical method."""
    from meddenoise.models.denoiser import BatchDenoiser
    from meddenoise.models.ensemble import SelfEnsemble, check_ensemble_size

    check_ensemble_size(size, owner=f"{choice.label}: ensemble")
    if size == 1:
        return choice
    if choice.kind == "classical":
        raise _no_ensemble(choice.label)
    from meddenoise.models.edge_restore import EdgeRestoring

    named = _texture_named(choice)
    choice, texture = split_texture(choice)
    if texture:  # the texture is kept last, on the ensemble's (and edge restoration's) output
        return with_texture(with_ensemble(choice, size), texture, label=named)
    if not isinstance(choice.denoiser, BatchDenoiser):
        raise ValueError(f"{choice.label}: only a network runs as a self-ensemble")
    if isinstance(choice.denoiser, EdgeRestoring):  # edges are restored last, on the ensemble's output
        restoring = choice.denoiser
        ensemble = EdgeRestoring(
            SelfEnsemble(restoring.base, size),
            restoring.amount,
            correlated_only=restoring.correlated_only,
            name=f"{restoring.name} x{size}",
        )
        return replace(choice, denoiser=ensemble, label=f"{choice.label} x{size}")
    return replace(choice, denoiser=SelfEnsemble(choice.denoiser, size), label=f"{choice.label} x{size}")


def with_edge_restore(
    choice: DenoiserChoice, amount: float, *, label: bool = False, correlated_only: bool | None = None
) -> DenoiserChoice:
    """``choice`` (a model) with its edges restored by ``amount`` (itself at 0):
    :class:`~meddenoise.models.edge_restore.EdgeRestoring`.

    A choice that restores edges already gets ``amount`` instead (never twice). ``correlated_only``: restore
    them only where the removed noise is correlated (a scanner's), not on white noise; ``None`` keeps the rule
    of the restoration it replaces (none: everywhere). With ``label`` the label (and the restoring denoiser's
    name) get ``e<amount>`` (``pretrained ct e0``); without it they stay (a model as shipped, or a row the
    benchmark names itself). ``ValueError`` for an amount outside [0, 1] and for a classical method.
    """
    from meddenoise.models.denoiser import BatchDenoiser
    from meddenoise.models.edge_restore import EdgeRestoring, check_edge_restore

    value = check_edge_restore(amount, owner=f"{choice.label}: edge restore")
    named = _texture_named(choice)
    choice, texture = split_texture(choice)
    if texture:  # restore the edges inside, keep the texture last
        restored = with_edge_restore(choice, value, label=label, correlated_only=correlated_only)
        return with_texture(restored, texture, label=named)
    choice, _, had_rule = split_edge_restore(choice)
    rule = had_rule if correlated_only is None else correlated_only
    suffix = f" e{value:g}" if label else ""
    if value == 0:
        return replace(choice, label=choice.label + suffix)
    if not isinstance(choice.denoiser, BatchDenoiser):
        raise ValueError(f"{choice.label}: only a network has its edges restored")
    restoring = EdgeRestoring(
        choice.denoiser, value, correlated_only=rule, name=choice.denoiser.name + suffix
    )
    return replace(choice, denoiser=restoring, label=choice.label + suffix)


def _texture_named(choice: DenoiserChoice) -> bool:
    """Whether ``choice`` keeps a texture its label names (``t0.5``), not a model's own default (unnamed)."""
    from meddenoise.models.texture import TextureKeeping, texture_suffix

    keeping = choice.denoiser
    return isinstance(keeping, TextureKeeping) and choice.label.endswith(texture_suffix(keeping.amount))


def split_texture(choice: DenoiserChoice) -> tuple[DenoiserChoice, TextureAmount]:
    """``choice`` without its noise texture setting, and the amount it had (0 when it had none)."""
    from meddenoise.models.texture import TextureKeeping, texture_suffix

    if isinstance(choice.denoiser, TextureKeeping):
        label = choice.label.removesuffix(texture_suffix(choice.denoiser.amount))
        return replace(choice, denoiser=choice.denoiser.base, label=label), choice.denoiser.amount
    return choice, 0.0


def with_texture(choice: DenoiserChoice, amount: TextureAmount, *, label: bool = True) -> DenoiserChoice:
    """``choice`` (a model) keeping ``amount`` of the fine-grained noise it removes (itself at 0):
    :class:`~meddenoise.models.texture.TextureKeeping`, applied last.

    ``amount`` is a number or a :class:`~meddenoise.models.texture.TextureRamp` (``--texture auto``). With
    ``label`` (the default) the label and the denoiser's name get ``t<amount>`` (``pretrained ct t0.5``,
    ``pretrained ct tauto``, and ``pretrained ct t0`` for an amount of 0); without it they stay (a model as
    shipped). A choice that keeps a texture already gets ``amount`` instead (never twice). ``ValueError`` for an amount outside [0, 1] and for a
    classical method.
    """
    from meddenoise.models.denoiser import BatchDenoiser
    from meddenoise.models.texture import TextureKeeping, TextureRamp, check_texture, texture_suffix

    value = (
        amount if isinstance(amount, TextureRamp) else check_texture(amount, owner=f"{choice.label}: texture")
    )
    choice, _ = split_texture(choice)
    suffix = texture_suffix(value) if label else ""
    if value == 0:  # named when asked: "pretrained ct t0" is the ct model without its default texture
        return replace(choice, label=choice.label + suffix)
    if not isinstance(choice.denoiser, BatchDenoiser):
        raise ValueError(f"{choice.label}: only a network keeps a noise texture (models only)")
    kept = TextureKeeping(choice.denoiser, value, name=choice.denoiser.name + suffix)
    return replace(choice, denoiser=kept, label=choice.label + suffix)


def with_strength(choice: DenoiserChoice, strength: float) -> DenoiserChoice:
    """``choice`` (a model) at a denoising ``strength`` (itself at 1): :class:`~meddenoise.models.strength.AtStrength`.

    The label gets ``s<strength>``. ``ValueError`` for a strength that is negative or not finite, and for a
    classical method (the benchmark tells those the true std, nothing else).
    """
    from meddenoise.denoiser import check_strength
    from meddenoise.models.denoiser import BatchDenoiser
    from meddenoise.models.strength import AtStrength

    value = check_strength(strength, owner=f"{choice.label}: strength")
    if value == 1:
        return choice
    if not isinstance(choice.denoiser, BatchDenoiser):
        raise ValueError(f"{choice.label}: only a network runs at a strength in the benchmark")
    return replace(choice, denoiser=AtStrength(choice.denoiser, value), label=f"{choice.label} s{value:g}")


def export_model(
    name: str,
    output: str | Path,
    *,
    overwrite: bool = False,
    int8: Sequence[MedicalImage] | None = None,
) -> Path:
    """Write the model ``name`` (shipped name, ``pretrained:NAME`` or checkpoint path) as an ONNX file.

    The file has a dynamic batch, height and width, a ``sigma`` input when the model takes the noise
    level, and the model card and intensity mapping in its metadata
    (:mod:`meddenoise.methods.onnx_models`). With ``int8`` (calibration images in their own units) its
    convolutions are quantized to int8 but at the ends of the network
    (:func:`~meddenoise.methods.onnx_models.quantized_export`): the fast tier. Written atomically.

    Raises
    ------
    ValueError
        For a classical method, an ``.onnx`` input, or an existing ``output`` without ``overwrite``.
    meddenoise._optional.MissingOptionalDependency
        When ``onnx`` is not installed.
    """
    from meddenoise._utils import atomic_path
    from meddenoise.methods.onnx_models import checkpoint_export, shipped_export

    text = name.strip()
    kind = method_kind(text)
    target = Path(output).expanduser()
    if kind == "classical":
        raise ValueError(f"{text}: a classical method is not a network; nothing to export")
    if target.exists() and not overwrite:
        raise ValueError(f"{target}: already exists (--overwrite, or overwrite=True, replaces it)")
    require("onnx", what="ONNX export")
    if kind == "pretrained":
        exported = shipped_export(text.removeprefix(PRETRAINED_PREFIX).strip())
    else:
        path = Path(text).expanduser()
        if path.suffix.lower() == ".onnx":
            raise ValueError(f"{path}: already an ONNX file")
        if not path.exists():
            raise FileNotFoundError(f"{path}: checkpoint not found")
        exported = checkpoint_export(path, _checkpoint_intensity(path))
    if int8 is not None:
        from meddenoise.methods.onnx_models import quantized_export

        exported = quantized_export(exported, int8)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(exported.data)
    return target


def build_denoisers(
    names: Sequence[str],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    batch_size: int | None = None,
    backend: Backend | None = None,
) -> dict[str, DenoiserChoice]:
    """:func:`build_denoiser` for each name, keyed by the name as given (for evaluations); ``backend``
    applies to the models among them.

    Raises
    ------
    ValueError
        For a name listed twice, or parameters for a method not among ``names``; and whatever
        :func:`build_denoiser` raises.
    """
    params = dict(params or {})
    unused = sorted(set(params) - set(names))
    if unused:
        raise ValueError(f"parameters given for {', '.join(unused)}, which is not among the methods")
    built: dict[str, DenoiserChoice] = {}
    for name in names:
        if name in built:
            raise ValueError(f"method {name!r} is listed twice")
        # the back end concerns the models; classical methods run as they are
        model_backend = None if method_kind(name) == "classical" else backend
        built[name] = build_denoiser(
            name, params=params.get(name), batch_size=batch_size, backend=model_backend
        )
    return built


def common_intensity(choices: Sequence[DenoiserChoice]) -> IntensitySpec:
    """The intensity policy to load clean images with for an evaluation: the models' own when they agree.

    Classical filters work on any [0, 1] scale; a trained model must see the mapping it was trained
    with. Models that need different mappings cannot share one noisy image: that is an error.

    Raises
    ------
    ValueError
        When the models among ``choices`` need different intensity mappings.
    """
    models = {c.label: c.intensity for c in choices if c.kind in ("pretrained", "checkpoint")}
    specs = set(models.values())
    if len(specs) > 1:
        detail = "; ".join(f"{label}: {spec.describe()}" for label, spec in models.items())
        raise ValueError(f"the models need different intensity mappings, evaluate them separately ({detail})")
    return specs.pop() if specs else DEFAULT_INTENSITY
