"""ONNX export of a denoising network, and an onnxruntime :class:`~meddenoise.denoiser.Denoiser`.

:func:`export_onnx` writes any registered network as an ONNX graph with a dynamic batch, height and
width: input ``image`` float32 ``(N, 1, H, W)`` on the [0, 1] scale, plus ``sigma`` float32 ``(N,)``
(the noise std on that scale) for noise-conditioned models, and ``correlation`` float32 ``(N,)`` (the
noise's lag-1 correlation) for those that take it; output ``denoised`` of ``image``'s shape,
clamped to [0, 1]. The padding to the network's multiple is part of the graph (written without
Python branches on the size when traced, see :func:`meddenoise.models._common.pad_to_multiple`), so any
size runs. Text metadata (the model card, the intensity mapping) goes into the file's
``metadata_props``; :func:`onnx_metadata` reads it back.

The exporter is torch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): it needs only
the ``onnx`` package and no network. The ``torch.export``-based exporter (torch's default since 2.9)
needs ``onnxscript`` and refuses these models, whose input checks branch on the data.

:class:`OnnxDenoiser` runs such a file with onnxruntime (CPU) behind the same interface as
:class:`~meddenoise.models.ModelDenoiser`: batches, the noise level given or estimated per image, outputs
clamped to [0, 1].
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from meddenoise._optional import require
from meddenoise.models.denoiser import BatchDenoiser

__all__ = [
    "METADATA_PREFIX",
    "ONNX_CORRELATION",
    "ONNX_IMAGE",
    "ONNX_OPSET",
    "ONNX_OUTPUT",
    "ONNX_SIGMA",
    "QUANTIZED_FLOAT_ENDS",
    "OnnxDenoiser",
    "export_onnx",
    "onnx_metadata",
    "quantize_onnx",
]

ONNX_IMAGE = "image"
ONNX_SIGMA = "sigma"
ONNX_CORRELATION = "correlation"
ONNX_OUTPUT = "denoised"
#: Opset 17: supported by every onnxruntime since 1.15, and enough for these networks.
ONNX_OPSET = 17
#: Keys of the metadata written by meddenoise start with this.
METADATA_PREFIX = "meddenoise."
#: Side of the example image the graph is traced with (any size works afterwards).
_EXAMPLE_SIZE = 64
#: :func:`quantize_onnx` keeps this many convolutions at each end of the graph in float32 (the first,
#: then the last, in graph order): the finest level's, where 8-bit activations cost the most. (2, 3) was
#: enough for one residual block per level; with two (the shipped `ct` since 2026-12-02) it cost 0.3-1.0
#: dB on white noise, (5, 6) 0.04-0.07 dB on the held-apart CT for ~17 % of the int8 speed-up (116 ms a slice, not 105).
QUANTIZED_FLOAT_ENDS = (5, 6)


class _Graph(nn.Module):
    """The traced function: ``model(image, sigma=sigma[, correlation=correlation])`` for conditioned models,
    ``model(image)`` otherwise."""

    def __init__(self, model: nn.Module, uses_sigma: bool, uses_correlation: bool = False) -> None:
        super().__init__()
        self.model = model
        self.uses_sigma = uses_sigma
        self.uses_correlation = uses_correlation

    def forward(
        self, image: torch.Tensor, sigma: torch.Tensor | None = None, correlation: torch.Tensor | None = None
    ) -> torch.Tensor:
        if not self.uses_sigma:
            out = self.model(image)
        elif self.uses_correlation:
            out = self.model(image, sigma=sigma, correlation=correlation)
        else:
            out = self.model(image, sigma=sigma)
        return out.clamp(0.0, 1.0)


def export_onnx(
    model: nn.Module,
    *,
    metadata: Mapping[str, str] | None = None,
    doc: str = "",
) -> bytes:
    """The ONNX file (bytes) of ``model`` with dynamic batch, height and width, and the given metadata.

    Parameters
    ----------
    model
        A network mapping ``(N, 1, H, W)`` to the same shape (its ``uses_sigma`` says whether it takes
        the noise level). It is traced in evaluation mode on the CPU in float32; its own mode is restored.
    metadata
        Text key → value pairs stored as the file's ``metadata_props`` (keys conventionally start with
        :data:`METADATA_PREFIX`).
    doc
        The graph's ``doc_string`` (e.g. the model card in Markdown).

    Raises
    ------
    meddenoise._optional.MissingOptionalDependency
        When the ``onnx`` package is not installed.
    """
    require("onnx", what="ONNX export")
    import onnx

    uses_sigma = bool(getattr(model, "uses_sigma", False))
    uses_correlation = uses_sigma and bool(getattr(model, "uses_correlation", False))
    fixed = getattr(model, "fixed_size", None)
    side = int(fixed) if fixed else _EXAMPLE_SIZE
    device = next(iter(model.parameters()), torch.empty(0)).device
    example = torch.full((1, 1, side, side), 0.5, device=device)
    args: tuple[torch.Tensor, ...] = (example,)
    names = [ONNX_IMAGE]
    axes: dict[str, dict[int, str]] = {
        ONNX_IMAGE: {0: "batch"} if fixed else {0: "batch", 2: "height", 3: "width"},
    }
    if uses_sigma:
        args += (torch.full((1,), 0.02, device=device),)
        names.append(ONNX_SIGMA)
        axes[ONNX_SIGMA] = {0: "batch"}
    if uses_correlation:
        args += (torch.full((1,), 0.5, device=device),)
        names.append(ONNX_CORRELATION)
        axes[ONNX_CORRELATION] = {0: "batch"}
    axes[ONNX_OUTPUT] = axes[ONNX_IMAGE]
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
            # The tracer warns about every Python check on shapes (the input checks of the networks);
            # the padding is traced without such branches and the tests run every size through the file.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Graph(model, uses_sigma, uses_correlation),
                args,
                Path(folder) / "model.onnx",
                dynamo=False,
                input_names=names,
                output_names=[ONNX_OUTPUT],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
            proto = onnx.load(Path(folder) / "model.onnx")
    finally:
        model.train(was_training)
    proto.producer_name = "meddenoise"
    proto.doc_string = doc
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString())


def quantize_onnx(
    data: bytes,
    calibration: Sequence[Mapping[str, np.ndarray]],
    *,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """``data`` (an ONNX file from :func:`export_onnx`) with its convolutions in int8, calibrated on ``calibration``.

    Static QDQ quantization by onnxruntime: int8 weights per output channel, uint8 activations whose
    ranges are the 0.001-99.999 percentiles seen on the calibration inputs (each a feed: ``image``, and
    ``sigma`` for a conditioned graph). Only ``Conv`` / ``ConvTranspose`` are quantized, and the first
    and last of them (:data:`QUANTIZED_FLOAT_ENDS`) stay float32. On a CPU with AVX512-VNNI the network
    then runs ~1.6x faster (the ``ct`` model on a 512x512 slice: 73 -> 46 ms, 2 threads); the metadata
    and doc string are kept, and ``metadata`` is added to it.

    Raises
    ------
    ValueError
        Without calibration inputs.
    meddenoise._optional.MissingOptionalDependency
        When ``onnx`` or ``onnxruntime`` is not installed.
    """
    require("onnx", what="int8 quantization")
    require("onnxruntime", what="int8 quantization")
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    feeds = list(calibration)
    if not feeds:
        raise ValueError("int8 quantization needs calibration images (none given)")

    class Feeds(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {k: np.asarray(v, dtype=np.float32) for k, v in item.items()}

    with tempfile.TemporaryDirectory() as folder:
        source, prepared, quantized = (Path(folder) / n for n in ("f.onnx", "p.onnx", "q.onnx"))
        source.write_bytes(data)
        # the graph's padding branches on the input size: symbolic shape inference cannot follow it
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        convolutions = [
            node.name for node in onnx.load(prepared).graph.node if node.op_type in ("Conv", "ConvTranspose")
        ]
        first, last = QUANTIZED_FLOAT_ENDS
        kept = convolutions[:first] + convolutions[len(convolutions) - last :]
        # the percentile calibrator prints its settings: not on the user's terminal
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            quantize_static(
                str(prepared),
                str(quantized),
                Feeds(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["Conv", "ConvTranspose"],
                nodes_to_exclude=kept,
                calibrate_method=CalibrationMethod.Percentile,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        proto = onnx.load(quantized)
    original = onnx.load_from_string(data)
    proto.doc_string = original.doc_string
    del proto.metadata_props[:]
    proto.metadata_props.extend(original.metadata_props)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    return bytes(proto.SerializeToString())


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (read with ``onnx``, weights not loaded).

    Raises
    ------
    ValueError
        ``"<path>: not a readable ONNX file (...)"``.
    """
    require("onnx", what="reading ONNX metadata")
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for a damaged file
        raise ValueError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    return {entry.key: entry.value for entry in proto.metadata_props}


