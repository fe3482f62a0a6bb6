"""Network weights as safetensors files: float32, or int8 with one scale per output slice (4x smaller).

The shipped models are 2.3 M-parameter networks: 9.2 MB each in float32, 2.5 MB so stored. Storage is
weight-only quantisation: every large floating tensor is kept as int8 values ``q`` and a float32 scale
per slice along its first axis (``w ~ q * scale``, symmetric, ``scale = max |w| / 127`` over the slice),
and :func:`load_weights` turns it back into float32, so the network runs in float32 as before. Small
tensors (under :data:`QUANTIZE_MIN_ELEMENTS` values: biases, norms, the thin first and last
convolutions and the finest level's, which matter most per value) stay float32. The relative rounding error of a quantised
value is at most ``1 / 254`` of its slice's largest magnitude; the model cards measure what it costs in
PSNR (``docs/models.md``).

A quantised file says so in its header metadata (``meddenoise_quantization: int8-per-slice``) and holds
each scale under ``<key>:scale`` (``:`` never occurs in a PyTorch state-dict key). Any safetensors reader
can open it; :func:`load_weights` reads both kinds. Never pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import torch

from meddenoise._utils import atomic_path

__all__ = [
    "QUANTIZATION_KEY",
    "QUANTIZE_MIN_ELEMENTS",
    "WEIGHT_STORAGES",
    "WeightStorage",
    "dequantize_int8",
    "load_weights",
    "quantize_int8",
    "save_weights",
    "weights_storage",
]

WeightStorage = Literal["float32", "int8"]
#: The storages :func:`save_weights` writes.
WEIGHT_STORAGES: tuple[str, ...] = get_args(WeightStorage)
#: Header metadata key naming the quantisation of a file (absent: plain tensors).
QUANTIZATION_KEY = "meddenoise_quantization"
_INT8 = "int8-per-slice"
_SCALE = ":scale"
#: Floating tensors with fewer values than this stay float32 in an int8 file: in the shipped U-Nets the
#: first and last convolutions and the whole finest level (32 channels), whose errors reach the output
#: least filtered. With 4,096 the finest level was int8 too and `mri` lost 0.04 dB at 1 % noise; with
#: 16,384 the cards equal the float32 ones within 0.02 dB (docs/models.md).
QUANTIZE_MIN_ELEMENTS = 16384
_INT8_MAX = 127


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


def _quantizable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.ndim >= 2 and tensor.numel() >= QUANTIZE_MIN_ELEMENTS


def save_weights(
    state: Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    storage: WeightStorage = "float32",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a state dict as a safetensors file (atomically), float tensors as float32 or int8.

    Parameters
    ----------
    state
        The network's ``state_dict()`` (tensors are detached and moved to the CPU).
    path
        The ``.safetensors`` file; an existing one is replaced (callers decide about overwriting).
    storage
        ``"float32"`` (exact) or ``"int8"`` (large tensors quantised per first-axis slice, see the
        module docstring).
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
        if _SCALE in key:
            raise ValueError(f"state-dict key {key!r} holds {_SCALE!r}, which marks a quantisation scale")
        value = value.detach().cpu()
        if storage == "int8" and _quantizable(value):
            tensors[key], tensors[key + _SCALE] = quantize_int8(value)
        elif value.is_floating_point():
            tensors[key] = value.to(torch.float32).contiguous()
        else:
            tensors[key] = value.contiguous()
    if storage == "int8":
        header[QUANTIZATION_KEY] = _INT8
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return target


def weights_storage(path: str | Path) -> WeightStorage:
    """``"int8"`` for a file :func:`save_weights` quantised, else ``"float32"``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    return "int8" if meta.get(QUANTIZATION_KEY) == _INT8 else "float32"


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a safetensors file, quantised tensors turned back into float32.

    Raises
    ------
    ValueError
        For a file whose header names an unknown quantisation, or a scale without its int8 tensor.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
        raw = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    scheme = meta.get(QUANTIZATION_KEY)
    if scheme is None:
        return raw
    if scheme != _INT8:
        raise ValueError(f"{path}: unknown weight quantisation {scheme!r} (this version reads {_INT8!r})")
    state = {key: value for key, value in raw.items() if not key.endswith(_SCALE)}
    for key in raw:
        if key.endswith(_SCALE):
            base = key[: -len(_SCALE)]
            if base not in state or state[base].dtype != torch.int8:
                raise ValueError(f"{path}: scale {key!r} has no int8 tensor {base!r}; the file is damaged")
            # a tensor stored as int8 without a scale is an integer buffer, kept as it is
            state[base] = dequantize_int8(state[base], raw[key])
    return state
