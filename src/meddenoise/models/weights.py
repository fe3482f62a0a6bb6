"""Network weights as safetensors files: float32, int8 with one scale per output slice (4x smaller), or
int4 per group of 64 values for the largest tensors (about 6x smaller).

The shipped models are 2.3 M-parameter networks (9.2 MB each in float32, 2.5 MB in int8) and, with two
residual blocks per level, 4.3 M-parameter ones (17 MB; 2.8 MB in int4). Storage is weight-only
quantisation: every large floating tensor is kept as int8 values ``q`` and a float32 scale
per slice along its first axis (``w ~ q * scale``, symmetric, ``scale = max |w| / 127`` over the slice),
and :func:`load_weights` turns it back into float32, so the network runs in float32 as before. Small
tensors (under :data:`QUANTIZE_MIN_ELEMENTS` values: biases, norms, the thin first and last
convolutions and the finest level's, which matter most per value) stay float32. The relative rounding error of a quantised
value is at most ``1 / 254`` of its slice's largest magnitude; the model cards measure what it costs in
PSNR (``docs/models.md``).

``"int4"`` storage is for networks too big for int8 in a small file: tensors of at least
:data:`INT4_MIN_ELEMENTS` values (in the shipped U-Nets the two coarsest levels, whose errors are
low-passed by the up-sampling on their way out) are stored as 4-bit integers in ``[-7, 7]``, two per byte,
with a float16 scale per group of :data:`INT4_GROUP` consecutive values of an output slice; the scale is
chosen per group to minimise the squared rounding error over a few clipping ratios (clipping the rare
largest weight a little makes every other step finer). Tensors between :data:`QUANTIZE_MIN_ELEMENTS` and
that size are int8 as above, smaller ones float32.

A quantised file says so in its header metadata (``meddenoise_quantization: int8-per-slice`` or
``int4-per-group``) and holds each scale under ``<key>:scale`` (int8) or ``<key>:scale4`` (int4, with
the tensor's shape under ``<key>:shape``; ``:`` never occurs in a PyTorch state-dict key). Any
safetensors reader can open it; :func:`load_weights` reads every kind. Never pickle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import torch

from meddenoise._utils import atomic_path

__all__ = [
    "INT4_GROUP",
    "INT4_MIN_ELEMENTS",
    "QUANTIZATION_KEY",
    "QUANTIZE_MIN_ELEMENTS",
    "WEIGHT_STORAGES",
    "WeightStorage",
    "dequantize_int4",
    "dequantize_int8",
    "load_weights",
    "quantize_int4",
    "quantize_int8",
    "save_weights",
    "tensor_storage",
    "weights_storage",
]

WeightStorage = Literal["float32", "int8", "int4"]
#: The storages :func:`save_weights` writes.
WEIGHT_STORAGES: tuple[str, ...] = get_args(WeightStorage)
#: Header metadata key naming the quantisation of a file (absent: plain tensors).
QUANTIZATION_KEY = "meddenoise_quantization"
_INT8 = "int8-per-slice"
_INT4 = "int4-per-group"
_SCHEMES: dict[str, WeightStorage] = {_INT8: "int8", _INT4: "int4"}
_SCALE = ":scale"
_SCALE4 = ":scale4"
_SHAPE = ":shape"
#: Floating tensors with fewer values than this stay float32 in an int8 file: in the shipped U-Nets the
#: first and last convolutions and the whole finest level (32 channels), whose errors reach the output
#: least filtered. With 4,096 the finest level was int8 too and `mri` lost 0.04 dB at 1 % noise; with
#: 16,384 the cards equal the float32 ones within 0.02 dB (docs/models.md).
QUANTIZE_MIN_ELEMENTS = 16384
_INT8_MAX = 127
#: In an int4 file, floating tensors with at least this many values are int4 (the rest as in int8): in
#: the shipped U-Nets the 128- and 256-channel levels. docs/models.md has what it costs on the cards.
INT4_MIN_ELEMENTS = 131072
#: Consecutive values of an output slice sharing one int4 scale (a tensor whose slices do not split into
#: such groups is stored int8 instead).
INT4_GROUP = 64
_INT4_MAX = 7
#: Clipping ratios tried per group; the one with the least squared rounding error gives the scale.
_INT4_CLIPS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
_FLOAT16_MAX = float(torch.finfo(torch.float16).max)
_FLOAT16_TINY = 2.0**-24  # the smallest positive (subnormal) float16


def quantize_int8(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``: int8 values and a float32 scale per slice along the first axis, ``tensor ~ q * scale``.

    Symmetric rounding to the nearest of 255 levels; an all-zero slice gets scale 1 (its values stay 0).

    Examples
    --------
    >>> q, scale = quantize_int8(torch.tensor([[1.0, -0.5], [0.0, 0.0]]))
    >>> q.tolist(), scale.tolist()
    ([[127, -64], [0, 0]], [0.007874015718698502, 1.0])
    """
    if tensor.ndim == 0:
        raise ValueError("quantize_int8: a scalar has no slices; keep it as it is")
    values = tensor.detach().to(torch.float32)
    flat = values.reshape(values.shape[0], -1)
    peak = flat.abs().amax(dim=1)
    scale = torch.where(peak > 0, peak / _INT8_MAX, torch.ones_like(peak))
    q = torch.round(flat / scale[:, None]).clamp(-_INT8_MAX, _INT8_MAX).to(torch.int8)
    return q.reshape(values.shape).contiguous(), scale.contiguous()


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float32 tensor ``q * scale`` (scale per slice along the first axis) of :func:`quantize_int8`."""
    if q.dtype != torch.int8 or scale.ndim != 1 or q.ndim == 0 or scale.shape[0] != q.shape[0]:
        raise ValueError(
            f"dequantize_int8: want int8 values and one scale per first-axis slice, got {q.dtype} "
            f"{tuple(q.shape)} and {tuple(scale.shape)}"
        )
    shape = (q.shape[0],) + (1,) * (q.ndim - 1)
    return (q.to(torch.float32) * scale.to(torch.float32).reshape(shape)).contiguous()


def _float16_scale(peak: torch.Tensor, clip: float) -> torch.Tensor:
    """``clip * peak / 7`` in float16, never 0 (a group too small for float16 gets its smallest step)."""
    scale = torch.where(peak > 0, clip * peak / _INT4_MAX, torch.ones_like(peak)).to(torch.float16)
    return scale.clamp(min=_FLOAT16_TINY)


def quantize_int4(tensor: torch.Tensor, *, group: int = INT4_GROUP) -> tuple[torch.Tensor, torch.Tensor]:
    """``(packed, scale)``: int4 values in ``[-7, 7]`` packed two per byte, and a float16 scale per group.

    The tensor is cut into groups of ``group`` consecutive values along each first-axis slice (row-major),
    so each slice's values must split into whole groups; ``group`` must be even. Each group's scale is
    ``c * max |w| / 7`` for the clipping ratio ``c`` of ``_INT4_CLIPS`` with the least squared rounding
    error (values beyond ``7 * scale`` are clipped to it); an all-zero group gets scale 1, a group whose
    scale is under float16's smallest step gets that step. ``packed`` has
    shape ``(groups, group // 2)``: value ``2k`` in the low nibble of byte ``k``, ``2k + 1`` in the high one,
    each stored as ``value + 8``.

    Examples
    --------
    >>> packed, scale = quantize_int4(torch.tensor([[7.0, -3.0, 0.0, 1.0]]), group=4)
    >>> packed.tolist(), scale.tolist()
    ([[95, 152]], [1.0])
    >>> dequantize_int4(packed, scale, (1, 4)).tolist()
    [[7.0, -3.0, 0.0, 1.0]]
    """
    if tensor.ndim == 0:
        raise ValueError("quantize_int4: a scalar has no slices; keep it as it is")
    if group <= 0 or group % 2:
        raise ValueError(f"quantize_int4: the group size must be a positive even number, got {group}")
    values = tensor.detach().to(torch.float32)
    per_slice = values[0].numel() if values.shape[0] else 0
    if per_slice % group:
        raise ValueError(f"quantize_int4: slices of {per_slice} values do not split into groups of {group}")
    groups = values.reshape(-1, group)
    peak = groups.abs().amax(dim=1)
    if peak.numel() and float(peak.max()) / _INT4_MAX > _FLOAT16_MAX:
        raise ValueError("quantize_int4: values too large for float16 scales; store this tensor as int8")
    best_scale = _float16_scale(peak, 1.0)
    best_error = torch.full_like(peak, float("inf"))
    for clip in _INT4_CLIPS:
        # the scale as it will be stored (float16), so the choice is made on what loading gives back
        scale = _float16_scale(peak, clip)
        scale32 = scale.to(torch.float32)[:, None]
        q = torch.round(groups / scale32).clamp(-_INT4_MAX, _INT4_MAX)
        error = ((q * scale32 - groups) ** 2).sum(dim=1)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_scale = torch.where(better, scale, best_scale)
    q = torch.round(groups / best_scale.to(torch.float32)[:, None]).clamp(-_INT4_MAX, _INT4_MAX)
    nibbles = (q + 8).to(torch.uint8)
    packed = nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)
    return packed.contiguous(), best_scale.contiguous()


def dequantize_int4(packed: torch.Tensor, scale: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The float32 tensor of ``shape`` that :func:`quantize_int4` stored as ``(packed, scale)``."""
    if (
        packed.dtype != torch.uint8
        or packed.ndim != 2
        or scale.ndim != 1
        or scale.shape[0] != packed.shape[0]
        or packed.numel() * 2 != math.prod(shape)
    ):
        raise ValueError(
            f"dequantize_int4: want uint8 pairs of nibbles with one scale per group for shape {shape}, "
            f"got {packed.dtype} {tuple(packed.shape)} and {tuple(scale.shape)}"
        )
    low = (packed & 0x0F).to(torch.float32) - 8
    high = (packed >> 4).to(torch.float32) - 8
    q = torch.stack((low, high), dim=2).reshape(packed.shape[0], -1)
    return (q * scale.to(torch.float32)[:, None]).reshape(shape).contiguous()


def _quantizable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.ndim >= 2 and tensor.numel() >= QUANTIZE_MIN_ELEMENTS


def _int4_quantizable(tensor: torch.Tensor) -> bool:
    per_slice = tensor[0].numel() if tensor.ndim >= 2 and tensor.shape[0] else 0
    return (
        _quantizable(tensor)
        and tensor.numel() >= INT4_MIN_ELEMENTS
        and per_slice > 0
        and per_slice % INT4_GROUP == 0
        and float(tensor.detach().abs().max()) / _INT4_MAX <= _FLOAT16_MAX
    )


def save_weights(
    state: Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    storage: WeightStorage = "float32",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a state dict as a safetensors file (atomically), float tensors as float32, int8 or int4.

    Parameters
    ----------
    state
        The network's ``state_dict()`` (tensors are detached and moved to the CPU).
    path
        The ``.safetensors`` file; an existing one is replaced (callers decide about overwriting).
    storage
        ``"float32"`` (exact), ``"int8"`` (large tensors quantised per first-axis slice) or ``"int4"``
        (the largest tensors int4 per group, the other large ones int8); see the module docstring.
    metadata
        Extra header strings (e.g. the architecture); :data:`QUANTIZATION_KEY` is set here.
    """
    from safetensors.torch import save_file

    if storage not in WEIGHT_STORAGES:
        raise ValueError(f"unknown weight storage {storage!r}; choose from {', '.join(WEIGHT_STORAGES)}")
    header = dict(metadata or {})
    if QUANTIZATION_KEY in header:
        raise ValueError(f"metadata key {QUANTIZATION_KEY!r} is set by save_weights itself")
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if ":" in key:
            raise ValueError(f"state-dict key {key!r} holds ':', which marks a quantisation scale or shape")
        value = value.detach().cpu()
        if storage == "int4" and _int4_quantizable(value):
            tensors[key], tensors[key + _SCALE4] = quantize_int4(value)
            tensors[key + _SHAPE] = torch.tensor(value.shape, dtype=torch.int64)
        elif storage != "float32" and _quantizable(value):
            tensors[key], tensors[key + _SCALE] = quantize_int8(value)
        elif value.is_floating_point():
            tensors[key] = value.to(torch.float32).contiguous()
        else:
            tensors[key] = value.contiguous()
    if storage != "float32":
        header[QUANTIZATION_KEY] = _INT4 if storage == "int4" else _INT8
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return target


def weights_storage(path: str | Path) -> WeightStorage:
    """``"int8"`` or ``"int4"`` for a file :func:`save_weights` quantised, else ``"float32"``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    return _SCHEMES.get(meta.get(QUANTIZATION_KEY, ""), "float32")


def tensor_storage(path: str | Path) -> dict[str, WeightStorage]:
    """How a file :func:`save_weights` wrote stores each tensor of its state dict.

    ``"int4"``, ``"int8"`` or ``"float32"`` per state-dict key (integer buffers count as ``"float32"``:
    kept as they are). A quantised tensor loaded with :func:`load_weights` and saved again with the same
    storage is written with the same values (each group's or slice's largest value sits on the top level),
    so a fine-tune that keeps the ``"int4"`` tensors frozen loses nothing to that quantisation again.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        keys = list(handle.keys())
    storage: dict[str, WeightStorage] = {key: "float32" for key in keys if ":" not in key}
    for key in keys:
        if key.endswith(_SCALE4) and key[: -len(_SCALE4)] in storage:
            storage[key[: -len(_SCALE4)]] = "int4"
        elif key.endswith(_SCALE) and key[: -len(_SCALE)] in storage:
            storage[key[: -len(_SCALE)]] = "int8"
    return storage


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a safetensors file, quantised tensors turned back into float32.

    Raises
    ------
    ValueError
        For a file whose header names an unknown quantisation, or a scale without its quantised tensor.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
        raw = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    scheme = meta.get(QUANTIZATION_KEY)
    if scheme is None:
        return raw
    if scheme not in _SCHEMES:
        known = " or ".join(repr(name) for name in _SCHEMES)
        raise ValueError(f"{path}: unknown weight quantisation {scheme!r} (this version reads {known})")
    state = {key: value for key, value in raw.items() if ":" not in key}
    for key in raw:
        if key.endswith(_SCALE):
            base = key[: -len(_SCALE)]
            if base not in state or state[base].dtype != torch.int8:
                raise ValueError(f"{path}: scale {key!r} has no int8 tensor {base!r}; the file is damaged")
            # a tensor stored as int8 without a scale is an integer buffer, kept as it is
            state[base] = dequantize_int8(state[base], raw[key])
        elif key.endswith(_SCALE4):
            base = key[: -len(_SCALE4)]
            shape = raw.get(base + _SHAPE)
            if base not in state or state[base].dtype != torch.uint8 or shape is None:
                raise ValueError(
                    f"{path}: scale {key!r} has no int4 tensor {base!r} with its shape; the file is damaged"
                )
            state[base] = dequantize_int4(state[base], raw[key], tuple(int(n) for n in shape.tolist()))
    return state