class OnnxDenoiser(BatchDenoiser):
    """Denoise [0, 1] float images with an ONNX file written by :func:`export_onnx`, in onnxruntime (CPU).

    Parameters
    ----------
    model
        The ONNX file (path) or its bytes.
    name
        Name in tables and on the command line.
    batch_size
        Images per run of the graph.
    threads
        onnxruntime's intra-op threads (default: torch's current thread count, so ``--threads`` and
        ``OMP_NUM_THREADS`` mean the same for both back ends).

    Notes
    -----
    A graph with a ``sigma`` input gets the noise level as :class:`~meddenoise.models.ModelDenoiser` gives
    it: ``sigma`` broadcast to the batch, or each image's estimate when ``sigma`` is ``None``; one with a
    ``correlation`` input the noise's correlation likewise (its ``correlation`` attribute, or estimated).
    """

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        name: str,
        batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        require("onnxruntime", what="the onnx back end")
        import onnxruntime as ort

        if batch_size < 1:
            raise ValueError(f"OnnxDenoiser: batch_size must be >= 1, got {batch_size}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings are about graph rewrites
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(
                source, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            where = "ONNX model" if isinstance(model, bytes) else str(model)
            raise ValueError(
                f"{where}: not a usable ONNX file ({' '.join(str(exc).split())[:200]})"
            ) from None
        inputs = {item.name for item in self.session.get_inputs()}
        if ONNX_IMAGE not in inputs or not inputs <= {ONNX_IMAGE, ONNX_SIGMA, ONNX_CORRELATION}:
            raise ValueError(
                f"{name}: the ONNX graph's inputs are {sorted(inputs)}, not {ONNX_IMAGE!r} (and {ONNX_SIGMA!r}, "
                f"{ONNX_CORRELATION!r}); export it with meddenoise export"
            )
        self.name = name
        self.batch_size = batch_size
        self.uses_sigma = ONNX_SIGMA in inputs
        self.uses_correlation = self.uses_sigma and ONNX_CORRELATION in inputs
        self.correlation: float | None = None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        """Denoise a float32 batch ``(N, H, W)`` in chunks of ``batch_size``."""
        batch, levels = self.batch_and_levels(images, sigma)
        correlations = self.noise_correlations(batch) if levels is not None else None
        # every pass (past strength 1) is told the levels and correlations of the input
        return self.repeated(lambda images: self._run(images, levels, correlations), batch)

    def _run(
        self, batch: np.ndarray, levels: np.ndarray | None, correlations: np.ndarray | None
    ) -> np.ndarray:
        """One pass of the graph over ``batch``, told ``levels`` and ``correlations`` (when it takes them)."""
        out = np.empty_like(batch)
        for start in range(0, len(batch), self.batch_size):
            chunk = np.ascontiguousarray(batch[start : start + self.batch_size, None])
            feed: dict[str, Any] = {ONNX_IMAGE: chunk}
            if levels is not None:
                feed[ONNX_SIGMA] = levels[start : start + len(chunk)].astype(np.float32)
            if correlations is not None:
                feed[ONNX_CORRELATION] = correlations[start : start + len(chunk)].astype(np.float32)
            (denoised,) = self.session.run([ONNX_OUTPUT], feed)
            out[start : start + len(chunk)] = np.clip(denoised[:, 0], 0.0, 1.0)
        return out
