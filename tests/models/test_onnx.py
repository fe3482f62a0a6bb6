"""ONNX export of the networks (models.onnx): every registered network, any size, same pixels as PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from meddenoise._optional import is_available
from meddenoise.models import MODEL_REGISTRY, ModelDenoiser, build_model
from meddenoise.models._common import _pad_traced, pad_to_multiple

pytestmark = pytest.mark.skipif(
    not (is_available("onnx") and is_available("onnxruntime")),
    reason="needs onnx and onnxruntime (pip install 'meddenoise[onnx]')",
)

#: Small variants of every registered network (the law is the same at any width).
SMALL: dict[str, dict[str, Any]] = {
    "ffdunet": {"channels": (4, 8, 16), "blocks": 1},
    "unet": {"channels": (4, 8, 16), "blocks": 1, "noise_conditioned": True},
    "dncnn": {"depth": 4, "width": 8},
    "rednet": {"depth": 6, "width": 8},
}


def _small(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **SMALL.get(name, {})).eval()


def _sizes(model: torch.nn.Module) -> list[tuple[int, int, int]]:
    fixed = getattr(model, "fixed_size", None)
    if fixed:
        return [(1, fixed, fixed), (3, fixed, fixed)]
    # a multiple of 16, a size to pad by reflection, one smaller than the padding (edge replicated)
    return [(1, 64, 64), (2, 70, 61), (1, 5, 9)]


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_every_network_exports_with_dynamic_sizes_to_the_same_pixels(name: str) -> None:
    from meddenoise.models.onnx import OnnxDenoiser, export_onnx

    model = _small(name)
    session = OnnxDenoiser(export_onnx(model), name=name)
    assert session.uses_sigma == bool(getattr(model, "uses_sigma", False))
    rng = np.random.default_rng(1)
    for n, h, w in _sizes(model):
        x = rng.random((n, 1, h, w), dtype=np.float32)
        sigma = np.linspace(0.0, 0.08, n, dtype=np.float32)
        feed: dict[str, np.ndarray] = {"image": x}
        with torch.no_grad():
            if session.uses_sigma:
                feed["sigma"] = sigma
                ref = model(torch.from_numpy(x), sigma=torch.from_numpy(sigma))
            else:
                ref = model(torch.from_numpy(x))
        (out,) = session.session.run(["denoised"], feed)
        assert out.shape == (n, 1, h, w)
        np.testing.assert_allclose(out, ref.clamp(0, 1).numpy(), atol=1e-5, err_msg=f"{name} at {h}x{w}")


@pytest.mark.parametrize(
    ("h", "w", "multiple"), [(5, 9, 16), (3, 3, 8), (1, 1, 4), (16, 16, 16), (17, 40, 8)]
)
def test_traced_padding_copies_the_pixels_f_pad_copies(h: int, w: int, multiple: int) -> None:
    x = torch.rand(2, 1, h, w)
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    expected = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    assert torch.equal(_pad_traced(x, pad_h, pad_w), expected)
    assert torch.equal(pad_to_multiple(x, multiple), expected)


def test_onnx_denoiser_matches_the_model_denoiser_told_and_blind() -> None:
    from meddenoise.models.onnx import OnnxDenoiser, export_onnx

    model = _small("ffdunet")
    onnx_denoiser = OnnxDenoiser(export_onnx(model), name="f", batch_size=2)
    torch_denoiser = ModelDenoiser(model, name="f", batch_size=3)
    images = np.random.default_rng(2).random((5, 40, 33), dtype=np.float32)
    for sigma in (None, 0.03, [0.0, 0.01, 0.02, 0.05, 0.1]):
        np.testing.assert_allclose(
            onnx_denoiser(images, sigma=sigma), torch_denoiser(images, sigma=sigma), atol=1e-5
        )
    np.testing.assert_allclose(onnx_denoiser(images[0]), torch_denoiser(images[0]), atol=1e-5)


def test_metadata_round_trip(tmp_path: Path) -> None:
    from meddenoise.models.onnx import OnnxDenoiser, export_onnx, onnx_metadata

    metadata = {"meddenoise.name": "x", "meddenoise.card": '{"a": [1, 2]}', "note": "é ✓"}
    data = export_onnx(_small("dncnn"), metadata=metadata, doc="# card")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    assert onnx_metadata(path) == metadata
    assert OnnxDenoiser(path, name="x").metadata == metadata


def test_a_damaged_file_is_one_line(tmp_path: Path) -> None:
    from meddenoise.models.onnx import OnnxDenoiser, onnx_metadata

    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"bad\.onnx: not a usable ONNX file"):
        OnnxDenoiser(path, name="bad")
    with pytest.raises(ValueError, match=r"bad\.onnx: not a readable ONNX file"):
        onnx_metadata(path)
